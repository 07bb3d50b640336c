package jaegerproc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// ErrTraceNotFound is what Trace returns while Jaeger has no span of the
// trace (yet: receiving is asynchronous to the sender's acknowledgement
// only by microseconds, but a test should poll, e.g. with WaitForSpans).
var ErrTraceNotFound = errors.New("jaegerproc: trace not found")

// Span is one span as Jaeger stored it, read back through its query API.
type Span struct {
	TraceID      string // 32 lowercase hex digits
	SpanID       string // 16 lowercase hex digits
	ParentSpanID string // "" for a root span
	Name         string // the operation name
	Service      string // the resource's service.name
	Kind         string // ptrace.SpanKind's String: "Server", "Client", "Internal", ...
	Start        time.Time
	Duration     time.Duration
	// Attributes are the span's attributes (pcommon.Map.AsRaw: string,
	// bool, int64, float64, []any, map[string]any, []byte).
	Attributes map[string]any
	// Resource is the attributes of the span's resource, service.name too.
	Resource map[string]any
	// Scope is the name of the instrumentation scope.
	Scope string
	// StatusCode is "Unset", "Ok" or "Error"; StatusMessage its message.
	StatusCode, StatusMessage string
}

// Trace returns every span Jaeger holds of the trace traceIDHex (32 hex
// digits), or ErrTraceNotFound. It reads GET /api/v3/traces/{id} with
// raw_traces=true: the OTLP JSON of what was stored, without the query
// service's adjusters (clock skew, span-ID dedupe, attribute sorting) that
// the UI's /api/traces applies, so a test sees what it sent.
func (j *Jaeger) Trace(ctx context.Context, traceIDHex string) ([]Span, error) {
	u := j.QueryURL() + "/api/v3/traces/" + url.PathEscape(traceIDHex) + "?raw_traces=true"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", u, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, ErrTraceNotFound
	default:
		return nil, fmt.Errorf("GET %s: %s: %s", u, resp.Status, body)
	}
	// The body is {"result": <OTLP TracesData in protobuf JSON>}.
	var wrapper struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(body, &wrapper); err != nil {
		return nil, fmt.Errorf("decode %s: %w", u, err)
	}
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(wrapper.Result)
	if err != nil {
		return nil, fmt.Errorf("decode the OTLP JSON of %s: %w", u, err)
	}
	spans := flatten(td)
	if len(spans) == 0 {
		return nil, ErrTraceNotFound
	}
	return spans, nil
}

// WaitForSpans polls Trace until Jaeger holds at least n spans of the trace
// and returns them, or fails when ctx ends (give it a deadline).
func (j *Jaeger) WaitForSpans(ctx context.Context, traceIDHex string, n int) ([]Span, error) {
	for {
		spans, err := j.Trace(ctx, traceIDHex)
		if err == nil && len(spans) >= n {
			return spans, nil
		}
		if err != nil && !errors.Is(err, ErrTraceNotFound) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return spans, fmt.Errorf("trace %s: %d of %d spans in Jaeger: %w", traceIDHex, len(spans), n, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func flatten(td ptrace.Traces) []Span {
	var spans []Span
	for _, rs := range td.ResourceSpans().All() {
		resource := rs.Resource().Attributes().AsRaw()
		service, _ := resource["service.name"].(string)
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				var parent string
				if !sp.ParentSpanID().IsEmpty() {
					parent = sp.ParentSpanID().String()
				}
				spans = append(spans, Span{
					TraceID:       sp.TraceID().String(),
					SpanID:        sp.SpanID().String(),
					ParentSpanID:  parent,
					Name:          sp.Name(),
					Service:       service,
					Kind:          sp.Kind().String(),
					Start:         sp.StartTimestamp().AsTime(),
					Duration:      sp.EndTimestamp().AsTime().Sub(sp.StartTimestamp().AsTime()),
					Attributes:    sp.Attributes().AsRaw(),
					Resource:      resource,
					Scope:         ss.Scope().Name(),
					StatusCode:    sp.Status().Code().String(),
					StatusMessage: sp.Status().Message(),
				})
			}
		}
	}
	return spans
}
