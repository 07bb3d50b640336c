package access

import (
	"errors"
	"strings"
	"testing"
)

func TestParseTokens(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		file    string
		accept  []string
		refuse  []string
		wantErr string
	}{
		{"one token", "s3cret\n", []string{"s3cret"}, []string{"s3cre", "s3cret2", "S3CRET", ""}, ""},
		{"no trailing newline", "s3cret", []string{"s3cret"}, nil, ""},
		{"CRLF and spaces around", "  alpha \r\nbeta\r\n", []string{"alpha", "beta"}, []string{" alpha", "alpha\r"}, ""},
		{"comments and blank lines", "# rotated 2026-01\n\nold-token\n   \n# next\nnew-token\n", []string{"old-token", "new-token"}, []string{"# next", "next"}, ""},
		{"empty file", "", nil, nil, "no token in it"},
		{"only comments", "# nothing yet\n\n", nil, nil, "no token in it"},
		{"space inside a token", "two words\n", nil, nil, "line 1: a token must not contain spaces"},
		{"control character", "ok\nbad\x01token\n", nil, nil, "line 2: a token must not contain spaces or control characters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			set, err := parseTokens([]byte(tc.file))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parse %q: err %v, want one saying %q", tc.file, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse %q: %v", tc.file, err)
			}
			for _, tok := range tc.accept {
				if !set.match(tok) {
					t.Errorf("token %q refused", tok)
				}
			}
			for _, tok := range tc.refuse {
				if set.match(tok) {
					t.Errorf("token %q accepted", tok)
				}
			}
		})
	}
	if _, err := parseTokens(nil); !errors.Is(err, errNoTokens) {
		t.Fatalf("parse nothing: %v, want errNoTokens", err)
	}
}

// TestMatchOverManyTokens matches each of many tokens of different
// lengths, the first and the last alike, and refuses their extensions.
func TestMatchOverManyTokens(t *testing.T) {
	t.Parallel()
	var file strings.Builder
	var tokens []string
	for i := range 50 {
		tok := strings.Repeat(string(rune('a'+i%26)), 10+i)
		tokens = append(tokens, tok)
		file.WriteString(tok + "\n")
	}
	set, err := parseTokens([]byte(file.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(set.digests) != len(tokens) {
		t.Fatalf("parsed %d tokens, want %d", len(set.digests), len(tokens))
	}
	for _, tok := range tokens {
		if !set.match(tok) {
			t.Fatalf("token of length %d refused", len(tok))
		}
		if set.match(tok + "x") {
			t.Fatalf("token %q with a suffix accepted", tok)
		}
	}
}

func TestCheckReasons(t *testing.T) {
	t.Parallel()
	a := newAuthenticator("tokens", NewMetrics(nil))
	if err := a.apply([][]byte{[]byte("alpha\nbeta\n")}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		authorization, want string
	}{
		{"Bearer alpha", ""},
		{"Bearer beta", ""},
		{"bearer alpha", ""},
		{"BEARER  alpha ", ""},
		{"", reasonMissing},
		{"Bearer", reasonNotBearer},
		{"Bearer ", reasonNotBearer},
		{"Basic YWxwaGE6", reasonNotBearer},
		{"alpha", reasonNotBearer},
		{"Bearer gamma", reasonWrong},
		{"Bearer alphabeta", reasonWrong},
		{"Bearer alpha beta", reasonWrong},
	}
	for _, tc := range cases {
		if got := a.check(tc.authorization); got != tc.want {
			t.Errorf("check(%q) = %q, want %q", tc.authorization, got, tc.want)
		}
	}
}
