package spans

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The replay command against real receivers (Jaeger, a spansink
// collector) and the object store is tested in test/replay; these tests
// cover its command line and run it against an in-process OTLP/gRPC
// server built from pdata's own receiver code.

func TestCommandLineMistakesAreUsageErrors(t *testing.T) {
	dir := writeFixture(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no endpoint", []string{"replay", "--insecure", dir}, "--otlp-endpoint is required"},
		{"endpoint with a scheme", []string{"replay", "--otlp-endpoint", "http://localhost:4318", dir}, "without a scheme"},
		{"endpoint without a port", []string{"replay", "--otlp-endpoint", "localhost", dir}, "want HOST:PORT"},
		{"endpoint with a bad port", []string{"replay", "--otlp-endpoint", "localhost:99999", dir}, "port must be a number"},
		{"insecure with a CA", []string{"replay", "--otlp-endpoint", "h:1", "--insecure", "--ca-file", "ca.pem", dir}, "cannot go with --ca-file"},
		{"certificate without key", []string{"replay", "--otlp-endpoint", "h:1", "--cert-file", "c.pem", dir}, "go together"},
		{"header without a value", []string{"replay", "--otlp-endpoint", "h:1", "--insecure", "--header", "authorization", dir}, "want KEY=VALUE"},
		{"header with an empty key", []string{"replay", "--otlp-endpoint", "h:1", "--insecure", "--header", "=x", dir}, "want KEY=VALUE"},
		{"batch of zero", []string{"replay", "--otlp-endpoint", "h:1", "--insecure", "--batch", "0", dir}, "--batch must be at least 1"},
		{"negative rate", []string{"replay", "--otlp-endpoint", "h:1", "--insecure", "--rate", "-5", dir}, "--rate must not be negative"},
		{"zero timeout", []string{"replay", "--otlp-endpoint", "h:1", "--insecure", "--timeout", "0s", dir}, "--timeout must be positive"},
		{"negative retry time", []string{"replay", "--otlp-endpoint", "h:1", "--insecure", "--max-retry-time", "-1s", dir}, "--max-retry-time"},
		{"bad s3 URL", []string{"list", "s3:///traces"}, "no bucket"},
		{"s3 URL with a pattern", []string{"stats", "s3://spans/traces/*"}, "patterns"},
		{"bad s3 URL for replay", []string{"replay", "--otlp-endpoint", "h:1", "--insecure", "s3://Spans"}, "lowercase"},
		{"tail -f of the store", []string{"tail", "-f", "s3://spans/traces"}, "sealed files"},
		{"--path in the store", []string{"list", "--path", "s3://spans/traces"}, "give s3:// URLs as arguments"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := run(t, "", tc.args...)
			if ExitCode(err) != 2 || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("exit %d, error %v; want exit 2 saying %q", ExitCode(err), err, tc.want)
			}
		})
	}
}

// otlpReceiver is an in-process OTLP/gRPC server; refuse, when set, makes
// it answer a request with an error.
type otlpReceiver struct {
	ptraceotlp.UnimplementedGRPCServer
	mu       sync.Mutex
	requests int
	spanIDs  []string // trace id/span id
	refuse   func(request int) error
}

func (r *otlpReceiver) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if r.refuse != nil {
		if err := r.refuse(r.requests); err != nil {
			return ptraceotlp.NewExportResponse(), err
		}
	}
	for _, rs := range req.Traces().ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				r.spanIDs = append(r.spanIDs, s.TraceID().String()+"/"+s.SpanID().String())
			}
		}
	}
	return ptraceotlp.NewExportResponse(), nil
}

func startReceiver(t *testing.T, r *otlpReceiver) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, r)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return l.Addr().String()
}

// TestReplayFixture replays the fixture's directory: every span the reader
// lists arrives, but the two whose span ids are not hex ("c1", "c4"),
// which are reported instead.
func TestReplayFixture(t *testing.T) {
	receiver := &otlpReceiver{}
	addr := startReceiver(t, receiver)
	stdout, stderr, err := run(t, "", "replay", "--otlp-endpoint", addr, "--insecure", "--batch", "4", writeFixture(t))
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if len(receiver.spanIDs) != 9 || receiver.requests != 3 {
		t.Fatalf("%d spans in %d requests arrived, want 9 in 3", len(receiver.spanIDs), receiver.requests)
	}
	if !strings.HasPrefix(stdout, "9 span(s) sent in 3 request(s) in ") || !strings.Contains(stdout, "2 not sent (not convertible to OTLP)") {
		t.Fatalf("summary %q", stdout)
	}
	if strings.Count(stderr, "not sent:") != 2 || !strings.Contains(stderr, "span c1 not sent") {
		t.Fatalf("stderr %q, want a warning for each of c1 and c4", stderr)
	}
}

// TestReplayResumeAfterARefusal: the receiver refuses the second request;
// the replay stops with exit code 1 saying how far it got, and a second run
// with the same --resume sends exactly the rest.
func TestReplayResumeAfterARefusal(t *testing.T) {
	dir := writeFixture(t)
	state := filepath.Join(t.TempDir(), "replay.state")
	refusing := &otlpReceiver{refuse: func(n int) error {
		if n == 2 {
			return status.Error(codes.PermissionDenied, "tenant over quota")
		}
		return nil
	}}
	_, _, err := run(t, "", "replay", "--otlp-endpoint", startReceiver(t, refusing), "--insecure", "--batch", "4", "--resume", state, dir)
	if ExitCode(err) != 1 || !strings.Contains(err.Error(), "tenant over quota") || !strings.Contains(err.Error(), "4 spans were acknowledged") {
		t.Fatalf("exit %d: %v", ExitCode(err), err)
	}
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("no resume state: %v", err)
	}
	healthy := &otlpReceiver{}
	stdout, stderr, err := run(t, "", "replay", "--otlp-endpoint", startReceiver(t, healthy), "--insecure", "--batch", "4", "--resume", state, dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "recorded spans acknowledged by") {
		t.Errorf("no warning that the state came from another receiver: %q", stderr)
	}
	all := append(append([]string{}, refusing.spanIDs...), healthy.spanIDs...)
	distinct := map[string]bool{}
	for _, id := range all {
		distinct[id] = true
	}
	if len(refusing.spanIDs) != 4 || len(all) != 9 || len(distinct) != 9 {
		t.Fatalf("first run %d, both %d, distinct %d; want 4, 9, 9", len(refusing.spanIDs), len(all), len(distinct))
	}
	if !strings.Contains(stdout, "5 span(s) sent") || !strings.Contains(stdout, "4 skipped as acknowledged before") {
		t.Fatalf("summary %q", stdout)
	}
}

// TestReplayStopsWhenTheReceiverStaysAway: retries end after
// --max-retry-time with exit code 1.
func TestReplayStopsWhenTheReceiverStaysAway(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, stderr, err := run(t, "", "replay", "--otlp-endpoint", addr, "--insecure", "--max-retry-time", "1500ms", writeFixture(t))
	if ExitCode(err) != 1 || !strings.Contains(err.Error(), "gave up after") || !strings.Contains(err.Error(), "0 spans were acknowledged") {
		t.Fatalf("exit %d: %v", ExitCode(err), err)
	}
	if !strings.Contains(stderr, "retrying a request of 9 spans") {
		t.Fatalf("stderr %q, want the retries reported", stderr)
	}
}

// TestReplayFilters: the reader's filters choose what is replayed.
func TestReplayFilters(t *testing.T) {
	receiver := &otlpReceiver{}
	_, stderr, err := run(t, "", "replay", "--otlp-endpoint", startReceiver(t, receiver), "--insecure", "--trace-id", traceA, writeFixture(t))
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if len(receiver.spanIDs) != 4 {
		t.Fatalf("%d spans of trace A arrived, want 4", len(receiver.spanIDs))
	}
}

func TestStoreRegionComesFromTheFlagElseTheEnvironment(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	f := storeFlags{}
	if got := f.objectstoreEndpoint().Region; got != "" {
		t.Errorf("no flag, no environment: %q, want empty (objectstore's default)", got)
	}
	t.Setenv("AWS_DEFAULT_REGION", "eu-central-1")
	if got := f.objectstoreEndpoint().Region; got != "eu-central-1" {
		t.Errorf("AWS_DEFAULT_REGION: %q", got)
	}
	t.Setenv("AWS_REGION", "eu-west-1")
	if got := f.objectstoreEndpoint().Region; got != "eu-west-1" {
		t.Errorf("AWS_REGION over AWS_DEFAULT_REGION: %q", got)
	}
	f = storeFlags{region: "us-west-2", endpoint: "http://minio:9000", pathStyle: true, caFile: "/ca.pem"}
	e := f.objectstoreEndpoint()
	if e.Region != "us-west-2" || e.URL != "http://minio:9000" || !e.PathStyle || e.CAFile != "/ca.pem" || e.AccessKeyIDFile != "" {
		t.Errorf("endpoint %+v", e)
	}
}
