package collector

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/spansink/spansink/sink/config"
)

// running is a collector serving in the background of a test.
type running struct {
	*Collector
	dir    string
	cancel context.CancelFunc
	done   chan error
}

// start runs a collector on 127.0.0.1 ports chosen by the kernel, writing
// into a temp dir.
func start(t *testing.T, mutate func(*config.Config)) *running {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = config.Listen{OTLPGRPC: "127.0.0.1:0", OTLPHTTP: "127.0.0.1:0", Admin: "127.0.0.1:0"}
	cfg.Storage.Dir = t.TempDir()
	cfg.Batch.Size = 50
	cfg.Batch.FlushInterval = config.Duration(50 * time.Millisecond)
	cfg.ShutdownTimeout = config.Duration(20 * time.Second)
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := New(cfg, testr.New(t))
	if err != nil {
		t.Fatalf("new collector: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Collector: c, dir: cfg.Storage.Dir, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// stop stops the collector as SIGTERM would and requires a clean exit.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("collector stopped with %v", err)
		}
		r.done <- nil // for the cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("collector did not stop")
	}
}

// storedLines reads every span file in dir (active and rotated) and
// decodes each line, failing on any line that is not a JSON object.
func storedLines(t *testing.T, dir string) []map[string]any {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > 0 && data[len(data)-1] != '\n' {
			t.Fatalf("%s does not end in a newline", e.Name())
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), 1<<26)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("%s holds a line that is not a JSON object: %q: %v", e.Name(), sc.Text(), err)
			}
			out = append(out, m)
		}
	}
	return out
}

func bySpanID(lines []map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, l := range lines {
		if id, ok := l["span_id"].(string); ok {
			out[id] = l
		}
	}
	return out
}

// makeSpans ends n spans with the SDK, as an exporter would receive them.
func makeSpans(t *testing.T, name string, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	var spans []sdktrace.ReadOnlySpan
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spanCollector{&spans}))
	tracer := tp.Tracer("spansink-test")
	for i := range n {
		_, s := tracer.Start(context.Background(), fmt.Sprintf("%s-%d", name, i))
		s.End()
	}
	return spans
}

// spanCollector keeps ended spans; it runs synchronously in End.
type spanCollector struct{ spans *[]sdktrace.ReadOnlySpan }

func (c spanCollector) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (c spanCollector) OnEnd(s sdktrace.ReadOnlySpan)                   { *c.spans = append(*c.spans, s) }
func (c spanCollector) Shutdown(context.Context) error                  { return nil }
func (c spanCollector) ForceFlush(context.Context) error                { return nil }

func TestOTelSDKExportersEndToEnd(t *testing.T) {
	t.Parallel()
	c := start(t, nil)
	addrs := c.Addrs()
	ctx := context.Background()

	grpcExp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(addrs.OTLPGRPC), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	httpExp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(addrs.OTLPHTTP), otlptracehttp.WithInsecure(), otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	if err != nil {
		t.Fatal(err)
	}
	viaGRPC, viaHTTP := makeSpans(t, "grpc", 120), makeSpans(t, "http", 80)
	if err := grpcExp.ExportSpans(ctx, viaGRPC); err != nil {
		t.Fatalf("export over gRPC: %v", err)
	}
	if err := httpExp.ExportSpans(ctx, viaHTTP); err != nil {
		t.Fatalf("export over HTTP: %v", err)
	}
	grpcExp.Shutdown(ctx)
	httpExp.Shutdown(ctx)
	c.stop(t)

	lines := storedLines(t, c.dir)
	stored := bySpanID(lines)
	if len(lines) != 200 {
		t.Fatalf("stored %d lines, want 200", len(lines))
	}
	for _, s := range append(viaGRPC, viaHTTP...) {
		id := s.SpanContext().SpanID()
		got, ok := stored[hex.EncodeToString(id[:])]
		if !ok {
			t.Fatalf("span %s (%s) is not in the files", id, s.Name())
		}
		tid := s.SpanContext().TraceID()
		if got["trace_id"] != hex.EncodeToString(tid[:]) || got["operation_name"] != s.Name() {
			t.Fatalf("span %s stored as %v", s.Name(), got)
		}
	}
}

const dbgptRecord = `{"span_type":"chat","trace_id":"%s","span_id":"%s","parent_span_id":null,"operation_name":"op","start_time":"2024-01-02 03:04:05.678","end_time":null,"metadata":{"k":"v"}}`

func dbgptBody(prefix string, n int) ([]byte, []string) {
	var body bytes.Buffer
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("0123456789abcdef0123456789abcdef:%s%010d", prefix, i)
		fmt.Fprintf(&body, dbgptRecord+"\n", "0123456789abcdef0123456789abcdef", ids[i])
	}
	return body.Bytes(), ids
}

func postDBGPT(client *http.Client, addr string, body []byte) (int, error) {
	resp, err := client.Post("http://"+addr+"/v1/spans", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestDBGPTOverHTTPAndTheAdminEndpoints(t *testing.T) {
	t.Parallel()
	c := start(t, func(cfg *config.Config) { cfg.Debug.Enabled = true })
	addrs := c.Addrs()
	body, ids := dbgptBody("a", 5)
	if code, err := postDBGPT(http.DefaultClient, addrs.OTLPHTTP, body); err != nil || code != http.StatusOK {
		t.Fatalf("post DB-GPT spans: %d %v", code, err)
	}
	admin := "http://" + addrs.Admin
	if code, body := get(t, admin+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if code, body := get(t, admin+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz: %d %s", code, body)
	}

	var recent []map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for len(recent) < 2 && time.Now().Before(deadline) {
		code, body := get(t, admin+"/debug/spans?limit=2")
		if code != http.StatusOK {
			t.Fatalf("/debug/spans: %d %s", code, body)
		}
		if err := json.Unmarshal([]byte(body), &recent); err != nil {
			t.Fatalf("/debug/spans is not a JSON array: %q", body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(recent) != 2 || recent[0]["span_id"] != ids[3] || recent[1]["span_id"] != ids[4] {
		t.Fatalf("/debug/spans?limit=2 = %v, want the last two records", recent)
	}
	for _, bad := range []string{"abc", "0", "-3", "1001"} {
		code, body := get(t, admin+"/debug/spans?limit="+bad)
		if code != http.StatusBadRequest || !strings.Contains(body, "limit must be a whole number from 1 to 1000") {
			t.Errorf("/debug/spans?limit=%s: %d %q, want 400 saying what limit takes", bad, code, body)
		}
	}
	_, metrics := get(t, admin+"/metrics")
	for _, want := range []string{`spansink_spans_written_total{storage="file"} 5`, `spansink_spans_accepted_total{protocol="dbgpt"} 5`, "spansink_queue_spans 0", "go_memstats_heap_alloc_bytes",
		"spansink_volume_capacity_bytes ", "spansink_volume_available_bytes "} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	c.stop(t)
	stored := bySpanID(storedLines(t, c.dir))
	for _, id := range ids {
		if stored[id]["metadata"].(map[string]any)["k"] != "v" {
			t.Fatalf("span %s stored as %v", id, stored[id])
		}
	}
}

// TestStopUnderLoadLosesNothing stops the collector (as SIGTERM does) while
// clients are sending, and checks that every span the collector accepted is
// in the files and nothing it refused is.
func TestStopUnderLoadLosesNothing(t *testing.T) {
	t.Parallel()
	for _, mode := range []config.DeliveryMode{config.DeliveryBatched, config.DeliveryDurable} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			c := start(t, func(cfg *config.Config) {
				cfg.Delivery.Mode = mode
				cfg.Batch.Size = 200
				cfg.Batch.FlushInterval = config.Duration(time.Second)
			})
			addr := c.Addrs().OTLPHTTP
			var (
				mu                sync.Mutex
				accepted, refused = map[string]bool{}, map[string]bool{}
				cutOff            = map[string]bool{}
				sawRefusal        = make(chan struct{})
				refusalOnce       sync.Once
				wg                sync.WaitGroup
				unknown           int
			)
			client := &http.Client{Timeout: 30 * time.Second}
			for w := range 6 {
				wg.Go(func() {
					for i := 0; ; i++ {
						body, ids := dbgptBody(fmt.Sprintf("w%di%d-", w, i), 20)
						code, err := postDBGPT(client, addr, body)
						mu.Lock()
						switch {
						case err == nil && code == http.StatusOK:
							for _, id := range ids {
								accepted[id] = true
							}
						case err == nil && code == http.StatusServiceUnavailable:
							for _, id := range ids {
								refused[id] = true
							}
							refusalOnce.Do(func() { close(sawRefusal) })
						default:
							// The server closed under us: the outcome is unknown
							// to the client, as after any network failure.
							unknown++
							for _, id := range ids {
								cutOff[id] = true
							}
						}
						mu.Unlock()
						if err != nil {
							return
						}
					}
				})
			}
			// Let load build up, then stop as SIGTERM would.
			deadline := time.Now().Add(10 * time.Second)
			for {
				mu.Lock()
				n := len(accepted)
				mu.Unlock()
				if n >= 2000 || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			c.cancel()
			err := <-c.done
			c.done <- nil
			wg.Wait()
			if err != nil {
				t.Fatalf("collector stopped with %v", err)
			}
			stored := bySpanID(storedLines(t, c.dir))
			for id := range accepted {
				if stored[id] == nil {
					t.Fatalf("accepted span %s is not in the files (%d accepted, %d stored)", id, len(accepted), len(stored))
				}
			}
			for id := range refused {
				if stored[id] != nil {
					t.Fatalf("refused span %s was stored", id)
				}
			}
			for id := range stored {
				if !accepted[id] && !cutOff[id] {
					t.Fatalf("stored span %s that no request sent", id)
				}
			}
			t.Logf("%s: accepted %d spans, refused %d, %d requests cut off by the stop", mode, len(accepted), len(refused), unknown)
			select {
			case <-sawRefusal:
			default:
				t.Logf("no request was refused with 503 during the drain")
			}
		})
	}
}
