package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc/codes"

	"github.com/spansink/spansink/sink/record"
	"github.com/spansink/spansink/sink/spanid"
)

// ingester is what the HTTP and gRPC front ends share: validation, encoding,
// submission and the mapping of failures to responses.
type ingester struct {
	opts     Options
	live     *LiveLimits
	otlpHTTP *protocolMetrics
	otlpGRPC *protocolMetrics
	dbgpt    *protocolMetrics
}

func newIngester(opts Options) *ingester {
	opts = opts.withDefaults()
	return &ingester{
		opts:     opts,
		live:     liveLimitsOf(opts),
		otlpHTTP: opts.Metrics.forProtocol(ProtocolOTLPHTTP),
		otlpGRPC: opts.Metrics.forProtocol(ProtocolOTLPGRPC),
		dbgpt:    opts.Metrics.forProtocol(ProtocolDBGPT),
	}
}

// partial describes the spans of an accepted request that were not stored,
// as OTLP's partial_success reports them.
type partial struct {
	rejected int
	message  string
}

// exportTraces stores the valid spans of td. Invalid spans are dropped and
// reported in the returned partial, together with the malformed spans the
// decoder already dropped; a non-nil error means no span of the request was
// stored. releaseBody, if not nil, is as submit takes it.
func (in *ingester) exportTraces(ctx context.Context, pm *protocolMetrics, td ptrace.Traces, malformed int, releaseBody func()) (partial, error) {
	received := td.SpanCount()
	pm.received.Add(float64(received + malformed))
	limits := in.live.load()
	if err := limits.checkSpanCount(received + malformed); err != nil {
		pm.reject(ReasonTooManySpans, received+malformed)
		return partial{}, err
	}
	pm.limited(limits.attrs.Apply(td))
	badTrace, badSpan := DropInvalidSpans(td)
	pm.reject(ReasonMalformedID, malformed)
	pm.reject(ReasonInvalidTraceID, badTrace)
	pm.reject(ReasonInvalidSpanID, badSpan)
	var p partial
	if rejected := malformed + badTrace + badSpan; rejected > 0 {
		p = partial{rejected: rejected, message: invalidSpansMessage(malformed, badTrace, badSpan)}
	}
	valid := received - badTrace - badSpan
	if valid == 0 {
		return p, nil
	}
	records, err := in.opts.Encoder.EncodeTraces(td)
	if err != nil {
		pm.reject(ReasonInternal, valid)
		return p, fmt.Errorf("encode spans: %w", err)
	}
	if err := in.submit(ctx, pm, records, valid, releaseBody); err != nil {
		return p, err
	}
	return p, nil
}

// checkSpanCount refuses a request of more spans than MaxSpansPerRequest:
// the queue could never take it, so a retry cannot help.
func (l *liveLimits) checkSpanCount(spans int) error {
	if limit := l.MaxSpansPerRequest; limit > 0 && spans > limit {
		return &TooManySpansError{Spans: spans, Limit: limit}
	}
	return nil
}

// submit hands records holding spans spans to the Submitter and counts the
// outcome. It first calls releaseBody, if not nil, which gives the
// request's body back to its transport: the records copy what they keep of
// it, and in Durable mode Submit waits for the write and fsync, which on a
// slow disk would otherwise hold every waiting request's body, and its
// share of the inflight budget, for nothing. The transport releases the
// body again when the request ends, so releaseBody must be idempotent.
func (in *ingester) submit(ctx context.Context, pm *protocolMetrics, records []record.Record, spans int, releaseBody func()) error {
	if releaseBody != nil {
		releaseBody()
	}
	if len(records) == 0 {
		return nil
	}
	if err := in.opts.Submitter.Submit(ctx, records); err != nil {
		f := classify(err)
		pm.reject(f.reason, spans)
		if f.reason == ReasonInternal {
			in.opts.Logger.Error(err, "submit spans", "protocol", pm.name, "spans", spans)
		} else {
			in.opts.Logger.V(1).Info("submit spans refused", "protocol", pm.name, "spans", spans, "reason", f.reason, "error", err)
		}
		return err
	}
	pm.accepted.Add(float64(spans))
	return nil
}

func invalidSpansMessage(malformed, badTrace, badSpan int) string {
	var parts []string
	if malformed > 0 {
		parts = append(parts, fmt.Sprintf("%d with a trace_id, span_id, parent_span_id or link id of the wrong length (OTLP requires 16-byte trace ids and 8-byte span ids)", malformed))
	}
	if badTrace > 0 {
		parts = append(parts, fmt.Sprintf("%d with an empty or all-zero trace_id (OTLP requires 16 non-zero bytes)", badTrace))
	}
	if badSpan > 0 {
		parts = append(parts, fmt.Sprintf("%d with an empty or all-zero span_id (OTLP requires 8 non-zero bytes)", badSpan))
	}
	return fmt.Sprintf("rejected %d spans: %s", malformed+badTrace+badSpan, strings.Join(parts, ", "))
}

// DropInvalidSpans removes spans whose trace or span id is empty (all
// zero), which OTLP forbids, and says how many had each fault. Ids of a
// wrong length never get this far: the decoders drop those spans.
func DropInvalidSpans(td ptrace.Traces) (badTrace, badSpan int) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				switch s := spans.At(k); {
				case !tracePresent(s):
					badTrace++
				case !spanPresent(s):
					badSpan++
				}
			}
		}
	}
	if badTrace+badSpan == 0 {
		return 0, 0
	}
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			sss.At(j).Spans().RemoveIf(func(s ptrace.Span) bool {
				return !tracePresent(s) || !spanPresent(s)
			})
		}
	}
	return badTrace, badSpan
}

func tracePresent(s ptrace.Span) bool {
	id := s.TraceID()
	return spanid.Present(id[:], spanid.TraceIDSize)
}

func spanPresent(s ptrace.Span) bool {
	id := s.SpanID()
	return spanid.Present(id[:], spanid.SpanIDSize)
}

// failure is how a refused submission is answered.
type failure struct {
	httpStatus int
	grpcCode   codes.Code
	reason     string
	// retryable failures carry Retry-After / RetryInfo.
	retryable bool
}

func classify(err error) failure {
	switch {
	// Too many spans for the queue is the client's to fix: not retryable,
	// and so without RetryInfo, which OTLP clients need to retry a
	// ResourceExhausted.
	case errors.Is(err, record.ErrTooLarge):
		return failure{http.StatusRequestEntityTooLarge, codes.ResourceExhausted, ReasonTooManySpans, false}
	case errors.Is(err, record.ErrQueueFull):
		return failure{http.StatusTooManyRequests, codes.ResourceExhausted, ReasonQueueFull, true}
	case errors.Is(err, record.ErrStopping):
		return failure{http.StatusServiceUnavailable, codes.Unavailable, ReasonStopping, true}
	case errors.Is(err, record.ErrStorageUnavailable):
		return failure{http.StatusServiceUnavailable, codes.Unavailable, ReasonStorageUnavailable, true}
	// A request whose context ended (the client went away or its deadline
	// passed) gets no retry hint: in Durable mode its records may already be
	// queued and will then be stored, so telling the client to resend would
	// invite duplicates. The outcome is unknown, and the answer says only
	// that the request ended.
	case errors.Is(err, context.DeadlineExceeded):
		return failure{http.StatusServiceUnavailable, codes.DeadlineExceeded, ReasonCanceled, false}
	case errors.Is(err, context.Canceled):
		return failure{http.StatusServiceUnavailable, codes.Canceled, ReasonCanceled, false}
	}
	return failure{http.StatusInternalServerError, codes.Internal, ReasonInternal, false}
}

// retryAfterSeconds is the Retry-After header value: whole seconds, at least 1.
func (in *ingester) retryAfterSeconds() string {
	secs := int64((in.opts.RetryAfter + 999_999_999) / 1_000_000_000)
	return strconv.FormatInt(max(secs, 1), 10)
}
