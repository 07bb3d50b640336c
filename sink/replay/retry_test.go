package replay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestClassifyGRPC(t *testing.T) {
	withRetryInfo := func(code codes.Code, delay time.Duration) error {
		st, err := status.New(code, "slow down").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(delay)})
		if err != nil {
			t.Fatal(err)
		}
		return st.Err()
	}
	cases := []struct {
		name      string
		err       error
		retryable bool
		after     time.Duration
	}{
		{"unavailable", status.Error(codes.Unavailable, "connection refused"), true, 0},
		{"resource exhausted", status.Error(codes.ResourceExhausted, "queue full"), true, 0},
		{"resource exhausted with RetryInfo", withRetryInfo(codes.ResourceExhausted, 3*time.Second), true, 3 * time.Second},
		{"unavailable with RetryInfo", withRetryInfo(codes.Unavailable, 250*time.Millisecond), true, 250 * time.Millisecond},
		{"deadline exceeded", status.Error(codes.DeadlineExceeded, "timeout"), true, 0},
		{"aborted", status.Error(codes.Aborted, "x"), true, 0},
		{"invalid argument", status.Error(codes.InvalidArgument, "bad span"), false, 0},
		{"unauthenticated", status.Error(codes.Unauthenticated, "no token"), false, 0},
		{"permission denied", status.Error(codes.PermissionDenied, "no"), false, 0},
		{"unimplemented", status.Error(codes.Unimplemented, "no traces service"), false, 0},
		{"cancelled (our interruption)", status.Error(codes.Canceled, "context canceled"), false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := classifyGRPC(tc.err)
			if got.Retryable != tc.retryable || got.RetryAfter != tc.after {
				t.Fatalf("retryable %v after %s, want %v after %s", got.Retryable, got.RetryAfter, tc.retryable, tc.after)
			}
			if !strings.Contains(got.Error(), status.Convert(tc.err).Message()) {
				t.Fatalf("message %q lacks the receiver's %q", got.Error(), status.Convert(tc.err).Message())
			}
		})
	}
}

func TestClassifyHTTP(t *testing.T) {
	statusBody, err := proto.Marshal(&spb.Status{Code: int32(codes.InvalidArgument), Message: "span 3 has no trace id"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cases := []struct {
		name        string
		status      int
		header      http.Header
		body        []byte
		retryable   bool
		after       time.Duration
		wantMessage string
	}{
		{"429 with seconds", 429, http.Header{"Retry-After": {"7"}}, nil, true, 7 * time.Second, "429"},
		{"502", 502, nil, []byte("bad gateway"), true, 0, "bad gateway"},
		{"503 with a date", 503, http.Header{"Retry-After": {now.Add(90 * time.Second).UTC().Format(http.TimeFormat)}}, nil, true, 89 * time.Second, "503"},
		{"504", 504, nil, nil, true, 0, "504"},
		{"400 with a google.rpc.Status", 400, http.Header{"Content-Type": {"application/x-protobuf"}}, statusBody, false, 0, "span 3 has no trace id"},
		{"401", 401, nil, []byte("missing bearer token\n"), false, 0, "missing bearer token"},
		{"413", 413, nil, nil, false, 0, "413"},
		{"500", 500, nil, nil, false, 0, "500"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			header := tc.header
			if header == nil {
				header = http.Header{}
			}
			resp := &http.Response{StatusCode: tc.status, Status: fmt.Sprintf("%d %s", tc.status, http.StatusText(tc.status)), Header: header}
			got := classifyHTTP(resp, tc.body)
			if got.Retryable != tc.retryable {
				t.Fatalf("retryable %v, want %v", got.Retryable, tc.retryable)
			}
			if got.RetryAfter < tc.after || got.RetryAfter > tc.after+2*time.Second {
				t.Fatalf("retry after %s, want about %s", got.RetryAfter, tc.after)
			}
			if !strings.Contains(got.Error(), tc.wantMessage) {
				t.Fatalf("message %q, want it to contain %q", got.Error(), tc.wantMessage)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"12":                            12 * time.Second,
		"-3":                            0,
		"soon":                          0,
		"Tue, 01 Dec 2026 10:00:30 GMT": 30 * time.Second,
		"Tue, 01 Dec 2026 09:59:00 GMT": 0, // in the past
	}
	for value, want := range cases {
		if got := parseRetryAfter(value, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", value, got, want)
		}
	}
}

func TestBackoffGrowsToItsMaximum(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Factor: 2, MaxElapsed: time.Minute}
	middle := func() float64 { return 0.5 } // no jitter
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for attempt, w := range want {
		if got := b.pause(attempt, 0, middle); got != w*time.Millisecond {
			t.Errorf("attempt %d: %s, want %s", attempt, got, w*time.Millisecond)
		}
	}
	if got := b.pause(0, 5*time.Second, middle); got != 5*time.Second {
		t.Errorf("the receiver's hint %s was not honoured: %s", 5*time.Second, got)
	}
	low, high := b.pause(0, 0, func() float64 { return 0 }), b.pause(0, 0, func() float64 { return 0.999999 })
	if low != 80*time.Millisecond || high < 119*time.Millisecond || high > 120*time.Millisecond {
		t.Errorf("jitter gives %s to %s, want 80ms to 120ms", low, high)
	}
}

// scriptedExporter answers from a list, then acknowledges everything.
type scriptedExporter struct {
	answers []error
	calls   int
}

func (e *scriptedExporter) Export(context.Context, ptrace.Traces) (Result, error) {
	e.calls++
	if len(e.answers) == 0 {
		return Result{}, nil
	}
	err := e.answers[0]
	e.answers = e.answers[1:]
	return Result{}, err
}

func (e *scriptedExporter) Close() error { return nil }

func TestExportWithRetry(t *testing.T) {
	fast := Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, Factor: 2, MaxElapsed: 2 * time.Second}
	retryable := &ExportError{Err: errors.New("busy"), Retryable: true}
	refused := &ExportError{Err: errors.New("HTTP 400 Bad Request: no")}

	t.Run("retries until acknowledged", func(t *testing.T) {
		e := &scriptedExporter{answers: []error{retryable, retryable, retryable}}
		retries := 0
		if _, err := exportWithRetry(nil, e, ptrace.NewTraces(), time.Second, fast, func(error, time.Duration) { retries++ }); err != nil {
			t.Fatal(err)
		}
		if e.calls != 4 || retries != 3 {
			t.Fatalf("%d calls and %d retries, want 4 and 3", e.calls, retries)
		}
	})
	t.Run("stops at a refusal", func(t *testing.T) {
		e := &scriptedExporter{answers: []error{retryable, refused}}
		_, err := exportWithRetry(nil, e, ptrace.NewTraces(), time.Second, fast, nil)
		if err == nil || !strings.Contains(err.Error(), "not retryable") || !strings.Contains(err.Error(), "HTTP 400") {
			t.Fatalf("error %v, want the refusal", err)
		}
		if e.calls != 2 {
			t.Fatalf("%d calls, want 2", e.calls)
		}
	})
	t.Run("gives up after the maximum time", func(t *testing.T) {
		always := make([]error, 1000)
		for i := range always {
			always[i] = retryable
		}
		e := &scriptedExporter{answers: always}
		short := fast
		short.MaxElapsed = 50 * time.Millisecond
		started := time.Now()
		_, err := exportWithRetry(nil, e, ptrace.NewTraces(), time.Second, short, nil)
		if err == nil || !strings.Contains(err.Error(), "gave up after") {
			t.Fatalf("error %v, want it to give up", err)
		}
		if took := time.Since(started); took > time.Second {
			t.Fatalf("gave up after %s, want about 50ms", took)
		}
	})
	t.Run("no retries with a maximum of zero", func(t *testing.T) {
		e := &scriptedExporter{answers: []error{retryable}}
		none := fast
		none.MaxElapsed = 0
		if _, err := exportWithRetry(nil, e, ptrace.NewTraces(), time.Second, none, nil); err == nil || e.calls != 1 {
			t.Fatalf("%d calls, error %v; want one call and an error", e.calls, err)
		}
	})
	t.Run("an interruption ends the wait", func(t *testing.T) {
		e := &scriptedExporter{answers: []error{&ExportError{Err: errors.New("busy"), Retryable: true, RetryAfter: time.Hour}}}
		stop := make(chan struct{})
		close(stop)
		long := fast
		long.MaxElapsed = 2 * time.Hour
		_, err := exportWithRetry(stop, e, ptrace.NewTraces(), time.Second, long, nil)
		if !errors.Is(err, errInterrupted) {
			t.Fatalf("error %v, want an interruption", err)
		}
	})
}
