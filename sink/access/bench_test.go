package access

import "testing"

// BenchmarkCheck is the per-request cost of authentication: a 64-character
// token against a file of three.
func BenchmarkCheck(b *testing.B) {
	a := newAuthenticator("tokens", NewMetrics(nil))
	tok := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if err := a.apply([][]byte{[]byte("old-token\n" + tok + "\nother-token\n")}); err != nil {
		b.Fatal(err)
	}
	header := "Bearer " + tok
	b.ReportAllocs()
	for b.Loop() {
		if a.check(header) != "" {
			b.Fatal("refused")
		}
	}
}
