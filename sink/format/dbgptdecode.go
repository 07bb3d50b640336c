package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/spansink/spansink/sink/config"
)

// The one decoder of DB-GPT span records, for ingest (DecodeDBGPTRecord)
// and for the span reader (ScanDBGPTLine). Both find a record's members in
// one pass over its bytes with recordScanner, which keeps each member's
// JSON text as written: the dbgpt format stores a record's metadata byte
// for byte, and no value is built that nobody reads. They differ in how
// much they check on the way, by design:
//
//   - Ingest judges what clients send: the record must be JSON as
//     encoding/json takes it (RFC 8259), and a record that is not gets
//     encoding/json's own message, so replies read as they always have.
//   - The reader reads stored lines, including any written by hand or by
//     older tools, and has always taken what fastjson takes (NaN, control
//     characters in strings): it asks for the structure only, and the
//     metadata it reads is then parsed by fastjson.

// DBGPTMembers are the members of a DB-GPT record as JSON text, nil when
// absent. Keys are matched exactly, after unescaping (unlike encoding/json's
// case-insensitive matching: "TRACE_ID" is an unknown key, ignored like
// any other); of a key sent twice the last counts, as in encoding/json.
type DBGPTMembers struct {
	SpanType, TraceID, SpanID, ParentSpanID, OperationName []byte
	StartTime, EndTime, Metadata                           []byte
	// MetadataDepth is how deeply Metadata nests objects and arrays, itself
	// included: 0 for a scalar, 1 for an object of scalars.
	MetadataDepth int
}

// set takes one member; key is as written, quotes included.
func (m *DBGPTMembers) set(key, value []byte, depth int) {
	if bytes.IndexByte(key, '\\') >= 0 {
		// An escaped key is compared by what it says.
		var k string
		if json.Unmarshal(key, &k) != nil {
			return
		}
		key = strconv.AppendQuote(nil, k)
	}
	switch string(key) {
	case `"span_type"`:
		m.SpanType = value
	case `"trace_id"`:
		m.TraceID = value
	case `"span_id"`:
		m.SpanID = value
	case `"parent_span_id"`:
		m.ParentSpanID = value
	case `"operation_name"`:
		m.OperationName = value
	case `"start_time"`:
		m.StartTime = value
	case `"end_time"`:
		m.EndTime = value
	case `"metadata"`:
		m.Metadata, m.MetadataDepth = value, depth
	}
}

// ScanDBGPTLine finds the members of a stored dbgpt line for the span
// reader, checking only that the line is one object with well-formed
// members (see the comment at the top of this file), and parses its
// metadata with p, which meta is valid until p parses again. meta is nil
// when the metadata is absent or null. ok is false when the line is not
// such an object; err says why the metadata does not parse.
func ScanDBGPTLine(line []byte, p *fastjson.Parser) (m DBGPTMembers, meta *fastjson.Value, ok bool, err error) {
	s := recordScanner{b: line, metadataParser: p}
	if m, ok = s.record(); !ok {
		return m, nil, false, nil
	}
	meta = s.metadata
	if meta == nil && !IsJSONNull(m.Metadata) {
		// Not the last member: parsed on its own.
		if meta, err = p.ParseBytes(m.Metadata); err != nil {
			return m, nil, true, err
		}
	}
	if meta != nil && meta.Type() == fastjson.TypeNull {
		meta = nil
	}
	return m, meta, true, nil
}

// notObject are the errors of records that are not objects, made once: a
// body of millions of them must not cost an allocation each.
var notObject = func() map[byte]error {
	m := map[byte]error{}
	for _, sample := range []string{`[`, `"`, `t`, `n`, `0`} {
		m[sample[0]] = fmt.Errorf("record must be a JSON object, got %s", DescribeJSON([]byte(sample)))
	}
	for c := byte('1'); c <= '9'; c++ {
		m[c] = m['0']
	}
	m['-'], m['f'] = m['0'], m['t']
	return m
}()

// DecodeDBGPTRecord decodes one DB-GPT span record as ingest takes it: a
// JSON object whose members have the types DBGPTSpan gives them (an absent
// or null span_type is "base"), whose metadata nests at most
// config.MaxNestingDepth deep inside it, as OTLP attribute values may, and
// which passes Validate. The error says every reason a record is refused;
// raw must hold no surrounding whitespace.
func DecodeDBGPTRecord(raw []byte) (DBGPTSpan, error) {
	if len(raw) == 0 || raw[0] != '{' {
		if len(raw) > 0 {
			if err, ok := notObject[raw[0]]; ok {
				return DBGPTSpan{}, err
			}
		}
		return DBGPTSpan{}, fmt.Errorf("record must be a JSON object, got %s", DescribeJSON(raw))
	}
	sc := recordScanner{b: raw, strict: true}
	m, ok := sc.record()
	if !ok {
		return DBGPTSpan{}, fmt.Errorf("decode record: %w", jsonError(raw))
	}
	s, err := m.span()
	if err != nil {
		return DBGPTSpan{}, err
	}
	return s, s.Validate()
}

// span converts the members with ingest's types. A record's strings share
// one allocation, and its optional strings one more: an allocation for
// each string was most of what a DB-GPT request allocated.
func (m *DBGPTMembers) span() (DBGPTSpan, error) {
	var s DBGPTSpan
	var errs []error
	var err error
	var text recordText
	text.grow(m.SpanType, m.TraceID, m.SpanID, m.ParentSpanID, m.OperationName, m.StartTime, m.EndTime)
	if s.SpanType, err = text.required("span_type", m.SpanType, "base"); err != nil {
		errs = append(errs, err)
	}
	if s.TraceID, err = text.required("trace_id", m.TraceID, ""); err != nil {
		errs = append(errs, err)
	}
	if s.SpanID, err = text.required("span_id", m.SpanID, ""); err != nil {
		errs = append(errs, err)
	}
	if s.ParentSpanID, err = text.optional("parent_span_id", m.ParentSpanID); err != nil {
		errs = append(errs, err)
	}
	if s.OperationName, err = text.required("operation_name", m.OperationName, ""); err != nil {
		errs = append(errs, err)
	}
	if s.StartTime, err = text.optional("start_time", m.StartTime); err != nil {
		errs = append(errs, err)
	}
	if s.EndTime, err = text.optional("end_time", m.EndTime); err != nil {
		errs = append(errs, err)
	}
	if !IsJSONNull(m.Metadata) {
		switch {
		case m.Metadata[0] != '{':
			errs = append(errs, fmt.Errorf("metadata must be a JSON object or null, got %s", DescribeJSON(m.Metadata)))
		case m.MetadataDepth-1 > config.MaxNestingDepth:
			// The object itself is one level; its values are what OTLP
			// attributes become in otlp-json, held to the same limit.
			errs = append(errs, fmt.Errorf("metadata values nest arrays and objects %d deep, more than the %d accepted (the limit of every ingest path, config.MaxNestingDepth)", m.MetadataDepth-1, config.MaxNestingDepth))
		default:
			s.Metadata = m.Metadata
		}
	}
	return s, errors.Join(errs...)
}

// recordText decodes the string members of one record into shared
// memory: the text of those without escapes goes into one builder, sized
// for all of them up front, and each string is a slice of it. Strings
// taken from a strings.Builder stay valid as it grows, as it only appends.
type recordText struct {
	plain     strings.Builder
	optionals []string // backs the record's *string members
}

// grow sizes the builder for the members' text.
func (t *recordText) grow(members ...[]byte) {
	n := 0
	for _, m := range members {
		n += len(m)
	}
	t.plain.Grow(n)
}

// decode is JSONString that keeps unescaped text in t.
func (t *recordText) decode(raw []byte) (string, error) {
	inner, ok := plainJSONString(raw)
	if !ok {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	start := t.plain.Len()
	t.plain.Write(inner)
	return t.plain.String()[start:], nil
}

// required reads a string member; absent or null gives def.
func (t *recordText) required(name string, raw []byte, def string) (string, error) {
	if IsJSONNull(raw) {
		return def, nil
	}
	if raw[0] != '"' {
		return "", fmt.Errorf("%s must be a string, got %s", name, DescribeJSON(raw))
	}
	s, err := t.decode(raw)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// optional reads a string-or-null member.
func (t *recordText) optional(name string, raw []byte) (*string, error) {
	if IsJSONNull(raw) {
		return nil, nil
	}
	if raw[0] != '"' {
		return nil, fmt.Errorf("%s must be a string or null, got %s", name, DescribeJSON(raw))
	}
	s, err := t.decode(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(t.optionals) == cap(t.optionals) {
		// A record has three optional members.
		t.optionals = make([]string, 0, 3)
	}
	t.optionals = append(t.optionals, s)
	return &t.optionals[len(t.optionals)-1], nil
}

// JSONString decodes the JSON string raw as encoding/json does (invalid
// UTF-8 and lone surrogates become U+FFFD); one without escapes and in
// valid UTF-8, nearly every id and name, is taken as it is.
func JSONString(raw []byte) (string, error) {
	if inner, ok := plainJSONString(raw); ok {
		return string(inner), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// plainJSONString returns what the JSON string raw holds when that is its
// text as written: no escapes, valid UTF-8.
func plainJSONString(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[len(raw)-1] != '"' {
		return nil, false
	}
	inner := raw[1 : len(raw)-1]
	return inner, bytes.IndexByte(inner, '\\') < 0 && bytes.IndexByte(inner, '"') < 0 && utf8.Valid(inner)
}

// IsJSONNull reports a member that is absent (nil) or null.
func IsJSONNull(raw []byte) bool {
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// DescribeJSON names the kind of a JSON value for error messages.
func DescribeJSON(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	if raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9') {
		return "a number"
	}
	const maxShown = 40
	if len(raw) > maxShown {
		return fmt.Sprintf("%q...", raw[:maxShown])
	}
	return fmt.Sprintf("%q", raw)
}

// CheckJSON checks that b is one JSON value as encoding/json takes it, and
// returns encoding/json's own error when it is not. The check is
// recordScanner's; encoding/json runs only to say what is wrong.
func CheckJSON(b []byte) error {
	s := recordScanner{b: b, strict: true}
	s.space()
	if s.value(0) && s.atEnd() {
		return nil
	}
	return jsonError(b)
}

// jsonError is encoding/json's error for b, which recordScanner refused.
func jsonError(b []byte) error {
	if err := json.Unmarshal(b, new(anyJSON)); err != nil {
		return err
	}
	// Unreachable while the scanner agrees with encoding/json, which
	// FuzzRecordScannerMatchesEncodingJSON checks.
	return errors.New("not JSON as encoding/json takes it")
}

// anyJSON takes any JSON value and keeps nothing: encoding/json checks the
// whole value before handing it to UnmarshalJSON.
type anyJSON struct{}

// UnmarshalJSON implements json.Unmarshaler.
func (*anyJSON) UnmarshalJSON([]byte) error { return nil }
