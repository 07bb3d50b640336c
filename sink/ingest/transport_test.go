package ingest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spansink/spansink/sink/config"
)

func TestInflightBudget(t *testing.T) {
	b := NewInflightBudget(100, nil)
	if !b.acquire(context.Background(), 60, time.Millisecond) {
		t.Fatal("60 of 100 bytes refused")
	}
	if b.acquire(context.Background(), 50, 20*time.Millisecond) {
		t.Fatal("50 more bytes granted beyond the limit")
	}
	if b.acquire(context.Background(), 101, time.Hour) {
		t.Fatal("more than the whole budget granted")
	}
	granted := make(chan bool)
	go func() { granted <- b.acquire(context.Background(), 50, 5*time.Second) }()
	time.Sleep(20 * time.Millisecond)
	b.release(60)
	if !<-granted {
		t.Fatal("a waiter was not granted the bytes released")
	}
	if got := b.InUse(); got != 50 {
		t.Fatalf("in use %d, want 50", got)
	}
	b.charge(80) // beyond the limit, as the gRPC pool's forced charges are
	b.release(130)
	if got := b.InUse(); got != 0 {
		t.Fatalf("in use %d after releasing everything, want 0", got)
	}
	if msg := (errInflightFull{limit: 100}).Error(); !strings.Contains(msg, "limits.maxInflightBytes") {
		t.Fatalf("refusal %q does not name the limit", msg)
	}
}

// A body that declares 20 MiB and sends one byte holds the first chunk, not
// 20 MiB; a whole body is charged by its capacity, and released by putBody.
func TestBodyGrowsAsDataArrives(t *testing.T) {
	budget := NewInflightBudget(64<<20, nil)
	pr, pw := io.Pipe()
	r := httptest.NewRequest(http.MethodPost, TracesPath, pr)
	r.ContentLength = 20 << 20
	body := new(requestBody)
	done := make(chan error, 1)
	go func() { done <- readBody(r, 20<<20, budget, body) }()
	pw.Write([]byte("x"))
	time.Sleep(20 * time.Millisecond)
	if got := budget.InUse(); got != firstBodyChunk {
		t.Fatalf("after 1 byte of a declared 20 MiB: %d bytes charged, want %d", got, firstBodyChunk)
	}
	pw.Write(make([]byte, 3<<20))
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if body.Len() != 3<<20+1 || int64(body.Cap()) != budget.InUse() || body.Cap() > 2*body.Len() {
		t.Fatalf("len %d cap %d charged %d", body.Len(), body.Cap(), budget.InUse())
	}
	putBody(body)
	if got := budget.InUse(); got != 0 {
		t.Fatalf("%d bytes charged after putBody", got)
	}
}

// Requests beyond MaxConcurrentRequests and bodies beyond the budget are
// answered 503 with Retry-After and a message naming the limit, and counted.
func TestHTTPTransportRefusals(t *testing.T) {
	env := newTestEnv(t, config.FormatDBGPT, nil)
	opts := env.opts
	opts.MaxConcurrentRequests = 1
	opts.Inflight = NewInflightBudget(64<<10, nil)
	srv := httptest.NewServer(NewHTTPHandler(opts))
	defer srv.Close()

	// One slow request holds the only slot and, once 40 KiB arrived, the
	// whole 64 KiB budget.
	pr, pw := io.Pipe()
	go func() {
		resp, err := http.Post(srv.URL+TracesPath, contentTypeProto, pr)
		if err == nil {
			resp.Body.Close()
		}
	}()
	pw.Write(make([]byte, 40<<10))
	time.Sleep(100 * time.Millisecond)

	resp := post(t, srv.URL+DBGPTPath, "application/json", "", []byte(`[]`))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	msg, _ := errorMessage(t, resp, body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(msg, "limits.maxConcurrentRequests") {
		t.Errorf("beyond the concurrency cap: %d Retry-After %q %q", resp.StatusCode, resp.Header.Get("Retry-After"), msg)
	}
	if got := env.counter(t, "spansink_requests_refused_total", map[string]string{"protocol": ProtocolDBGPT, "reason": RefusedConcurrentRequests}); got != 1 {
		t.Errorf("concurrency refusals counted %v, want 1", got)
	}
	pw.CloseWithError(io.ErrUnexpectedEOF)
}
