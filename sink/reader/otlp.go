package reader

import (
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spansink/spansink/sink/format"
	"github.com/spansink/spansink/sink/spanid"
)

// decodeOTLPLine reads one otlp-json line (an ExportTraceServiceRequest) and
// appends its spans that pass the record-level filter, each in the same shape
// as a span the collector stored in the "dbgpt" format (metadata built by the
// collector's own encoder), so every command shows both formats alike.
//
// A DB-GPT start record converted to OTLP (a span marked dbgpt.record =
// "start", which ends when it starts) is read as the start record it was, with
// no end, so that it pairs with its end record as in a "dbgpt" file.
func (d *decoder) decodeOTLPLine(line []byte, file string, lineNo int, out []Span) ([]Span, error) {
	var unmarshaler ptrace.JSONUnmarshaler
	traces, err := unmarshaler.UnmarshalTraces(line)
	if err != nil {
		return out, fmt.Errorf("corrupt OTLP JSON: %w", err)
	}
	// A kept pdata span is the metadata's source: building the metadata
	// too is only needed to search it.
	wantMetadata := (d.needMetadata && !d.keepOTLP) || d.filter.Search != ""
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
					SpanType:  format.SpanType(ps.Attributes()),
					TraceID:   ps.TraceID().String(),
					SpanID:    ps.SpanID().String(),
					Operation: ps.Name(),
					Service:   service,
					Status:    otlpStatus(ps.Status().Code()),
					File:      file,
					Line:      lineNo,
				}
				if span.Service == "" && ss.Scope().Name() == format.DBGPTScopeName {
					// A converted DB-GPT record keeps its metadata, where
					// DB-GPT puts the service, as span attributes.
					if v, ok := ps.Attributes().Get("service.name"); ok {
						span.Service = v.AsString()
					}
				}
				if parent := ps.ParentSpanID(); spanid.Present(parent[:], spanid.SpanIDSize) {
					span.ParentSpanID = parent.String()
				}
				if ps.StartTimestamp() != 0 {
					span.Start = ps.StartTimestamp().AsTime().UTC()
				}
				if ps.EndTimestamp() != 0 && !isDBGPTStart(ps) {
					span.End = ps.EndTimestamp().AsTime().UTC()
				}
				if !d.filter.matchRecord(&span) {
					continue
				}
				if wantMetadata {
					span.Metadata = format.AppendOTLPMetadata(nil, rs, ss, ps)
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
				if !d.needMetadata || d.keepOTLP {
					span.Metadata = nil
				}
				if d.keepOTLP {
					span.OTLP = &OTLPSpan{Resource: rs, Scope: ss, Span: ps}
				}
				out = append(out, span)
			}
		}
	}
	return out, nil
}

// isDBGPTStart tells a DB-GPT start record that the collector converted to
// an OTLP span.
func isDBGPTStart(ps ptrace.Span) bool {
	v, ok := ps.Attributes().Get(format.DBGPTRecordAttribute)
	return ok && v.Type() == pcommon.ValueTypeStr && v.Str() == "start"
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
