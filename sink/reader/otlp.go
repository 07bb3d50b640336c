package reader

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// decodeOTLPLine reads one otlp-json line (an ExportTraceServiceRequest) and
// appends its spans that pass the record-level filter, each in the same shape
// as a span the collector stored in the "dbgpt" format, so every command
// shows both formats alike.
func (d *decoder) decodeOTLPLine(line []byte, file string, lineNo int, out []Span) ([]Span, error) {
	var unmarshaler ptrace.JSONUnmarshaler
	traces, err := unmarshaler.UnmarshalTraces(line)
	if err != nil {
		return out, fmt.Errorf("corrupt OTLP JSON: %w", err)
	}
	wantMetadata := d.needMetadata || d.filter.Search != ""
	resources := traces.ResourceSpans()
	for i := 0; i < resources.Len(); i++ {
		rs := resources.At(i)
		service := ""
		if v, ok := rs.Resource().Attributes().Get("service.name"); ok {
			service = v.AsString()
		}
		scopes := rs.ScopeSpans()
		for j := 0; j < scopes.Len(); j++ {
			ss := scopes.At(j)
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				ps := spans.At(k)
				span := Span{
					SpanType:  otlpSpanType(ps),
					TraceID:   ps.TraceID().String(),
					SpanID:    ps.SpanID().String(),
					Operation: ps.Name(),
					Service:   service,
					Status:    otlpStatus(ps.Status().Code()),
					File:      file,
					Line:      lineNo,
				}
				if !ps.ParentSpanID().IsEmpty() {
					span.ParentSpanID = ps.ParentSpanID().String()
				}
				if ps.StartTimestamp() != 0 {
					span.Start = ps.StartTimestamp().AsTime().UTC()
				}
				if ps.EndTimestamp() != 0 {
					span.End = ps.EndTimestamp().AsTime().UTC()
				}
				if !d.filter.matchRecord(&span) {
					continue
				}
				if wantMetadata {
					span.Metadata = otlpMetadata(rs, ss, ps, service)
				}
				if d.filter.Search != "" {
					meta, err := d.searchParser.ParseBytes(span.Metadata)
					if err != nil {
						return out, fmt.Errorf("search OTLP span %s: %w", span.SpanID, err)
					}
					if !searchRecord(&span, meta, d.filter.Search) {
						continue
					}
				}
				if !d.needMetadata {
					span.Metadata = nil
				}
				out = append(out, span)
			}
		}
	}
	return out, nil
}

// otlpSpanType is DB-GPT's span type carried as an attribute, else "base".
func otlpSpanType(ps ptrace.Span) string {
	for _, key := range [...]string{"span_type", "dbgpt.span_type"} {
		if v, ok := ps.Attributes().Get(key); ok && v.Type() == pcommon.ValueTypeStr {
			return v.Str()
		}
	}
	return "base"
}

// otlpStatus maps an OTLP status code.
func otlpStatus(code ptrace.StatusCode) Status {
	switch code {
	case ptrace.StatusCodeError:
		return StatusError
	case ptrace.StatusCodeOk:
		return StatusOK
	}
	return StatusUnset
}

// otlpKind names a span kind as the "dbgpt" format stores it.
func otlpKind(kind ptrace.SpanKind) string {
	switch kind {
	case ptrace.SpanKindInternal:
		return "internal"
	case ptrace.SpanKindServer:
		return "server"
	case ptrace.SpanKindClient:
		return "client"
	case ptrace.SpanKindProducer:
		return "producer"
	case ptrace.SpanKindConsumer:
		return "consumer"
	}
	return "unspecified"
}

// otlpMetadata builds the metadata object of the "dbgpt" format for an OTLP
// span, with the keys in the documented order.
func otlpMetadata(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, ps ptrace.Span, service string) []byte {
	b := make([]byte, 0, 512)
	b = append(b, '{')
	if _, ok := rs.Resource().Attributes().Get("service.name"); ok {
		b = append(b, `"service.name":`...)
		b = appendJSONString(b, service)
		b = append(b, ',')
	}
	b = append(b, `"attributes":`...)
	b = appendAttributes(b, ps.Attributes())
	b = append(b, `,"resource":`...)
	b = appendAttributes(b, rs.Resource().Attributes())
	if scope := ss.Scope(); scope.Name() != "" || scope.Version() != "" {
		b = append(b, `,"scope":{"name":`...)
		b = appendJSONString(b, scope.Name())
		b = append(b, `,"version":`...)
		b = appendJSONString(b, scope.Version())
		b = append(b, '}')
	}
	b = append(b, `,"span_kind":`...)
	b = appendJSONString(b, otlpKind(ps.Kind()))
	b = append(b, `,"status":{"code":`...)
	b = appendJSONString(b, string(otlpStatus(ps.Status().Code())))
	if msg := ps.Status().Message(); msg != "" {
		b = append(b, `,"message":`...)
		b = appendJSONString(b, msg)
	}
	b = append(b, '}')
	if ts := ps.TraceState().AsRaw(); ts != "" {
		b = append(b, `,"trace_state":`...)
		b = appendJSONString(b, ts)
	}
	if events := ps.Events(); events.Len() > 0 {
		b = append(b, `,"events":[`...)
		for i := 0; i < events.Len(); i++ {
			event := events.At(i)
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendJSONString(b, event.Name())
			b = append(b, `,"time_unix_nano":`...)
			b = strconv.AppendUint(b, uint64(event.Timestamp()), 10)
			b = append(b, `,"attributes":`...)
			b = appendAttributes(b, event.Attributes())
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if links := ps.Links(); links.Len() > 0 {
		b = append(b, `,"links":[`...)
		for i := 0; i < links.Len(); i++ {
			link := links.At(i)
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"trace_id":`...)
			b = appendJSONString(b, link.TraceID().String())
			b = append(b, `,"span_id":`...)
			b = appendJSONString(b, link.SpanID().String())
			b = append(b, `,"trace_state":`...)
			b = appendJSONString(b, link.TraceState().AsRaw())
			b = append(b, `,"attributes":`...)
			b = appendAttributes(b, link.Attributes())
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"start_time_unix_nano":`...)
	b = strconv.AppendUint(b, uint64(ps.StartTimestamp()), 10)
	b = append(b, `,"end_time_unix_nano":`...)
	b = strconv.AppendUint(b, uint64(ps.EndTimestamp()), 10)
	return append(b, '}')
}

// appendAttributes writes an attribute map as a JSON object in its order.
func appendAttributes(b []byte, attrs pcommon.Map) []byte {
	b = append(b, '{')
	first := true
	for key, value := range attrs.All() {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, key)
		b = append(b, ':')
		b = appendValue(b, value)
	}
	return append(b, '}')
}

// appendValue writes an attribute value as plain JSON.
func appendValue(b []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return appendJSONString(b, v.Str())
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(b, v.Bool())
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(b, v.Int(), 10)
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			// JSON has no such numbers; keep the value readable.
			return appendJSONString(b, strconv.FormatFloat(f, 'g', -1, 64))
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	case pcommon.ValueTypeMap:
		return appendAttributes(b, v.Map())
	case pcommon.ValueTypeSlice:
		b = append(b, '[')
		items := v.Slice()
		for i := 0; i < items.Len(); i++ {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, items.At(i))
		}
		return append(b, ']')
	case pcommon.ValueTypeBytes:
		return appendJSONString(b, base64.StdEncoding.EncodeToString(v.Bytes().AsRaw()))
	}
	return append(b, "null"...)
}

// appendJSONString writes s as a JSON string, escaping only what JSON
// requires (no HTML escaping), as Python's json.dumps with ensure_ascii=False.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
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
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
