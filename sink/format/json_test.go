package format

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	cases := []struct {
		name, in string
	}{
		{"empty", ""},
		{"plain", "hello world"},
		{"quote and backslash", `say "hi" \ bye`},
		{"newline tab cr", "a\nb\tc\rd"},
		{"other control chars", "\x00\x01\x08\x0c\x1f\x7f"},
		{"multi-byte runes", "héllo, 世界, 🙂"},
		{"line separators", "a\u2028b\u2029c"},
		{"invalid byte", "a\xffb"},
		{"truncated rune", "ok\xe4\xb8"},
		{"surrogate half", "\xed\xa0\x80"},
		{"html characters", "<a href='x'>&</a>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := appendString(nil, tc.in)
			if !utf8.Valid(got) {
				t.Fatalf("output is not valid UTF-8: %q", got)
			}
			var gotValue string
			if err := json.Unmarshal(got, &gotValue); err != nil {
				t.Fatalf("output %q does not parse: %v", got, err)
			}
			// encoding/json repairs invalid UTF-8 the same way, one U+FFFD per
			// bad byte, so the decoded values must agree.
			want, err := json.Marshal(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			var wantValue string
			if err := json.Unmarshal(want, &wantValue); err != nil {
				t.Fatal(err)
			}
			if gotValue != wantValue {
				t.Errorf("decoded %q, want %q", gotValue, wantValue)
			}
		})
	}
}

func TestAppendStringEscapes(t *testing.T) {
	cases := []struct{ in, want string }{
		{"\n", `"\n"`},
		{"\x01", `"\u0001"`},
		{`"`, `"\""`},
		{`\`, `"\\"`},
		// Written as the character, not as \ufffd: decoding and encoding
		// again gives the same bytes.
		{"\xff", "\"\uFFFD\""},
		{"a\xe4\xb8b", "\"a\uFFFD\uFFFDb\""},
		{"é", `"é"`},
	}
	for _, tc := range cases {
		if got := string(appendString(nil, tc.in)); got != tc.want {
			t.Errorf("appendString(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestValidUTF8 checks that the otlp-json line repair replaces each bad byte
// as AppendJSONString does, so both formats read back alike.
func TestValidUTF8(t *testing.T) {
	for _, in := range []string{"", "plain", "héllo 世界", "a\xffb", "ok\xe4\xb8", "\xed\xa0\x80", "\xff\xfe\xfd"} {
		got := string(validUTF8([]byte(in)))
		want := string(appendString(nil, in))
		if `"`+got+`"` != want {
			t.Errorf("validUTF8(%q) = %q, want %s", in, got, want)
		}
	}
}

func TestAppendFloatMatchesEncodingJSON(t *testing.T) {
	for _, f := range []float64{0, 1, -1, 0.5, 1e20, 1e21, 1e-6, 1e-7, 123456789.125, math.MaxFloat64, math.SmallestNonzeroFloat64, -2.5e-9, 3.14159} {
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(appendFloat(nil, f)); got != string(want) {
			t.Errorf("appendFloat(%v) = %s, want %s", f, got, want)
		}
	}
	for f, want := range map[float64]string{math.NaN(): `"NaN"`, math.Inf(1): `"Infinity"`, math.Inf(-1): `"-Infinity"`} {
		if got := string(appendFloat(nil, f)); got != want {
			t.Errorf("appendFloat(%v) = %s, want %s", f, got, want)
		}
	}
}

func TestAppendTime(t *testing.T) {
	cases := []struct {
		ns   uint64
		want string
	}{
		{0, "null"},
		{1, `"1970-01-01 00:00:00.000"`},
		{1_700_000_000_123_456_789, `"2023-11-14 22:13:20.123"`},
		{1_709_251_199_999_999_999, `"2024-02-29 23:59:59.999"`},
		// Beyond int64 the value wraps to before 1970; it must still be a
		// valid string.
		{math.MaxUint64, `"1969-12-31 23:59:59.999"`},
	}
	for _, tc := range cases {
		if got := string(appendTime(nil, tc.ns)); got != tc.want {
			t.Errorf("appendTime(%d) = %s, want %s", tc.ns, got, tc.want)
		}
	}
}

// TestAppendTimeMatchesPackageTime compares the hand-rolled calendar with
// package time over the whole int64 range, edges included.
func TestAppendTimeMatchesPackageTime(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	samples := []uint64{1, 999_999, 86_399_999_999_999, 86_400_000_000_000, 951_782_400_000_000_000, 4_107_542_400_000_000_000,
		math.MaxInt64, math.MaxInt64 + 1, math.MaxUint64}
	for range 100_000 {
		samples = append(samples, rng.Uint64())
	}
	for _, ns := range samples {
		want := `"` + time.Unix(0, int64(ns)).UTC().Format(TimeLayout) + `"`
		if got := string(appendTime(nil, ns)); got != want {
			t.Fatalf("appendTime(%d) = %s, want %s", ns, got, want)
		}
	}
}
