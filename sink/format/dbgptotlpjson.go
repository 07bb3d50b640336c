package format

import (
	"bytes"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/valyala/fastjson"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spansink/spansink/sink/record"
)

// DB-GPT records to otlp-json without pdata. Through pdata a record's
// metadata was decoded by encoding/json into maps, copied into a
// pcommon.Map and marshalled again: 17-20 µs a record, twenty times the
// dbgpt format's cost for the same record (BenchmarkEncodeDBGPTRecords).
// This path parses the metadata with fastjson and writes the line
// directly, byte for byte what the pdata path writes (convertDBGPT, then
// EncodeTraces). A record that is no OTLP span (bad ids or times) it
// leaves out with the pdata path's rejection. What it cannot promise to
// write alike it declines, and the whole request then takes the pdata
// path:
//
//   - metadata that is not an object, or holds a number out of float64's
//     range;
//   - metadata that is not valid UTF-8 or escapes a surrogate (\uD800 to
//     \uDFFF): encoding/json and fastjson repair those differently;
//   - an object with a key twice (encoding/json keeps the last, in the
//     sorted place);
//   - metadata keys the conversion sets itself (dbgpt.record,
//     dbgpt.span_type), and an "error" that is neither a string, a bool nor
//     null, whose status message pdata renders in its own way.

// dbgptOTLPHeader and dbgptOTLPFooter enclose the spans of the one
// request that a batch of DB-GPT records becomes, as pdata writes it.
const (
	dbgptOTLPHeader = `{"resourceSpans":[{"resource":{},"scopeSpans":[{"scope":{"name":"` + DBGPTScopeName + `"},"spans":[`
	dbgptOTLPFooter = `]}]}]}`
)

// dbgptOTLPWriter holds what writing one request reuses.
type dbgptOTLPWriter struct {
	buf    []byte
	parser fastjson.Parser
	// members is a stack of the object members being sorted, one run per
	// open object.
	members []jsonMember
	// number holds a number's text while it is parsed.
	number []byte
}

// jsonMember is a member of a parsed metadata object.
type jsonMember struct {
	key   []byte
	value *fastjson.Value
}

var dbgptOTLPPool = sync.Pool{New: func() any { return &dbgptOTLPWriter{buf: make([]byte, 0, 64<<10)} }}

func (w *dbgptOTLPWriter) release() {
	if cap(w.buf) > maxPooledScratch {
		return
	}
	clear(w.members[:cap(w.members)])
	w.members = w.members[:0]
	dbgptOTLPPool.Put(w)
}

// encodeDBGPTDirect writes spans as the otlp-json line of one request, or
// declines (false) when one of them must take the pdata path. A record
// that is no OTLP span is left out and rejected with convertDBGPT's
// message, as the pdata path rejects it: one bad record used to send its
// whole request through pdata, at four to five times the cost.
func encodeDBGPTDirect(spans []DBGPTSpan) ([]record.Record, []Rejection, bool) {
	w := dbgptOTLPPool.Get().(*dbgptOTLPWriter)
	defer w.release()
	b := append(w.buf[:0], dbgptOTLPHeader...)
	written := 0
	var rejections []Rejection
	for i := range spans {
		before := len(b)
		if written > 0 {
			b = append(b, ',')
		}
		var outcome directOutcome
		b, outcome = w.span(b, &spans[i])
		switch outcome {
		case directWritten:
			written++
			continue
		case directUnconvertible:
			if err := convertDBGPT(&spans[i], ptrace.NewSpanSlice()); err != nil {
				b = b[:before]
				rejections = append(rejections, Rejection{Index: i, Message: err.Error()})
				continue
			}
		}
		// Declined, or a conversion error the pdata path would not
		// give: the pdata path writes the request.
		w.buf = b
		return nil, nil, false
	}
	w.buf = b
	if written == 0 {
		return nil, rejections, true
	}
	w.buf = append(b, dbgptOTLPFooter...)
	return []record.Record{{Line: bytes.Clone(w.buf), Spans: written}}, rejections, true
}

// directOutcome is what span did with a record.
type directOutcome int

const (
	// directWritten: the span is appended.
	directWritten directOutcome = iota
	// directUnconvertible: the record has no OTLP ids or times, and b is
	// left as it was.
	directUnconvertible
	// directDeclined: the record is a span this path cannot promise to
	// write as pdata does.
	directDeclined
)

// span appends s as convertDBGPT and pdata's marshaler would write it.
func (w *dbgptOTLPWriter) span(b []byte, s *DBGPTSpan) ([]byte, directOutcome) {
	traceID, err := parseTraceID(s.TraceID)
	if err != nil {
		return b, directUnconvertible
	}
	spanID, err := parseSpanID(s.SpanID)
	if err != nil {
		return b, directUnconvertible
	}
	var parentID pcommon.SpanID
	if s.ParentSpanID != nil && *s.ParentSpanID != "" {
		if parentID, err = parseSpanID(*s.ParentSpanID); err != nil {
			return b, directUnconvertible
		}
	}
	start, end, errs := dbgptSpanTimes(s)
	if len(errs) > 0 {
		return b, directUnconvertible
	}
	meta, ok := w.metadata(s.Metadata)
	if !ok {
		return b, directDeclined
	}
	message, failed, ok := directDBGPTError(meta)
	if !ok {
		return b, directDeclined
	}

	obj := len(b)
	b = append(b, `{"traceId":`...)
	b = appendHexID(b, traceID[:])
	b = append(b, `,"spanId":`...)
	b = appendHexID(b, spanID[:])
	b = appendIDMember(b, obj, `"parentSpanId":`, parentID[:], len(parentID))
	if s.OperationName != "" {
		b = appendMember(b, obj, `"name":`)
		b = appendString(b, s.OperationName)
	}
	b = appendUint64Member(b, obj, `"startTimeUnixNano":`, uint64(pcommon.NewTimestampFromTime(start)))
	b = appendUint64Member(b, obj, `"endTimeUnixNano":`, uint64(pcommon.NewTimestampFromTime(end)))
	attrs := len(b)
	b = appendMember(b, obj, `"attributes":[`)
	empty := len(b)
	if meta != nil {
		if b, ok = w.appendMembers(b, meta); !ok {
			return b, directDeclined
		}
	}
	if s.EndTime == nil {
		b = appendStringAttribute(b, empty, DBGPTRecordAttribute, "start")
	}
	if s.SpanType != "" {
		b = appendStringAttribute(b, empty, DBGPTSpanTypeAttribute, s.SpanType)
	}
	if len(b) == empty {
		b = b[:attrs]
	} else {
		b = append(b, ']')
	}
	b = append(b, `,"status":{`...)
	if failed {
		b = append(b, `"message":`...)
		b = appendString(b, message)
		b = append(b, `,"code":2`...)
	}
	return append(b, "}}"...), directWritten
}

// metadata parses raw, an object or null (nil) that this path can write
// alike; see the comment at the top of this file.
func (w *dbgptOTLPWriter) metadata(raw []byte) (*fastjson.Value, bool) {
	if !utf8.Valid(raw) || escapesSurrogate(raw) {
		return nil, false
	}
	v, err := parseMetadata(&w.parser, raw)
	if err != nil {
		return nil, false
	}
	if v != nil && (v.Get(DBGPTRecordAttribute) != nil || v.Get(DBGPTSpanTypeAttribute) != nil) {
		return nil, false
	}
	return v, true
}

// escapesSurrogate tells whether raw holds an escape \uD800 to \uDFFF
// (or one of \uD000 to \uD7FF, which are taken for one to keep the test
// simple and are rare enough to leave to pdata).
func escapesSurrogate(raw []byte) bool {
	for i := 0; ; {
		j := bytes.Index(raw[i:], []byte(`\u`))
		if j < 0 {
			return false
		}
		i += j + 2
		if i < len(raw) && (raw[i] == 'd' || raw[i] == 'D') {
			return true
		}
	}
}

// directDBGPTError is dbgptError for the parsed metadata; ok is false for
// an "error" whose message this path does not render.
func directDBGPTError(meta *fastjson.Value) (message string, failed, ok bool) {
	if meta == nil {
		return "", false, true
	}
	v := meta.Get("error")
	if v == nil {
		return "", false, true
	}
	switch v.Type() {
	case fastjson.TypeNull, fastjson.TypeFalse:
		return "", false, true
	case fastjson.TypeTrue:
		return "true", true, true
	case fastjson.TypeString:
		s := string(v.GetStringBytes())
		return s, s != "", true
	}
	return "", false, false
}

// plainNumber tells a number made of JSON's number characters only, as
// ingest's checked records hold: strconv would also take "Inf", "NaN" and
// hexadecimal, which encoding/json refuses.
func plainNumber(text []byte) bool {
	for _, c := range text {
		if !('0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			return false
		}
	}
	return len(text) > 0
}

// appendStringAttribute appends the attribute key = value to the list
// whose first element would begin at b[first].
func appendStringAttribute(b []byte, first int, key, value string) []byte {
	if len(b) > first {
		b = append(b, ',')
	}
	b = append(b, `{"key":`...)
	b = appendString(b, key)
	b = append(b, `,"value":{"stringValue":`...)
	b = appendString(b, value)
	return append(b, "}}"...)
}

// appendMembers appends obj's members as OTLP KeyValues in key order, without
// the brackets around them.
func (w *dbgptOTLPWriter) appendMembers(b []byte, obj *fastjson.Value) ([]byte, bool) {
	o, _ := obj.Object()
	base := len(w.members)
	o.Visit(func(key []byte, v *fastjson.Value) {
		w.members = append(w.members, jsonMember{key: key, value: v})
	})
	defer func() { w.members = w.members[:base] }()
	run := w.members[base:]
	slices.SortFunc(run, func(x, y jsonMember) int { return bytes.Compare(x.key, y.key) })
	for i := 1; i < len(run); i++ {
		if bytes.Equal(run[i-1].key, run[i].key) {
			return b, false
		}
	}
	ok := true
	// Indexing w.members rather than run: a nested object grows
	// w.members, which may move it.
	for i := base; i < base+len(run); i++ {
		if i > base {
			b = append(b, ',')
		}
		// pdata leaves an empty key out.
		b = append(b, '{')
		if key := w.members[i].key; len(key) > 0 {
			b = append(b, `"key":`...)
			b = appendBytesString(b, key)
			b = append(b, ',')
		}
		b = append(b, `"value":`...)
		if b, ok = w.value(b, w.members[i].value); !ok {
			return b, false
		}
		b = append(b, '}')
	}
	return b, true
}

// value appends v as an OTLP JSON AnyValue, as putRaw and pdata make it.
func (w *dbgptOTLPWriter) value(b []byte, v *fastjson.Value) ([]byte, bool) {
	switch v.Type() {
	case fastjson.TypeNull:
		return append(b, "{}"...), true
	case fastjson.TypeTrue:
		return append(b, `{"boolValue":true}`...), true
	case fastjson.TypeFalse:
		return append(b, `{"boolValue":false}`...), true
	case fastjson.TypeString:
		b = append(b, `{"stringValue":`...)
		return append(appendBytesString(b, v.GetStringBytes()), '}'), true
	case fastjson.TypeNumber:
		// The number as written, as encoding/json's json.Number keeps it:
		// an int64 when it is one, else a double.
		w.number = v.MarshalTo(w.number[:0])
		if !plainNumber(w.number) {
			return b, false
		}
		text := transient(w.number)
		if i, err := strconv.ParseInt(text, 10, 64); err == nil {
			b = append(b, `{"intValue":"`...)
			b = strconv.AppendInt(b, i, 10)
			return append(b, `"}`...), true
		}
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return b, false
		}
		b = append(b, `{"doubleValue":`...)
		return append(appendOTLPFloat(b, f), '}'), true
	case fastjson.TypeArray:
		elems, _ := v.Array()
		if len(elems) == 0 {
			return append(b, `{"arrayValue":{}}`...), true
		}
		b = append(b, `{"arrayValue":{"values":[`...)
		ok := true
		for i, e := range elems {
			if i > 0 {
				b = append(b, ',')
			}
			if b, ok = w.value(b, e); !ok {
				return b, false
			}
		}
		return append(b, "]}}"...), true
	case fastjson.TypeObject:
		o, _ := v.Object()
		if o.Len() == 0 {
			return append(b, `{"kvlistValue":{}}`...), true
		}
		b = append(b, `{"kvlistValue":{"values":[`...)
		b, ok := w.appendMembers(b, v)
		if !ok {
			return b, false
		}
		return append(b, "]}}"...), true
	}
	return b, false
}
