package format

import "github.com/valyala/fastjson"

// maxJSONDepth is the deepest nesting of objects and arrays the scanner
// takes: encoding/json's own limit, so that a strict scan refuses what
// encoding/json refuses, and so that a body of a million brackets costs
// recursion no deeper than this.
const maxJSONDepth = 10000

// recordScanner walks JSON text once, without building values. It finds a
// record's members (record) or checks a whole value (CheckJSON). With
// strict it takes exactly what encoding/json takes: RFC 8259 numbers,
// literals and escapes, no control characters in strings, bytes that are
// not UTF-8 left to the string decoder. Without it, it checks only the
// structure, as the reader of stored lines needs: objects and arrays
// balanced, strings closed, members separated, each scalar a run of bytes
// up to a delimiter.
type recordScanner struct {
	b      []byte
	i      int
	strict bool
	// deepest is the deepest level of objects and arrays opened since it
	// was last reset.
	deepest int
	// metadataParser, when set, parses the metadata (see lastMetadata)
	// into metadata.
	metadataParser *fastjson.Parser
	metadata       *fastjson.Value
}

// stringPlain marks the bytes a string holds with no further look: all
// but the quote, the backslash and the control characters.
var stringPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func (s *recordScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// atEnd skips trailing whitespace and reports whether nothing follows.
func (s *recordScanner) atEnd() bool {
	s.space()
	return s.i == len(s.b)
}

// record scans a record, one object and nothing after it, noting its
// members in m.
func (s *recordScanner) record() (m DBGPTMembers, ok bool) {
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return m, false
	}
	s.i++
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return m, s.atEnd()
	}
	for {
		keyStart := s.i
		if s.i >= len(s.b) || s.b[s.i] != '"' || !s.str() {
			return m, false
		}
		key := s.b[keyStart:s.i]
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return m, false
		}
		s.i++
		s.space()
		if s.metadataParser != nil && string(key) == `"metadata"` && s.lastMetadata(&m) {
			return m, true
		}
		valueStart := s.i
		s.deepest = 0
		if !s.value(1) {
			return m, false
		}
		// The deepest level counts the record itself.
		m.set(key, s.b[valueStart:s.i], max(s.deepest-1, 0))
		if done, ok := s.next('}'); !ok || done {
			return m, ok && s.atEnd()
		}
	}
}

// lastMetadata takes the metadata at s.i in one parse when it is the
// record's last member, as the collector writes it: then all that follows
// it is the record's closing brace, and fastjson parses what is between as
// one value. Otherwise nothing is taken and the scan goes on.
func (s *recordScanner) lastMetadata(m *DBGPTMembers) bool {
	end := len(s.b)
	for end > s.i && isSpace(s.b[end-1]) {
		end--
	}
	if end <= s.i || s.b[end-1] != '}' {
		return false
	}
	meta, err := s.metadataParser.ParseBytes(s.b[s.i : end-1])
	if err != nil {
		return false
	}
	m.Metadata, s.metadata = s.b[s.i:end-1], meta
	s.i = len(s.b)
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// key scans a member's key and the colon after it, leaving s.i at the
// value.
func (s *recordScanner) key() bool {
	if s.i >= len(s.b) || s.b[s.i] != '"' || !s.str() {
		return false
	}
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		return false
	}
	s.i++
	s.space()
	return true
}

// next scans what follows a member or element: a comma, or the closing
// byte (done).
func (s *recordScanner) next(closing byte) (done, ok bool) {
	s.space()
	if s.i >= len(s.b) {
		return false, false
	}
	switch s.b[s.i] {
	case ',':
		s.i++
		s.space()
		return false, true
	case closing:
		s.i++
		return true, true
	}
	return false, false
}

// value scans the value at s.i; level is how many objects and arrays are
// around it.
func (s *recordScanner) value(level int) bool {
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '"':
		return s.str()
	case '{', '[':
		if !s.strict {
			return s.skipContainer(level)
		}
		if level >= maxJSONDepth {
			return false
		}
		s.deepest = max(s.deepest, level+1)
		return s.container(level + 1)
	}
	if s.strict {
		return s.strictScalar()
	}
	return s.scalar()
}

// container scans an object or array at s.i, at nesting level.
func (s *recordScanner) container(level int) bool {
	object := s.b[s.i] == '{'
	closing := byte(']')
	if object {
		closing = '}'
	}
	s.i++
	s.space()
	if s.i < len(s.b) && s.b[s.i] == closing {
		s.i++
		return true
	}
	for {
		if object && !s.key() {
			return false
		}
		if !s.value(level) {
			return false
		}
		if done, ok := s.next(closing); !ok || done {
			return ok
		}
	}
}

// skipContainer is container for a structural scan: it skips the object or
// array at s.i, around level others, by its brackets and strings alone.
// That is half the cost of a walk of its members, and the reader parses
// the one container it reads, the metadata, with fastjson anyway.
func (s *recordScanner) skipContainer(level int) bool {
	b, open := s.b, 0
	for i := s.i; i < len(b); i++ {
		switch b[i] {
		case '"':
			s.i = i
			if !s.str() {
				return false
			}
			i = s.i - 1
		case '{', '[':
			open++
			s.deepest = max(s.deepest, level+open)
		case '}', ']':
			if open--; open == 0 {
				s.i = i + 1
				return true
			}
		}
	}
	return false
}

// str scans the string at s.i, which opens with a quote.
func (s *recordScanner) str() bool {
	if !s.strict {
		return s.skipString()
	}
	b := s.b
	for i := s.i + 1; i < len(b); {
		if stringPlain[b[i]] {
			i++
			continue
		}
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return true
		case c == '\\':
			if i+1 >= len(b) {
				return false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHexDigit(b[i+2]) || !isHexDigit(b[i+3]) || !isHexDigit(b[i+4]) || !isHexDigit(b[i+5]) {
					return false
				}
				i += 6
			default:
				return false
			}
		default:
			// A control character.
			return false
		}
	}
	return false
}

// skipString is str for a structural scan: the string ends at the first
// quote that no backslash escapes. Strings in a line are short, so a loop
// beats bytes.IndexByte's call per string.
func (s *recordScanner) skipString() bool {
	b := s.b
	for i := s.i + 1; i < len(b); i++ {
		switch b[i] {
		case '"':
			s.i = i + 1
			return true
		case '\\':
			i++
		}
	}
	return false
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// scalar scans a number or literal without judging it: the bytes up to
// the next delimiter, at least one.
func (s *recordScanner) scalar() bool {
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r', ':', '"', '{', '[':
			return s.i > start
		}
		s.i++
	}
	return s.i > start
}

// strictScalar scans a literal or an RFC 8259 number. What follows it is
// the caller's to check: "truex" and "01" fail there.
func (s *recordScanner) strictScalar() bool {
	b, i := s.b, s.i
	for _, lit := range [...]string{"true", "false", "null"} {
		if b[i] == lit[0] {
			if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
				return false
			}
			s.i = i + len(lit)
			return true
		}
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i)
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		if i++; i >= len(b) || !isDigit(b[i]) {
			return false
		}
		i = digits(b, i)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return false
		}
		i = digits(b, i)
	}
	s.i = i
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// digits returns the index of the first byte at or after i that is not a
// digit.
func digits(b []byte, i int) int {
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i
}
