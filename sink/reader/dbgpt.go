package reader

import (
	"time"

	"github.com/valyala/fastjson"

	"github.com/spansink/spansink/sink/format"
)

// AppendDBGPT writes a span as one "dbgpt" line (without the newline) with
// the collector's own encoder, so the reader's JSON output reads back like
// the collector's files: by the reader, by DB-GPT's tools and by anything
// else that reads them. It fails only if the span's metadata is not JSON.
func AppendDBGPT(b []byte, s *Span) ([]byte, error) {
	line := format.DBGPTSpan{
		SpanType:      s.SpanType,
		TraceID:       s.TraceID,
		SpanID:        s.SpanID,
		OperationName: s.Operation,
		StartTime:     timeString(s.Start),
		EndTime:       timeString(s.End),
		Metadata:      s.Metadata,
	}
	if s.ParentSpanID != "" {
		line.ParentSpanID = &s.ParentSpanID
	}
	return format.AppendDBGPTSpan(b, &line)
}

// timeString is a span time in the format's notation, or nil when unknown.
func timeString(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(TimeLayout)
	return &s
}

// appendJSONValue writes a parsed JSON value back as JSON, with strings
// encoded as the collector encodes them, so metadata read from a "dbgpt"
// line comes out byte for byte as the same metadata built from an otlp-json
// line. (fastjson's own MarshalTo writes a string escaped as the input had
// it, or, once the string was read, quoted the Go way, which is not always
// JSON: "\a", "\x07".) Numbers keep their text as written.
func appendJSONValue(b []byte, v *fastjson.Value) []byte {
	switch v.Type() {
	case fastjson.TypeObject:
		b = append(b, '{')
		first := true
		v.GetObject().Visit(func(key []byte, value *fastjson.Value) {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = format.AppendJSONString(b, string(key))
			b = append(b, ':')
			b = appendJSONValue(b, value)
		})
		return append(b, '}')
	case fastjson.TypeArray:
		b = append(b, '[')
		for i, item := range v.GetArray() {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONValue(b, item)
		}
		return append(b, ']')
	case fastjson.TypeString:
		s, _ := v.StringBytes()
		return format.AppendJSONString(b, string(s))
	}
	// Numbers, true, false and null: fastjson keeps their text.
	return v.MarshalTo(b)
}
