package replay

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// ExportError is an export that failed, classified as the OTLP
// specification classifies failures: a retryable one is sent again after a
// pause (the receiver's hint, RetryAfter, when it gave one), any other ends
// the replay.
type ExportError struct {
	Err        error
	Retryable  bool
	RetryAfter time.Duration
}

func (e *ExportError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *ExportError) Unwrap() error { return e.Err }

// retryableGRPC are the codes after which the same request may succeed:
// the OTLP specification's list (Cancelled aside, which is our own
// interruption), with ResourceExhausted, which receivers use for "slow
// down" (the collector's queue is full).
var retryableGRPC = map[codes.Code]bool{
	codes.Unavailable:       true,
	codes.ResourceExhausted: true,
	codes.DeadlineExceeded:  true,
	codes.Aborted:           true,
	codes.OutOfRange:        true,
	codes.DataLoss:          true,
}

// classifyGRPC classifies a failed gRPC export, reading the RetryInfo
// detail that tells how long to wait.
func classifyGRPC(err error) *ExportError {
	st, ok := status.FromError(err)
	if !ok {
		return &ExportError{Err: err, Retryable: true}
	}
	out := &ExportError{
		Err:       fmt.Errorf("gRPC %s: %s", st.Code(), st.Message()),
		Retryable: retryableGRPC[st.Code()],
	}
	for _, detail := range st.Details() {
		if info, ok := detail.(*errdetails.RetryInfo); ok && info.GetRetryDelay() != nil {
			out.RetryAfter = info.GetRetryDelay().AsDuration()
		}
	}
	return out
}

// retryableHTTP are the statuses the OTLP/HTTP specification says to
// retry: too many requests, and a gateway or receiver that is not there.
var retryableHTTP = map[int]bool{
	http.StatusTooManyRequests:    true,
	http.StatusBadGateway:         true,
	http.StatusServiceUnavailable: true,
	http.StatusGatewayTimeout:     true,
}

// classifyHTTP classifies a non-200 answer, with the message the receiver
// put in the body and the Retry-After it sent.
func classifyHTTP(resp *http.Response, body []byte) *ExportError {
	out := &ExportError{
		Err:       fmt.Errorf("HTTP %s%s", resp.Status, bodyMessage(resp.Header.Get("Content-Type"), body)),
		Retryable: retryableHTTP[resp.StatusCode],
	}
	out.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	return out
}

// classifyTransport classifies a request that got no answer: the receiver
// was not reachable, or took longer than the timeout. Both may pass.
func classifyTransport(err error) *ExportError {
	if errors.Is(err, context.Canceled) {
		return &ExportError{Err: err}
	}
	return &ExportError{Err: err, Retryable: true}
}

// bodyMessage is what an OTLP/HTTP error body says: a google.rpc.Status
// in protobuf, as the specification wants, or a short text.
func bodyMessage(contentType string, body []byte) string {
	if len(body) == 0 {
		return ""
	}
	if strings.HasPrefix(contentType, "application/x-protobuf") {
		var st spb.Status
		if proto.Unmarshal(body, &st) == nil && st.GetMessage() != "" {
			return ": " + st.GetMessage()
		}
	}
	text := strings.TrimSpace(strings.ToValidUTF8(string(body), "?"))
	if len(text) > 300 {
		text = text[:300] + "..."
	}
	return ": " + text
}

// parseRetryAfter reads a Retry-After header: seconds, or an HTTP date.
func parseRetryAfter(value string, now time.Time) time.Duration {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0
	}
	if secs, err := strconv.Atoi(value); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if at, err := http.ParseTime(value); err == nil && at.After(now) {
		return at.Sub(now)
	}
	return 0
}

// Backoff is how retries are paced: the first pause, growing by Factor up
// to Max, each made 20% shorter or longer at random so that replays
// started together do not retry together; and MaxElapsed, after which one
// request is given up on.
type Backoff struct {
	Initial, Max, MaxElapsed time.Duration
	Factor                   float64
}

// DefaultBackoff is the OpenTelemetry exporters' policy with a shorter
// first pause: a replay is a batch job, and a receiver restarting is
// usually back within a few seconds.
var DefaultBackoff = Backoff{Initial: 500 * time.Millisecond, Max: 30 * time.Second, MaxElapsed: 5 * time.Minute, Factor: 2}

// pause is the wait before retry number attempt (0 for the first retry):
// the receiver's hint when it gave one, else the growing backoff.
func (b Backoff) pause(attempt int, hint time.Duration, rng func() float64) time.Duration {
	if hint > 0 {
		return hint
	}
	d := float64(b.Initial)
	for range attempt {
		d *= b.Factor
		if d >= float64(b.Max) {
			d = float64(b.Max)
			break
		}
	}
	return time.Duration(d * (0.8 + 0.4*rng()))
}

// errInterrupted ends a replay that was asked to stop.
var errInterrupted = errors.New("interrupted")

// exportWithRetry sends td until the receiver acknowledges it, a
// non-retryable failure, the backoff's MaxElapsed, or stop. Each attempt
// runs under its own timeout and is not cut short by stop, so that a
// request in flight when the replay is interrupted is seen through and its
// acknowledgement recorded.
func exportWithRetry(stop <-chan struct{}, exporter Exporter, td ptrace.Traces, timeout time.Duration, backoff Backoff, onRetry func(error, time.Duration)) (Result, error) {
	started := time.Now()
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		result, err := exporter.Export(ctx, td)
		cancel()
		if err == nil {
			return result, nil
		}
		var exportErr *ExportError
		if !errors.As(err, &exportErr) {
			exportErr = &ExportError{Err: err}
		}
		if !exportErr.Retryable {
			return Result{}, fmt.Errorf("the receiver refused the request (not retryable): %w", exportErr)
		}
		wait := backoff.pause(attempt, exportErr.RetryAfter, rand.Float64)
		if elapsed := time.Since(started); elapsed+wait > backoff.MaxElapsed {
			return Result{}, fmt.Errorf("gave up after %d attempts in %s (--max-retry-time %s): %w", attempt+1, elapsed.Round(time.Millisecond), backoff.MaxElapsed, exportErr)
		}
		if onRetry != nil {
			onRetry(exportErr, wait)
		}
		select {
		case <-stop:
			return Result{}, fmt.Errorf("%w while waiting to retry: %w", errInterrupted, exportErr)
		case <-time.After(wait):
		}
	}
}
