package reader

import (
	"bytes"
	"strings"
	"time"

	"github.com/valyala/fastjson"
)

// Filter selects spans. Zero fields select everything. The id, type,
// operation and search conditions are checked per record, on the scan
// workers; the others need a whole span (a DB-GPT start and end record
// paired) and are checked by Match.
type Filter struct {
	// TraceID, SpanID and ParentSpanID match exactly.
	TraceID      string
	SpanID       string
	ParentSpanID string
	// SpanType, Service and Operation match exactly.
	SpanType  string
	Service   string
	Operation string
	// Search matches a substring of an id, the span type, the operation
	// name, or a metadata key or value (case-sensitive).
	Search string
	// Since and Until bound the span's start time, both inclusive.
	Since time.Time
	Until time.Time
	// MinDuration keeps spans that ran at least this long.
	MinDuration time.Duration
	// ErrorsOnly keeps failed spans.
	ErrorsOnly bool
}

// orAll is f, or a filter that selects everything when f is nil.
func orAll(f *Filter) *Filter {
	if f == nil {
		return &Filter{}
	}
	return f
}

// prefilter rules a line out from its raw bytes: a record can only match if
// the line contains each searched value as written. Values with characters
// that JSON must escape (quote, backslash, control characters) are not
// prefiltered, and a line with optional escapes (\uXXXX, \/) that could
// spell a plain character differently is always decoded, so the prefilter
// never drops a line that a full decode would keep. OTLP lines spell
// metadata differently from the reader's view of it (status codes as
// numbers, kinds as enums), so only ids prefilter them.
func (f *Filter) prefilter(line []byte, otlp bool) bool {
	for _, id := range [...]string{f.TraceID, f.SpanID, f.ParentSpanID} {
		if id != "" && !contains(line, id) {
			return false
		}
	}
	if otlp {
		return true
	}
	for _, value := range [...]string{f.Operation, f.SpanType, f.Search} {
		if value != "" && !contains(line, value) {
			return false
		}
	}
	return true
}

// contains reports whether line may hold value once decoded.
func contains(line []byte, value string) bool {
	if !plainJSON(value) || bytes.Contains(line, []byte(value)) {
		return true
	}
	return bytes.Contains(line, []byte(`\u`)) || bytes.Contains(line, []byte(`\/`))
}

// plainJSON tells whether value needs no escape in JSON, so that its
// unescaped bytes appear in any line holding it.
func plainJSON(value string) bool {
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// matchRecord checks the conditions that both records of a DB-GPT pair share.
func (f *Filter) matchRecord(s *Span) bool {
	if f == nil {
		return true
	}
	return (f.TraceID == "" || s.TraceID == f.TraceID) &&
		(f.SpanID == "" || s.SpanID == f.SpanID) &&
		(f.ParentSpanID == "" || s.ParentSpanID == f.ParentSpanID) &&
		(f.SpanType == "" || s.SpanType == f.SpanType) &&
		(f.Operation == "" || s.Operation == f.Operation)
}

// Match checks the conditions on a whole span.
func (f *Filter) Match(s *Span) bool {
	if f == nil {
		return true
	}
	if f.Service != "" && s.Service != f.Service {
		return false
	}
	if f.ErrorsOnly && s.Status != StatusError {
		return false
	}
	if !f.Since.IsZero() || !f.Until.IsZero() {
		if s.Start.IsZero() || (!f.Since.IsZero() && s.Start.Before(f.Since)) || (!f.Until.IsZero() && s.Start.After(f.Until)) {
			return false
		}
	}
	if f.MinDuration > 0 {
		d, ok := s.Duration()
		if !ok || d < f.MinDuration {
			return false
		}
	}
	return true
}

// searchRecord looks for needle in a record's ids, type, operation and in
// its metadata's keys and values.
func searchRecord(s *Span, meta *fastjson.Value, needle string) bool {
	for _, field := range [...]string{s.TraceID, s.SpanID, s.ParentSpanID, s.SpanType, s.Operation} {
		if strings.Contains(field, needle) {
			return true
		}
	}
	return meta != nil && searchValue(meta, []byte(needle))
}

// searchValue walks a JSON value for a key or scalar containing needle.
func searchValue(v *fastjson.Value, needle []byte) bool {
	switch v.Type() {
	case fastjson.TypeObject:
		found := false
		v.GetObject().Visit(func(key []byte, value *fastjson.Value) {
			if !found && (bytes.Contains(key, needle) || searchValue(value, needle)) {
				found = true
			}
		})
		return found
	case fastjson.TypeArray:
		for _, item := range v.GetArray() {
			if searchValue(item, needle) {
				return true
			}
		}
		return false
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return bytes.Contains(b, needle)
	case fastjson.TypeNull:
		return false
	}
	// Numbers and booleans: their JSON text.
	return bytes.Contains(v.MarshalTo(nil), needle)
}
