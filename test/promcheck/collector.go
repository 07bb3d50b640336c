package promcheck

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/test/collectorproc"
)

// The collector's limits and rotation are set low so that modest traffic
// makes every labelled series appear: truncated and dropped attributes, a
// size rotation, a request refused by the request timeout.
const (
	token         = "promcheck-token"
	rotateAtBytes = 4 << 10
	maxAttributes = 2
	maxValueBytes = 16
	// stalledRequestLimit is limits.requestTimeout: long enough that no
	// real request of the test (a Durable write waits for its fsync) runs
	// into it on a loaded machine.
	stalledRequestLimit = 5 * time.Second
)

var (
	collectorOnce    sync.Mutex
	collectorCatalog *Catalog
)

// CollectorCatalog returns the catalog of a real spansink collector: the
// binary (collectorproc) started with bearer tokens, a size rotation, low
// attribute limits and an object store that refuses connections, then sent
// OTLP/gRPC and OTLP/HTTP spans through the OpenTelemetry SDK's exporters,
// DB-GPT records, a record with no trace id, a request without a token and a
// request whose body never comes, and given a changed token file, so that
// every series it exports, labelled ones included, is in the scrape. The
// first caller of a test process pays for it; later ones share the result.
func CollectorCatalog(tb testing.TB) Catalog {
	tb.Helper()
	collectorOnce.Lock()
	defer collectorOnce.Unlock()
	if collectorCatalog == nil {
		c, err := scrapeDrivenCollector(tb)
		if err != nil {
			tb.Fatal(err)
		}
		collectorCatalog = &c
	}
	return *collectorCatalog
}

func scrapeDrivenCollector(tb testing.TB) (Catalog, error) {
	tb.Helper()
	work := tb.TempDir()
	tokenFile := filepath.Join(work, "tokens")
	configFile := filepath.Join(work, "collector.yaml")
	logFile := filepath.Join(work, "collector.log")
	if err := writeFiles(map[string]string{
		tokenFile:                         token + "\n",
		filepath.Join(work, "access-key"): "promcheck",
		filepath.Join(work, "secret-key"): "promcheck-secret",
	}); err != nil {
		return Catalog{}, err
	}
	refusingStore, err := freeLoopbackAddress()
	if err != nil {
		return Catalog{}, err
	}

	cfg := config.Default()
	cfg.Storage.Dir, cfg.Storage.Path = filepath.Join(work, "volume"), "spans.jsonl"
	cfg.Storage.Rotation.MaxSizeBytes = rotateAtBytes
	// Durable mode fsyncs, so the fsync histogram has observations.
	cfg.Delivery.Mode = config.DeliveryDurable
	cfg.Auth.BearerTokenFile = tokenFile
	cfg.Limits.MaxAttributesPerSpan = maxAttributes
	cfg.Limits.MaxAttributeValueBytes = maxValueBytes
	cfg.Limits.RequestTimeout = config.Duration(stalledRequestLimit)
	// Uploads fail against a port nothing listens on: the upload series
	// are all created at start, and a failing store sets them too.
	cfg.ObjectStore = config.ObjectStore{
		Endpoint: "http://" + refusingStore, Region: "us-east-1", Bucket: "spans", PathStyle: true,
		AccessKeyIDFile: filepath.Join(work, "access-key"), SecretAccessKeyFile: filepath.Join(work, "secret-key"),
		Namespace: "promcheck", Sink: "promcheck", Shard: 0,
	}
	rendered, err := cfg.Render()
	if err != nil {
		return Catalog{}, fmt.Errorf("render collector config: %w", err)
	}
	if err := os.WriteFile(configFile, rendered, 0o600); err != nil {
		return Catalog{}, err
	}
	proc := collectorproc.Start(tb, logFile, "--config", configFile)
	fail := func(err error) (Catalog, error) {
		return Catalog{}, fmt.Errorf("%w\ncollector log:\n%s", err, logTail(logFile))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The stalled request waits out the request timeout while the rest
	// of the traffic goes on.
	stalled := make(chan error, 1)
	go func() { stalled <- stallRequest(proc) }()
	if err := sendSDKSpans(ctx, proc); err != nil {
		return fail(err)
	}
	// DB-GPT records until the span file rotates for its size.
	record := `{"span_type":"base","trace_id":"promcheck","span_id":"promcheck:%d","parent_span_id":null,"operation_name":"` + strings.Repeat("o", 200) + `","start_time":"2026-12-01 10:00:00.000","end_time":null,"metadata":null}`
	for i := 0; i < 3*rotateAtBytes/200; i++ {
		if status, body, err := post(ctx, proc, "/v1/spans", "Bearer "+token, fmt.Sprintf(record, i)); err != nil || status != http.StatusOK {
			return fail(fmt.Errorf("post a DB-GPT record: %d %s %v", status, body, err))
		}
	}
	// A record without a trace id is rejected (spansink_spans_rejected_total).
	if status, body, err := post(ctx, proc, "/v1/spans", "Bearer "+token, `{"trace_id":"","span_id":"x"}`); err != nil || status != http.StatusBadRequest {
		return fail(fmt.Errorf("post a DB-GPT record without trace id: %d %s %v, want 400", status, body, err))
	}
	// No token (spansink_ingest_unauthenticated_total).
	if status, body, err := post(ctx, proc, "/v1/spans", "", `{}`); err != nil || status != http.StatusUnauthorized {
		return fail(fmt.Errorf("post without a token: %d %s %v, want 401", status, body, err))
	}
	if err := <-stalled; err != nil {
		return fail(err)
	}
	// A changed token file is read again (spansink_credentials_reloads_total).
	if err := os.WriteFile(tokenFile, []byte(token+"\nsecond-"+token+"\n"), 0o600); err != nil {
		return fail(err)
	}

	// Wait for what happens in the background: the rotation, the reload,
	// the object store found failing.
	for _, want := range []struct{ name, labels string }{
		{"spansink_file_rotations_total", `reason="size"`},
		{"spansink_credentials_reloads_total", `result="success"`},
		{"spansink_upload_failing", ""},
		{"spansink_requests_refused_total", `reason="request_timeout"`},
	} {
		if err := waitForCount(ctx, proc, want.name, want.labels); err != nil {
			return fail(err)
		}
	}
	c, err := Scrape("http://"+proc.AdminAddr+"/metrics", nil)
	if err != nil {
		return fail(err)
	}
	return c, nil
}

// sendSDKSpans exports spans through the OpenTelemetry SDK's OTLP/gRPC and
// OTLP/HTTP exporters, with more attributes than the limit and a value
// longer than it.
func sendSDKSpans(ctx context.Context, proc *collectorproc.Proc) error {
	headers := map[string]string{"Authorization": "Bearer " + token}
	grpcExporter, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(proc.GRPCAddr), otlptracegrpc.WithInsecure(), otlptracegrpc.WithHeaders(headers))
	if err != nil {
		return fmt.Errorf("make the OTLP/gRPC exporter: %w", err)
	}
	httpExporter, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(proc.HTTPAddr), otlptracehttp.WithInsecure(), otlptracehttp.WithHeaders(headers))
	if err != nil {
		return fmt.Errorf("make the OTLP/HTTP exporter: %w", err)
	}
	for i, exporter := range []sdktrace.SpanExporter{grpcExporter, httpExporter} {
		span := tracetest.SpanStub{
			Name: "promcheck",
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
				TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(i + 1)},
				SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i + 1)},
				TraceFlags: trace.FlagsSampled,
			}),
			StartTime: time.Now().Add(-time.Millisecond),
			EndTime:   time.Now(),
			Attributes: []attribute.KeyValue{
				attribute.String("long", strings.Repeat("v", 4*maxValueBytes)),
				attribute.Int("second", 2), attribute.Int("third", 3), attribute.Int("fourth", 4),
			},
		}
		if err := exporter.ExportSpans(ctx, tracetest.SpanStubs{span}.Snapshots()); err != nil {
			return fmt.Errorf("export a span with %T: %w", exporter, err)
		}
		if err := exporter.Shutdown(ctx); err != nil {
			return fmt.Errorf("shut down %T: %w", exporter, err)
		}
	}
	return nil
}

func post(ctx context.Context, proc *collectorproc.Proc, path, authorization, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+proc.HTTPAddr+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(answer), err
}

// stallRequest sends the headers of a request and none of the body it
// announces, so the request timeout refuses it
// (spansink_requests_refused_total).
func stallRequest(proc *collectorproc.Proc) error {
	conn, err := net.Dial("tcp", proc.HTTPAddr)
	if err != nil {
		return err
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/traces HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/x-protobuf\r\nContent-Length: 100\r\n\r\n", proc.HTTPAddr, token)
	if err := conn.SetReadDeadline(time.Now().Add(30 * stalledRequestLimit)); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return fmt.Errorf("read the answer to a stalled request: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		return fmt.Errorf("a stalled request got %s, want 408", resp.Status)
	}
	return nil
}

// waitForCount waits until a sample of name with labels (none: "") is above
// zero.
func waitForCount(ctx context.Context, proc *collectorproc.Proc, name, labels string) error {
	for {
		var matching []string
		if labels != "" {
			matching = append(matching, labels)
		}
		if value, ok := proc.Metric(name, matching...); ok && value > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s{%s} did not count anything", name, labels)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freeLoopbackAddress is a loopback address nothing listens on now: one to
// bind, or one that refuses connections.
func freeLoopbackAddress() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

func writeFiles(files map[string]string) error {
	for path, content := range files {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// logTail is the end of a log file, for a failure's message: the file is in
// the test's temporary directory, gone once the test ends.
func logTail(path string) string {
	const tail = 8 << 10
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(data) > tail {
		data = data[len(data)-tail:]
	}
	return string(data)
}
