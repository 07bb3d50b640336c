package replay

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spansink/spansink/sink/access/accesstest"
	"github.com/spansink/spansink/sink/reader/readertest"
)

// TestReplayWithMutualTLSAndAToken replays into a collector that serves
// TLS, wants a client certificate of its CA and a bearer token: with
// --ca-file, --cert-file, --key-file and --header the spans arrive, over
// gRPC and HTTP; without the token the collector refuses, which is not
// worth retrying, and the replay stops at once with exit code 1.
func TestReplayWithMutualTLSAndAToken(t *testing.T) {
	f := sharedFixture(t)
	dir := t.TempDir()
	ca := accesstest.NewCA(t, "receiver-ca")
	server := ca.Server(t, "collector")
	client := ca.Client(t, "replay")
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	caFile := write("ca.pem", ca.PEM)
	tokens := write("tokens", []byte("# replay's token\nreplay-token-1\n"))
	rx := startReceiver(t, t.TempDir(),
		"--tls-cert-file", write("server.pem", server.CertPEM), "--tls-key-file", write("server.key", server.KeyPEM),
		"--tls-client-ca-file", caFile, "--bearer-token-file", tokens)
	tlsFlags := []string{"--ca-file", caFile, "--cert-file", write("client.pem", client.CertPEM), "--key-file", write("client.key", client.KeyPEM)}

	sent := 0
	for _, protocol := range []struct {
		name string
		args []string
	}{
		{"grpc", []string{"--otlp-endpoint", rx.proc.GRPCAddr}},
		{"http", []string{"--otlp-endpoint", rx.proc.HTTPAddr, "--otlp-http"}},
	} {
		t.Run(protocol.name, func(t *testing.T) {
			base := append(append([]string{"spans", "replay"}, protocol.args...), tlsFlags...)
			started := time.Now()
			refused := spansink(t, nil, append(base, f.shards[0]...)...)
			if refused.code != 1 || !strings.Contains(refused.stderr, "not retryable") || time.Since(started) > 20*time.Second {
				t.Fatalf("without a token: exit %d after %s:\n%s", refused.code, time.Since(started), refused.stderr)
			}
			t.Logf("without a token: %s", lastLine(refused.stderr))
			res := spansink(t, nil, append(append(base, "--header", "Authorization=Bearer replay-token-1"), f.shards[0]...)...).mustSucceed(t, "replay with a token")
			if !strings.Contains(res.stdout, " span(s) sent") {
				t.Fatalf("summary %q", res.stdout)
			}
			sent += spansOf(t, f.shards[0])
			if got := rx.acknowledged(t); got != sent {
				t.Fatalf("the collector acknowledged %d spans, want %d", got, sent)
			}
		})
	}
	t.Run("insecure against TLS", func(t *testing.T) {
		res := spansink(t, nil, append([]string{"spans", "replay", "--otlp-endpoint", rx.proc.GRPCAddr, "--insecure", "--max-retry-time", "2s"}, f.shards[0]...)...)
		if res.code != 1 || !strings.Contains(res.stderr, "gave up after") {
			t.Fatalf("exit %d:\n%s", res.code, res.stderr)
		}
	})
}

// spansOf is how many spans the reader lists in files.
func spansOf(t *testing.T, files []string) int {
	t.Helper()
	res := spansink(t, nil, append([]string{"spans", "list", "--limit", "0", "-o", "json"}, files...)...).mustSucceed(t, "list")
	return strings.Count(res.stdout, "\n")
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestReplayThroughput replays many spans into a collector and into
// Jaeger, and reports the rate; it fails only if spans go missing.
func TestReplayThroughput(t *testing.T) {
	const spans = 100000
	path := filepath.Join(t.TempDir(), "spans_2026-12-01.jsonl")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := readertest.Write(out, spans); err != nil {
		t.Fatal(err)
	}
	out.Close()

	t.Run("collector over gRPC", func(t *testing.T) {
		rx := startReceiver(t, t.TempDir(), "--delivery", "Batched", "--max-queued-spans", "1000000")
		res := spansink(t, nil, "spans", "replay", "--otlp-endpoint", rx.proc.GRPCAddr, "--insecure", path).mustSucceed(t, "replay")
		t.Logf("%s", strings.TrimSpace(res.stdout))
		// Generated trace 0 has the all-zero trace id, which the collector
		// refuses span by span and says so (partial success).
		const invalid = readertest.SpansPerTrace
		if got := rx.acknowledged(t); got != spans-invalid || !strings.Contains(res.stdout, fmt.Sprintf(", %d rejected by the receiver", invalid)) {
			t.Fatalf("the collector acknowledged %d of %d spans; summary %q", got, spans, res.stdout)
		}
	})
	t.Run("jaeger over HTTP", func(t *testing.T) {
		j := startJaeger(t)
		res := spansink(t, nil, "spans", "replay", "--otlp-endpoint", j.OTLPHTTPAddr(), "--otlp-http", "--insecure", path).mustSucceed(t, "replay")
		t.Logf("%s", strings.TrimSpace(res.stdout))
		if !strings.HasPrefix(res.stdout, "100000 span(s) sent") {
			t.Fatalf("summary %q", res.stdout)
		}
		last := readertest.TraceID((spans - 1) / readertest.SpansPerTrace)
		if _, err := j.WaitForSpans(testContext(t, time.Minute), last, readertest.SpansPerTrace); err != nil {
			t.Fatal(err)
		}
	})
}
