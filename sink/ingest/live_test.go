package ingest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/spansink/spansink/sink/config"
)

// One LiveLimits shared by the HTTP handler and the gRPC service: a Set
// applies to the next request on both.
func TestLiveSpansPerRequest(t *testing.T) {
	live := NewLiveLimits(Limits{MaxSpansPerRequest: 5})
	env := newLimitEnv(t, config.FormatDBGPT, func(o *Options) { o.Live = live })
	client := grpcClient(t, startGRPC(t, env.opts))
	send := func() (httpStatus int, grpcCode codes.Code) {
		resp := post(t, env.baseURL+TracesPath, contentTypeProto, "", protoBody(t, spansTraces(6)))
		readAll(t, resp)
		_, err := client.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(spansTraces(6)))
		return resp.StatusCode, status.Code(err)
	}
	if h, g := send(); h != http.StatusRequestEntityTooLarge || g != codes.ResourceExhausted {
		t.Fatalf("6 spans at a limit of 5: HTTP %d, gRPC %s; want 413 and ResourceExhausted", h, g)
	}
	live.Set(Limits{MaxSpansPerRequest: 6})
	if h, g := send(); h != http.StatusOK || g != codes.OK {
		t.Fatalf("6 spans at a limit of 6: HTTP %d, gRPC %s; want 200 and OK", h, g)
	}
	if n := env.sub.count(); n != 12 {
		t.Fatalf("%d spans stored, want 12", n)
	}
	if got := live.Get(); got.MaxAttributesPerSpan != config.DefaultMaxAttributesPerSpan || got.MaxConcurrentRequests != config.DefaultMaxConcurrentRequests {
		t.Fatalf("unset limits not defaulted: %+v", got)
	}
}

func TestLiveAttributeLimits(t *testing.T) {
	for _, f := range []config.Format{config.FormatDBGPT, config.FormatOTLPJSON} { // each wire path, and the pdata path over the limits
		t.Run(string(f), func(t *testing.T) {
			live := NewLiveLimits(Limits{MaxAttributesPerSpan: 4, MaxAttributeValueBytes: 8})
			env := newLimitEnv(t, f, func(o *Options) { o.Live = live })
			stored := func() int {
				resp := post(t, env.baseURL+TracesPath, contentTypeProto, "", protoBody(t, limitedTraces()))
				if out := readAll(t, resp); resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d: %s", resp.StatusCode, out)
				}
				td := storedTraces(t, f, env.sub.records[env.sub.count()-1].Line)
				return td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().Len()
			}
			if n := stored(); n != 4 {
				t.Fatalf("kept %d attributes at a limit of 4", n)
			}
			live.Set(Limits{MaxAttributesPerSpan: 128})
			if n := stored(); n != 6 {
				t.Fatalf("kept %d attributes after raising the limit, want all 6", n)
			}
			if got := env.counter(t, "spansink_attributes_dropped_total", map[string]string{"protocol": ProtocolOTLPHTTP}); got == 0 {
				t.Fatal("the first request's dropped attributes were not counted")
			}
		})
	}
}

// Raising MaxConcurrentRequests lets a request in next to one that holds
// the only slot of the old limit; lowering it refuses again.
func TestLiveConcurrentRequests(t *testing.T) {
	live := NewLiveLimits(Limits{MaxConcurrentRequests: 1})
	env := newTestEnv(t, config.FormatDBGPT, nil)
	opts := env.opts
	opts.Live = live
	srv := httptest.NewServer(NewHTTPHandler(opts))
	defer srv.Close()

	pr, pw := io.Pipe()
	defer pw.CloseWithError(io.ErrUnexpectedEOF)
	go func() {
		if resp, err := http.Post(srv.URL+TracesPath, contentTypeProto, pr); err == nil {
			resp.Body.Close()
		}
	}()
	pw.Write(make([]byte, 1<<10)) // the slow request is being served
	time.Sleep(100 * time.Millisecond)

	status := func() int {
		resp := post(t, srv.URL+DBGPTPath, "application/json", "", []byte(`[]`))
		readAll(t, resp)
		return resp.StatusCode
	}
	if got := status(); got != http.StatusServiceUnavailable {
		t.Fatalf("second request at a limit of 1: %d, want 503", got)
	}
	live.Set(Limits{MaxConcurrentRequests: 2})
	if got := status(); got != http.StatusOK {
		t.Fatalf("second request at a limit of 2: %d, want 200", got)
	}
	live.Set(Limits{MaxConcurrentRequests: 1})
	resp := post(t, srv.URL+DBGPTPath, "application/json", "", []byte(`[]`))
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "limit of 1 concurrent requests") {
		t.Fatalf("back at a limit of 1: %d %s", resp.StatusCode, body)
	}
}

func TestInflightBudgetSetLimit(t *testing.T) {
	b := NewInflightBudget(10, nil)
	if !b.acquire(context.Background(), 8, time.Second) {
		t.Fatal("8 of 10 bytes not granted")
	}
	granted := make(chan bool)
	go func() { granted <- b.acquire(context.Background(), 5, 10*time.Second) }()
	time.Sleep(50 * time.Millisecond)
	if err := b.SetLimit(13); err != nil {
		t.Fatal(err)
	}
	select {
	case ok := <-granted:
		if !ok {
			t.Fatal("the waiter was refused")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("raising the limit did not grant the waiting request")
	}
	if err := b.SetLimit(4); err != nil {
		t.Fatal(err)
	}
	if b.acquire(context.Background(), 1, 20*time.Millisecond) {
		t.Fatal("granted a byte with 13 held of a budget of 4")
	}
	b.release(13)
	if b.Limit() != 4 || !b.acquire(context.Background(), 4, time.Second) {
		t.Fatalf("after release: limit %d, 4 bytes not granted", b.Limit())
	}
	if err := b.SetLimit(0); err == nil || !strings.Contains(err.Error(), "must be positive") {
		t.Fatalf("SetLimit(0): %v", err)
	}
}
