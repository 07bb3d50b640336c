package ingest

import "bytes"

// The scanners below walk JSON text without building values: they find
// where a value ends and how deeply it nests, so that a body can be
// measured before encoding/json or pdata spend time (and memory) on it.
// They are string-aware: brackets inside strings do not count.

// stringEnd returns the length of the JSON string at the start of b
// (b[0] is its opening quote), or len(b) when it is not closed.
func stringEnd(b []byte) int {
	for i := 1; i < len(b); {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return len(b)
		}
		i += q
		// The quote is escaped when an odd number of backslashes precede
		// it: inside a string every backslash pair is one escape.
		backslashes := 0
		for k := i - 1; k > 0 && b[k] == '\\'; k-- {
			backslashes++
		}
		i++
		if backslashes%2 == 0 {
			return i
		}
	}
	return len(b)
}

// scanValue returns the length of the JSON value at the start of b, which
// must be valid JSON (checked before), and how deeply it nests: 0 for a
// string, number or literal, one more than its deepest member for an
// object or array.
func scanValue(b []byte) (n, depth int) {
	if len(b) == 0 {
		return 0, 0
	}
	switch b[0] {
	case '"':
		return stringEnd(b), 0
	case '{', '[':
	default:
		i := 0
		for i < len(b) && !isJSONDelimiter(b[i]) {
			i++
		}
		return i, 0
	}
	level := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			i += stringEnd(b[i:]) - 1
		case '{', '[':
			level++
			depth = max(depth, level)
		case '}', ']':
			level--
			if level == 0 {
				return i + 1, depth
			}
		}
	}
	return len(b), depth
}

func isJSONDelimiter(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// nestsDeeperThan reports whether the JSON text b, valid or not, nests
// objects and arrays more than limit deep. It stops at the first level
// past the limit, so a body of a million brackets costs microseconds.
func nestsDeeperThan(b []byte, limit int) bool {
	level := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			i += stringEnd(b[i:]) - 1
		case '{', '[':
			if level++; level > limit {
				return true
			}
		case '}', ']':
			level--
		}
	}
	return false
}

// skipSpace returns the index of the first byte of b at or after i that is
// not JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// forEachElement calls fn with each element of the JSON array b, which
// must be valid JSON (checked before), until fn returns false.
func forEachElement(b []byte, fn func(raw []byte) bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return
	}
	for i = skipSpace(b, i+1); i < len(b) && b[i] != ']'; {
		n, _ := scanValue(b[i:])
		if n == 0 || !fn(b[i:i+n]) {
			return
		}
		i = skipSpace(b, i+n)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
}
