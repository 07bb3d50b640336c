package ingest

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/format"
	"github.com/spansink/spansink/sink/record"
)

// waitingSubmitter answers like the batcher in Durable mode: Submit waits
// until the test lets it return, as it waits for the write and fsync. On
// entry it reads how much of the inflight budget is still charged.
type waitingSubmitter struct {
	budget  *InflightBudget
	entered chan int64 // the budget's bytes in use when Submit began
	proceed chan struct{}
	stored  chan int // the spans of each Submit that returned
}

func newWaitingSubmitter(budget *InflightBudget) *waitingSubmitter {
	return &waitingSubmitter{budget: budget, entered: make(chan int64, 1), proceed: make(chan struct{}), stored: make(chan int, 1)}
}

func (s *waitingSubmitter) Submit(ctx context.Context, records []record.Record) error {
	s.entered <- s.budget.InUse()
	select {
	case <-s.proceed:
	case <-ctx.Done():
		return ctx.Err()
	}
	spans := 0
	for _, r := range records {
		spans += r.Spans
	}
	s.stored <- spans
	return nil
}

// withOneZeroSpanID is spansTraces(n) with its first span's id all zeros,
// which the wire path declines: the request takes the pdata path.
func withOneZeroSpanID(n int) ptrace.Traces {
	td := spansTraces(n)
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetSpanID(pcommon.SpanID{})
	return td
}

// A request waiting for its Durable acknowledgement holds its records, not
// its body: the body goes back to its transport, and its bytes to the
// inflight budget, as soon as the spans are encoded. Otherwise a slow disk
// would fill the budget with bodies nobody reads any more, and refuse new
// requests for them.
func TestBodyReleasedBeforeDurableWait(t *testing.T) {
	const spans = 200
	protoBody := func(td ptrace.Traces) []byte {
		b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	jsonBody, err := ptraceotlp.NewExportRequestFromTraces(spansTraces(spans)).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	httpCases := []struct {
		name, path, contentType string
		body                    []byte
		wantSpans               int
	}{
		{"OTLP/HTTP protobuf, wire path", TracesPath, contentTypeProto, protoBody(spansTraces(spans)), spans},
		{"OTLP/HTTP protobuf, pdata path", TracesPath, contentTypeProto, protoBody(withOneZeroSpanID(spans)), spans - 1},
		{"OTLP/HTTP JSON", TracesPath, contentTypeJSON, jsonBody, spans},
		{"DB-GPT records", DBGPTPath, "application/json", dbgptRecords(spans), spans},
	}
	grpcCases := []struct {
		name      string
		td        ptrace.Traces
		wantSpans int
	}{
		{"OTLP/gRPC, wire path", spansTraces(spans), spans},
		{"OTLP/gRPC, pdata path", withOneZeroSpanID(spans), spans - 1},
	}
	for _, f := range []config.Format{config.FormatDBGPT, config.FormatOTLPJSON} {
		for _, tc := range httpCases {
			t.Run(string(f)+"/"+tc.name, func(t *testing.T) {
				budget, sub, opts := waitingOptions(t, f)
				srv := httptest.NewServer(NewHTTPHandler(opts))
				t.Cleanup(srv.Close)
				answered := make(chan *http.Response, 1)
				go func() {
					resp, err := http.Post(srv.URL+tc.path, tc.contentType, bytes.NewReader(tc.body))
					if err != nil {
						t.Error(err)
						close(answered)
						return
					}
					answered <- resp
				}()
				checkReleasedWhileWaiting(t, budget, sub, tc.wantSpans)
				resp := <-answered
				if resp == nil {
					return
				}
				got := readAll(t, resp)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d: %s", resp.StatusCode, got)
				}
			})
		}
		for _, tc := range grpcCases {
			t.Run(string(f)+"/"+tc.name, func(t *testing.T) {
				budget, sub, opts := waitingOptions(t, f)
				client := grpcClient(t, startGRPC(t, opts))
				answered := make(chan error, 1)
				go func() {
					_, err := client.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(tc.td))
					answered <- err
				}()
				checkReleasedWhileWaiting(t, budget, sub, tc.wantSpans)
				if err := <-answered; err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// waitingOptions are ingest options in format f with a waitingSubmitter and
// an inflight budget of their own, far larger than a request.
func waitingOptions(t *testing.T, f config.Format) (*InflightBudget, *waitingSubmitter, Options) {
	t.Helper()
	enc, err := format.NewEncoder(f)
	if err != nil {
		t.Fatal(err)
	}
	budget := NewInflightBudget(16<<20, nil)
	sub := newWaitingSubmitter(budget)
	return budget, sub, Options{
		Submitter: sub, Encoder: enc, Inflight: budget, MaxRequestBytes: 4 << 20,
		Metrics: NewMetrics(prometheus.NewRegistry()),
	}
}

// checkReleasedWhileWaiting waits for the request to reach Submit, requires
// that its body was no longer charged then, lets Submit return, and
// requires the spans stored and the budget empty.
func checkReleasedWhileWaiting(t *testing.T, budget *InflightBudget, sub *waitingSubmitter, wantSpans int) {
	t.Helper()
	select {
	case inUse := <-sub.entered:
		if inUse != 0 {
			t.Errorf("%d bytes of the inflight budget still charged while the request waits for its acknowledgement, want 0", inUse)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request never reached Submit")
	}
	close(sub.proceed)
	if got := <-sub.stored; got != wantSpans {
		t.Errorf("%d spans stored, want %d", got, wantSpans)
	}
	deadline := time.Now().Add(5 * time.Second)
	for budget.InUse() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := budget.InUse(); got != 0 {
		t.Errorf("%d bytes of the inflight budget charged after the request ended, want 0", got)
	}
}

// The releaser puts a body back once however often it is called: pooled
// twice, it would be handed to two requests at once.
func TestBodyReleaserIsIdempotent(t *testing.T) {
	budget := NewInflightBudget(1<<20, nil)
	body := getBody()
	req := httptest.NewRequest(http.MethodPost, TracesPath, strings.NewReader("0123456789"))
	if err := readBody(req, 1<<20, budget, body); err != nil {
		t.Fatal(err)
	}
	release := body.releaser()
	release()
	if got := budget.InUse(); got != 0 {
		t.Fatalf("%d bytes charged after release, want 0", got)
	}
	// Another request takes the pooled body and charges it again; the
	// first request's second release must leave that charge alone.
	again := getBody()
	req = httptest.NewRequest(http.MethodPost, TracesPath, strings.NewReader("abc"))
	if err := readBody(req, 1<<20, budget, again); err != nil {
		t.Fatal(err)
	}
	charged := budget.InUse()
	release()
	if got := budget.InUse(); got != charged || again.String() != "abc" {
		t.Fatalf("a second release changed another request's body: %d bytes charged (want %d), body %q", got, charged, again.String())
	}
	putBody(again)
}
