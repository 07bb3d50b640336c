package spanid

import (
	"strings"
	"testing"
)

func TestWireLength(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   []byte
		size int
		want bool
	}{
		{"empty trace id reads as all zero", nil, TraceIDSize, true},
		{"16-byte trace id", make([]byte, 16), TraceIDSize, true},
		{"15-byte trace id", make([]byte, 15), TraceIDSize, false},
		{"17-byte trace id", make([]byte, 17), TraceIDSize, false},
		{"8-byte span id", make([]byte, 8), SpanIDSize, true},
		{"trace-id-sized span id", make([]byte, 16), SpanIDSize, false},
	} {
		if got := WireLength(tc.id, tc.size); got != tc.want {
			t.Errorf("%s: WireLength = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestHexWireLength(t *testing.T) {
	for _, tc := range []struct {
		id   string
		size int
		want bool
	}{
		{"", TraceIDSize, true},
		{strings.Repeat("0", 32), TraceIDSize, true},
		{"5B8EFFF798038103D269B633813FC60C", TraceIDSize, true},
		{strings.Repeat("a", 31), TraceIDSize, false},
		{strings.Repeat("a", 16), TraceIDSize, false},
		{"eee19b7ec3c1b17g", SpanIDSize, false},
		{"eee19b7ec3c1b174", SpanIDSize, true},
	} {
		if got := HexWireLength(tc.id, tc.size); got != tc.want {
			t.Errorf("HexWireLength(%q, %d) = %v, want %v", tc.id, tc.size, got, tc.want)
		}
	}
}

func TestPresent(t *testing.T) {
	one := make([]byte, 8)
	one[7] = 1
	for _, tc := range []struct {
		name string
		id   []byte
		size int
		want bool
	}{
		{"empty", nil, SpanIDSize, false},
		{"all zero", make([]byte, 8), SpanIDSize, false},
		{"last byte set", one, SpanIDSize, true},
		{"wrong size", one, TraceIDSize, false},
		{"zero size", nil, 0, false},
	} {
		if got := Present(tc.id, tc.size); got != tc.want {
			t.Errorf("%s: Present = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestDecodeHex(t *testing.T) {
	var id [SpanIDSize]byte
	if err := DecodeHex(id[:], "00000000000000ff"); err != nil || id[7] != 0xff {
		t.Errorf("DecodeHex = %v, id %x", err, id)
	}
	if err := DecodeHex(id[:], "0000000000000000"); err != nil {
		t.Errorf("all zeros: %v, want them decoded (Present decides about them)", err)
	}
	for h, want := range map[string]string{
		"abc":              "3 hex digits instead of 16",
		"00000000000000zz": "encoding/hex: invalid byte: U+007A 'z'",
	} {
		if err := DecodeHex(id[:], h); err == nil || err.Error() != want {
			t.Errorf("DecodeHex(%q) = %v, want %q", h, err, want)
		}
	}
}
