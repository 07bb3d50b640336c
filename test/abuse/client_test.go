package abuse

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/spansink/spansink/test/collectorproc"
)

// Limits every test runs the collector with: a short request timeout so
// that attacks are cut within the test's few seconds, and a budget small
// enough that exceeding it would show in the process's memory.
const (
	requestTimeout   = 2 * time.Second
	maxInflightBytes = 32 << 20
	maxRequestBytes  = 20 << 20
)

// startCollector runs the collector with the test limits and a span file
// in a temp dir, and returns it with the span file's path.
func startCollector(t *testing.T) (*collectorproc.Proc, string) {
	t.Helper()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "collector.yaml")
	cfg := fmt.Sprintf("limits:\n  requestTimeout: %s\n  maxInflightBytes: %d\n  maxRequestBytes: %d\nbatch:\n  flushInterval: 100ms\n",
		requestTimeout, maxInflightBytes, maxRequestBytes)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	spans := filepath.Join(dir, "spans.jsonl")
	p := collectorproc.Start(t, filepath.Join(dir, "collector.log"), "--config", cfgFile, "--path", spans)
	return p, spans
}

// goodClient is the well-behaved client: it POSTs one small valid OTLP
// request at a time, retrying what the collector refuses with a retry hint
// (503, 429) as an OTLP exporter does, and remembers the spans stored.
type goodClient struct {
	url    string
	client *http.Client

	mu       sync.Mutex
	accepted []string    // span names the collector acknowledged
	during   int         // acknowledged while the attack was on
	refusals map[int]int // status → count, of answers that were retried
	attack   func() bool // reports whether the attack is on
}

func newGoodClient(p *collectorproc.Proc, attack func() bool) *goodClient {
	return &goodClient{
		url:      "http://" + p.HTTPAddr + "/v1/traces",
		client:   &http.Client{Timeout: 10 * time.Second},
		refusals: map[int]int{},
		attack:   attack,
	}
}

// run sends requests until ctx ends, each retried until acknowledged.
func (g *goodClient) run(ctx context.Context, t *testing.T) {
	for i := 0; ctx.Err() == nil; i++ {
		name := fmt.Sprintf("good-%d", i)
		body := otlpBody(t, name)
		for ctx.Err() == nil {
			status, err := g.post(ctx, body)
			if err == nil && status == http.StatusOK {
				g.mu.Lock()
				g.accepted = append(g.accepted, name)
				if g.attack() {
					g.during++
				}
				g.mu.Unlock()
				break
			}
			if err == nil && status != http.StatusServiceUnavailable && status != http.StatusTooManyRequests {
				t.Errorf("good client: %s answered %d", name, status)
				return
			}
			g.mu.Lock()
			g.refusals[status]++
			g.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// servedDuringAttack counts the requests acknowledged while the attack was on.
func (g *goodClient) servedDuringAttack() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.during
}

func (g *goodClient) post(ctx context.Context, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := g.client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// check fails the test unless the client got spans stored while the
// attack was on, and every span acknowledged is in the span file once the
// collector has stopped.
func (g *goodClient) check(t *testing.T, p *collectorproc.Proc, spanFile string) {
	t.Helper()
	g.mu.Lock()
	accepted, during, refusals := g.accepted, g.during, g.refusals
	g.mu.Unlock()
	t.Logf("good client: %d requests acknowledged, %d of them during the attack; retried refusals %v", len(accepted), during, refusals)
	if during == 0 {
		t.Errorf("the good client got no request acknowledged during the attack")
	}
	if code := p.Terminate(30 * time.Second); code != 0 {
		t.Fatalf("collector exited %d", code)
	}
	data, err := os.ReadFile(spanFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range accepted {
		if !bytes.Contains(data, []byte(`"`+name+`"`)) {
			t.Errorf("span %s was acknowledged but is not in %s", name, spanFile)
		}
	}
}

// otlpBody is an OTLP/protobuf request of one valid span named name.
func otlpBody(t *testing.T, name string) []byte {
	td := ptrace.NewTraces()
	span := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetName(name)
	var tid [16]byte
	var sid [8]byte
	copy(tid[:], strings.Repeat(name, 16))
	copy(sid[:], strings.Repeat(name, 8))
	tid[15], sid[7] = 1, 1
	span.SetTraceID(pcommon.TraceID(tid))
	span.SetSpanID(pcommon.SpanID(sid))
	now := time.Now()
	span.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
	span.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// memoryWatch samples the collector's /proc status every 20 ms until
// stopped, so a short peak between two looks is not missed (VmHWM catches
// it too; the samples show when it was).
type memoryWatch struct {
	stop chan struct{}
	done chan struct{}
	peak collectorproc.Status
}

func watchMemory(p *collectorproc.Proc) *memoryWatch {
	w := &memoryWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if s, err := p.ProcStatus(); err == nil {
				w.peak.RSSBytes = max(w.peak.RSSBytes, s.RSSBytes)
				w.peak.HWMBytes = max(w.peak.HWMBytes, s.HWMBytes)
				w.peak.Threads = max(w.peak.Threads, s.Threads)
			}
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// Stop ends the sampling and returns the peaks seen.
func (w *memoryWatch) Stop() collectorproc.Status {
	close(w.stop)
	<-w.done
	return w.peak
}

// mib formats bytes as MiB for messages.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
