package replay

import (
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// MaxRequestBytes bounds an encoded request: 4 MiB is what OTLP/gRPC
// receivers (the OpenTelemetry Collector, Jaeger, Tempo) take by default,
// and a larger one is refused whole. A batch whose spans encode to more is
// sent in halves; a single span larger than this is sent alone.
const MaxRequestBytes = 4<<20 - 64<<10

// batchEntry is one span of a batch and the input it came from. A span
// that cannot be an OTLP span (span nil) is not sent, but counted with its
// input all the same: it is done with, and a resumed replay skips it.
type batchEntry struct {
	span  *outgoing
	input string
}

// request is part of a batch encoded as one OTLP request, and how many of
// its spans came from each input (for the resume state).
type request struct {
	traces ptrace.Traces
	spans  int // spans to send: entries that are not nil
	inputs map[string]int64
	lastIn string // the input of the request's last span, for progress
}

// requests builds the batch's requests, splitting it until each encodes
// to at most maxBytes (a single span is never split).
func requests(entries []batchEntry, maxBytes int) []request {
	if len(entries) == 0 {
		return nil
	}
	req := buildRequest(entries)
	if len(entries) == 1 || (&ptrace.ProtoMarshaler{}).TracesSize(req.traces) <= maxBytes {
		return []request{req}
	}
	half := len(entries) / 2
	return append(requests(entries[:half], maxBytes), requests(entries[half:], maxBytes)...)
}

// buildRequest copies the entries' spans into one request, each resource
// and scope pair once, in the order of their first spans.
func buildRequest(entries []batchEntry) request {
	req := request{traces: ptrace.NewTraces(), inputs: map[string]int64{}}
	scopes := map[groupKey]ptrace.SpanSlice{}
	for _, e := range entries {
		req.inputs[e.input]++
		req.lastIn = e.input
		if e.span == nil {
			continue
		}
		req.spans++
		spans, ok := scopes[e.span.group]
		if !ok {
			rs := req.traces.ResourceSpans().AppendEmpty()
			e.span.resource.Resource().CopyTo(rs.Resource())
			rs.SetSchemaUrl(e.span.resource.SchemaUrl())
			ss := rs.ScopeSpans().AppendEmpty()
			e.span.scope.Scope().CopyTo(ss.Scope())
			ss.SetSchemaUrl(e.span.scope.SchemaUrl())
			spans = ss.Spans()
			scopes[e.span.group] = spans
		}
		e.span.span.CopyTo(spans.AppendEmpty())
	}
	return req
}
