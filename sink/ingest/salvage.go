package ingest

import (
	"bytes"
	"encoding/json"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/spansink/spansink/sink/spanid"
)

// pdata refuses a whole request when one span has an id of the wrong
// length, but OTLP asks for the valid spans to be kept and the invalid ones
// reported as a partial success. When pdata fails, the salvage functions
// re-read the request with a decoder that takes ids of any length, drop the
// spans whose ids are malformed, and re-encode the rest for pdata. They run
// only on that failure path, so well-formed traffic pays nothing for them.

// salvageProto drops spans with malformed ids from a protobuf request. ok
// is false when the request is undecodable for another reason, or nothing
// was dropped (so the original error stands).
func salvageProto(body []byte) (fixed []byte, dropped int, ok bool) {
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		return nil, 0, false
	}
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			kept := ss.Spans[:0]
			for _, s := range ss.GetSpans() {
				if protoIDsValid(s) {
					kept = append(kept, s)
				} else {
					dropped++
				}
			}
			ss.Spans = kept
		}
	}
	if dropped == 0 {
		return nil, 0, false
	}
	fixed, err := proto.Marshal(&req)
	if err != nil {
		return nil, 0, false
	}
	return fixed, dropped, true
}

func protoIDsValid(s *tracepb.Span) bool {
	if !spanid.WireLength(s.GetTraceId(), spanid.TraceIDSize) || !spanid.WireLength(s.GetSpanId(), spanid.SpanIDSize) ||
		!spanid.WireLength(s.GetParentSpanId(), spanid.SpanIDSize) {
		return false
	}
	for _, l := range s.GetLinks() {
		if !spanid.WireLength(l.GetTraceId(), spanid.TraceIDSize) || !spanid.WireLength(l.GetSpanId(), spanid.SpanIDSize) {
			return false
		}
	}
	return true
}

// salvageJSON is salvageProto for the OTLP JSON mapping. Field names may be
// lowerCamelCase or the proto names, as the mapping allows; numbers are
// kept as written.
func salvageJSON(body []byte) (fixed []byte, dropped int, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var req map[string]any
	if err := dec.Decode(&req); err != nil {
		return nil, 0, false
	}
	for _, rs := range jsonList(req, "resourceSpans", "resource_spans") {
		for _, ss := range jsonList(rs, "scopeSpans", "scope_spans") {
			key, spans := jsonListKey(ss, "spans")
			if key == "" {
				continue
			}
			kept := spans[:0]
			for _, s := range spans {
				if jsonIDsValid(s) {
					kept = append(kept, s)
				} else {
					dropped++
				}
			}
			ss[key] = kept
		}
	}
	if dropped == 0 {
		return nil, 0, false
	}
	fixed, err := json.Marshal(req)
	if err != nil {
		return nil, 0, false
	}
	return fixed, dropped, true
}

func jsonIDsValid(span any) bool {
	obj, ok := span.(map[string]any)
	if !ok {
		// Not an object: leave it for pdata to refuse the request.
		return true
	}
	if !jsonIDValid(obj, spanid.TraceIDSize, "traceId", "trace_id") || !jsonIDValid(obj, spanid.SpanIDSize, "spanId", "span_id") ||
		!jsonIDValid(obj, spanid.SpanIDSize, "parentSpanId", "parent_span_id") {
		return false
	}
	for _, l := range jsonList(obj, "links") {
		if !jsonIDValid(l, spanid.TraceIDSize, "traceId", "trace_id") || !jsonIDValid(l, spanid.SpanIDSize, "spanId", "span_id") {
			return false
		}
	}
	return true
}

func jsonIDValid(obj map[string]any, size int, keys ...string) bool {
	for _, k := range keys {
		v, present := obj[k]
		if !present {
			continue
		}
		s, isString := v.(string)
		if !isString || !spanid.HexWireLength(s, size) {
			return false
		}
	}
	return true
}

// jsonList returns the objects in the first of keys that holds an array.
func jsonList(obj map[string]any, keys ...string) []map[string]any {
	_, list := jsonListKey(obj, keys...)
	var out []map[string]any
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func jsonListKey(obj map[string]any, keys ...string) (string, []any) {
	for _, k := range keys {
		if list, ok := obj[k].([]any); ok {
			return k, list
		}
	}
	return "", nil
}
