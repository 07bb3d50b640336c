// Package render is how the `spansink spans` commands show spans: the
// span table, JSON lines and CSV, a trace as a tree, the stats tables; the
// latest spans kept for newest-first and tail listings; and the escaping
// that keeps what clients sent from acting on the terminal. It knows no
// command line: cmd/spans turns flags into these calls.
package render

import (
	"unicode/utf8"
)

// Span files hold what clients sent, and a span name or service of
// "\x1b]0;...\a" or "\x1b[2K" would retitle or wipe the terminal of whoever
// lists it; a carriage return or a bidi override would hide or reorder
// what is shown. The text outputs therefore show such characters escaped,
// and the JSON outputs write them as \u escapes (the same JSON values,
// only spelled so a terminal shows them inertly).

// Printable returns s with every character a terminal would act on
// escaped: C0 controls (tab, CR and LF included: they break the columns),
// DEL and C1 controls as \xNN or \u00NN, the Unicode bidi controls as
// \uNNNN, and bytes that are not UTF-8 as \xNN. Backslashes stay as they
// are, so an escape is told from text only by this rule.
func Printable(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			if needsEscape(s[i:]) {
				return string(appendPrintable(make([]byte, 0, len(s)+16), s))
			}
		}
	}
	return s
}

// needsEscape reports whether the text at the start of s (from a byte
// below 0x20 or from 0x7f on) is one Printable escapes; it is false for
// ordinary non-ASCII text only.
func needsEscape(s string) bool {
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && size <= 1 {
		return true
	}
	return escapedRune(r)
}

// escapedRune reports whether r is a control character a terminal acts on
// or one of the Unicode bidi controls.
func escapedRune(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

func appendPrintable(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			b = append(b, '\\', 'x', hexDigit(s[i]>>4), hexDigit(s[i]&0xf))
		case r == '\t':
			b = append(b, '\\', 't')
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r < 0x20 || r == 0x7f:
			b = append(b, '\\', 'x', hexDigit(byte(r)>>4), hexDigit(byte(r)&0xf))
		case escapedRune(r):
			b = appendUnicodeEscape(b, r)
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}

// TerminalSafeJSON rewrites the characters Printable escapes that JSON
// leaves raw (DEL, C1 and bidi controls; JSON encoders already escape C0)
// as \u escapes. b must be valid UTF-8 JSON: those characters can then
// only stand inside strings, where the escape means the same character.
// b is returned unchanged, without a copy, when it holds none.
func TerminalSafeJSON(b []byte) []byte {
	first := -1
	for i := 0; i < len(b); i++ {
		if b[i] >= 0x7f {
			if r, _ := utf8.DecodeRune(b[i:]); escapedRune(r) {
				first = i
				break
			}
		}
	}
	if first < 0 {
		return b
	}
	out := append(make([]byte, 0, len(b)+16), b[:first]...)
	for i := first; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r >= 0x7f && escapedRune(r) {
			out = appendUnicodeEscape(out, r)
		} else {
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}

// appendUnicodeEscape appends r as \uNNNN (r is in the Basic Multilingual
// Plane).
func appendUnicodeEscape(b []byte, r rune) []byte {
	b = append(b, '\\', 'u')
	for shift := 12; shift >= 0; shift -= 4 {
		b = append(b, hexDigit(byte(r>>shift)&0xf))
	}
	return b
}

func hexDigit(n byte) byte { return "0123456789abcdef"[n&0xf] }
