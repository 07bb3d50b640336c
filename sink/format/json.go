package format

import (
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// The helpers below write JSON by appending to a byte slice. They exist
// because the dbgpt encoder runs once per span on the request path, where
// encoding/json's reflection and per-value allocations would dominate the
// collector's CPU cost.

const hexDigits = "0123456789abcdef"

// validUTF8 returns b with every byte that is not part of valid UTF-8
// replaced by U+FFFD, one per byte as appendString does, so that a span
// reads back alike whichever format stored it. b is returned unchanged when
// it is valid.
func validUTF8(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			out = append(out, string(utf8.RuneError)...)
		} else {
			out = append(out, b[:size]...)
		}
		b = b[size:]
	}
	return out
}

// safeASCII marks the bytes that need no escaping inside a JSON string.
var safeASCII = func() [utf8.RuneSelf]bool {
	var t [utf8.RuneSelf]bool
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// AppendJSONString appends s as a quoted JSON string exactly as the
// encoders write strings into span files; the span reader uses it so that
// what it prints matches them.
func AppendJSONString(b []byte, s string) []byte { return appendString(b, s) }

// appendString appends s as a quoted JSON string, escaping only what JSON
// requires (no HTML escaping). Every byte that is not part of valid UTF-8
// becomes U+FFFD, written as the character itself, so the output is always
// valid UTF-8 and decoding the string and encoding it again gives the same
// bytes back.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safeASCII[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, string(utf8.RuneError)...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendHexID appends id as a quoted lowercase hex string, growing the
// buffer once rather than per digit: ids are a good part of every line.
func appendHexID(b, id []byte) []byte {
	n := len(b)
	b = slices.Grow(b, 2*len(id)+2)[:n+2*len(id)+2]
	out := b[n:]
	out[0] = '"'
	for i, c := range id {
		out[1+2*i] = hexDigits[c>>4]
		out[2+2*i] = hexDigits[c&0xf]
	}
	out[len(out)-1] = '"'
	return b
}

// appendFloat writes f the way encoding/json does, so that readers see the
// same numbers whichever encoder wrote them. NaN and infinities have no JSON
// number form; they are written as the strings protojson uses.
func appendFloat(b []byte, f float64) []byte { return appendFloatShortest(b, f, true) }

// appendOTLPFloat writes f as pdata's JSON marshaler does (jsoniter's
// WriteFloat64 behind the same special strings): as appendFloat, but with
// the exponent's leading zero kept, 1e-07 where encoding/json writes 1e-7.
func appendOTLPFloat(b []byte, f float64) []byte { return appendFloatShortest(b, f, false) }

// appendFloatShortest writes f in the fewest digits that read back as f,
// with an exponent below 1e-6 and from 1e21 on; trimExponent drops the
// exponent's leading zero.
func appendFloatShortest(b []byte, f float64, trimExponent bool) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	abs := math.Abs(f)
	fmtByte := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		fmtByte = 'e'
	}
	b = strconv.AppendFloat(b, f, fmtByte, -1, 64)
	if fmtByte == 'e' && trimExponent {
		// Shorten e-09 to e-9, as encoding/json does.
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// TimeLayout is the layout of start_time and end_time in the dbgpt format
// for spans that arrived over OTLP: DB-GPT's own layout, in UTC, with
// milliseconds.
const TimeLayout = "2006-01-02 15:04:05.000"

// appendTime appends the unix-nanosecond timestamp ns as a quoted
// TimeLayout string in UTC, or null when ns is zero (OTLP's "unset").
// The calendar arithmetic is done here rather than by package time, which
// would compute the date twice (Date and Clock) for every timestamp.
func appendTime(b []byte, ns uint64) []byte {
	if ns == 0 {
		return append(b, "null"...)
	}
	// OTLP timestamps are unsigned; values past int64 wrap to before 1970
	// exactly as time.Unix(0, int64(ns)) would read them.
	n := int64(ns)
	secs, nanos := n/1e9, n%1e9
	if nanos < 0 {
		secs, nanos = secs-1, nanos+1e9
	}
	days, rem := secs/86400, secs%86400
	if rem < 0 {
		days, rem = days-1, rem+86400
	}
	year, month, day := civilFromDays(days)
	hour, minute, second := rem/3600, rem/60%60, rem%60
	ms := nanos / 1e6
	return append(b, '"',
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+month/10), byte('0'+month%10), '-',
		byte('0'+day/10), byte('0'+day%10), ' ',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+second/10), byte('0'+second%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), '"')
}

// timeCache is appendTime with the date and clock of the last second
// formatted remembered: the spans of a request mostly start and end within
// the same second, and the calendar arithmetic is a good part of a line's
// cost.
type timeCache struct {
	secs  int64
	valid bool
	// last is the last time formatted, `"YYYY-MM-DD HH:MM:SS.mmm"`.
	last [25]byte
}

func (c *timeCache) appendTime(b []byte, ns uint64) []byte {
	if ns == 0 {
		return append(b, "null"...)
	}
	// As in appendTime: the seconds and milliseconds of ns read as int64.
	n := int64(ns)
	secs, nanos := n/1e9, n%1e9
	if nanos < 0 {
		secs, nanos = secs-1, nanos+1e9
	}
	if !c.valid || secs != c.secs {
		appendTime(c.last[:0], ns)
		c.secs, c.valid = secs, true
	}
	ms := nanos / 1e6
	b = append(b, c.last[:21]...)
	return append(b, byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), '"')
}

// civilFromDays converts days since 1970-01-01 to a proleptic Gregorian
// date (Howard Hinnant's days_from_civil inverse). Every int64 nanosecond
// timestamp falls in years 1677 to 2262, so four digits always suffice.
func civilFromDays(z int64) (year, month, day int64) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	year = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day = doy - (153*mp+2)/5 + 1
	month = mp + 3
	if month > 12 {
		month -= 12
	}
	if month <= 2 {
		year++
	}
	return year, month, day
}
