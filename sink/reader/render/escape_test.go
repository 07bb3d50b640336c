package render

import (
	"encoding/json"
	"testing"
)

func TestPrintable(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain name", "plain name"},
		{"日本語 ✓", "日本語 ✓"},
		{"\x1b]0;owned\a", `\x1b]0;owned\x07`},
		{"\x1b[2Kgone", `\x1b[2Kgone`},
		{"cr\rlf\ntab\t", `cr\rlf\ntab\t`},
		{"del\x7f", `del\x7f`},
		{"c1\u009b31m", `c1\u009b31m`},
		{"bidi\u202eevil\u2066x\u2069\u200f", `bidi\u202eevil\u2066x\u2069\u200f`},
		{"bad\xffutf8", `bad\xffutf8`},
		{`back\slash`, `back\slash`},
	} {
		if got := Printable(tc.in); got != tc.want {
			t.Errorf("Printable(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTerminalSafeJSON(t *testing.T) {
	in := `{"name":"a\u001b[2K` + "\x7f\u009b\u202e日本" + `"}`
	got := TerminalSafeJSON([]byte(in))
	if want := `{"name":"a\u001b[2K\u007f\u009b\u202e日本"}`; string(got) != want {
		t.Fatalf("TerminalSafeJSON = %s, want %s", got, want)
	}
	var a, b map[string]string
	if err := json.Unmarshal([]byte(in), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &b); err != nil || a["name"] != b["name"] {
		t.Fatalf("escaped JSON reads %q (%v), want %q", b["name"], err, a["name"])
	}
	plain := []byte(`{"name":"日本"}`)
	if got := TerminalSafeJSON(plain); &got[0] != &plain[0] {
		t.Error("JSON without controls was copied")
	}
}
