package reader

import "time"

// AppendDBGPT writes a span as one "dbgpt" line (without the newline): the
// eight keys in the format's order, so the reader's JSON output can be read
// back by the reader, by DB-GPT's tools and by anything that reads the
// collector's files.
func AppendDBGPT(b []byte, s *Span) []byte {
	b = append(b, `{"span_type":`...)
	b = appendJSONString(b, s.SpanType)
	b = append(b, `,"trace_id":`...)
	b = appendJSONString(b, s.TraceID)
	b = append(b, `,"span_id":`...)
	b = appendJSONString(b, s.SpanID)
	b = append(b, `,"parent_span_id":`...)
	if s.ParentSpanID == "" {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, s.ParentSpanID)
	}
	b = append(b, `,"operation_name":`...)
	b = appendJSONString(b, s.Operation)
	b = append(b, `,"start_time":`...)
	b = appendTime(b, s.Start)
	b = append(b, `,"end_time":`...)
	b = appendTime(b, s.End)
	b = append(b, `,"metadata":`...)
	if len(s.Metadata) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, s.Metadata...)
	}
	return append(b, '}')
}

// appendTime writes a span time in the format's notation, or null.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, TimeLayout)
	return append(b, '"')
}
