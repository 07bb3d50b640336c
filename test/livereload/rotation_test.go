package livereload

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/spansink/spansink/sink/access/accesstest"
	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/test/collectorproc"
)

// rotationYAML is a collector.yaml with small size rotation and the given
// compression, retention and attribute limit.
func rotationYAML(compress config.Compression, maxFiles, maxAttributes int) []byte {
	return fmt.Appendf(nil, `batch:
  size: 50
  flushInterval: 100ms
storage:
  rotation:
    daily: false
    maxSizeBytes: 16384
    compress: %s
    maxFiles: %d
limits:
  maxAttributesPerSpan: %d
`, compress, maxFiles, maxAttributes)
}

// rotated lists the rotated span files in dir (not the active one).
func rotated(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, "spans_") && !strings.HasSuffix(n, ".tmp") {
			names = append(names, n)
		}
	}
	return names
}

// waitFor polls cond until it holds or applyBound plus the mill's pass is
// over.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(applyBound + 3*time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, applyBound+3*time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// postAttributes sends one span with three attributes and returns the
// collector's count of attributes dropped by the per-span limit after it.
func postAttributes(t *testing.T, p *collectorproc.Proc) float64 {
	t.Helper()
	td := ptrace.NewTraces()
	s := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetTraceID(pcommon.TraceID{9, 9, 9, 1})
	s.SetSpanID(pcommon.SpanID{9, 9, 9, byte(time.Now().UnixNano())})
	s.SetName("attributes")
	for _, k := range []string{"a", "b", "c"} {
		s.Attributes().PutStr(k, "v")
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+p.HTTPAddr+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("span with attributes: status %d", resp.StatusCode)
	}
	dropped, _ := p.Metric("spansink_attributes_dropped_total", `protocol="otlp_http"`)
	return dropped
}

// The rotation fields and the attribute limit change under load like the
// batch fields: compression of the files rotated from then on, retention
// of what is already there, and the limit of the next request.
func TestLiveRotationRetentionAndAttributeLimit(t *testing.T) {
	dir := t.TempDir()
	vol := accesstest.NewSecretVolume(t)
	vol.Update(t, map[string][]byte{config.FileName: rotationYAML(config.CompressionNone, 0, 128)})
	p := collectorproc.Start(t, filepath.Join(t.TempDir(), "collector.log"),
		"--config", vol.Path(config.FileName), "--config-poll-interval", "1h",
		"--path", filepath.Join(dir, "spans.jsonl"))
	h := &harness{t: t, p: p, vol: vol, pid: p.PID()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := newLoad()
	stopLoad := l.run(ctx, "http://"+p.HTTPAddr, 4, 2*time.Millisecond)

	waitFor(t, "files rotated at 16 KiB", func() bool { return len(rotated(t, dir)) >= 3 })
	for _, n := range rotated(t, dir) {
		if strings.HasSuffix(n, ".zst") {
			t.Fatalf("%s compressed before compression was set", n)
		}
	}
	if dropped := postAttributes(t, p); dropped != 0 {
		t.Fatalf("%v attributes dropped under the limit of 128", dropped)
	}

	h.update("compress zstd", rotationYAML(config.CompressionZstd, 0, 128))
	waitFor(t, "rotated files compressed with zstd", func() bool {
		for _, n := range rotated(t, dir) {
			if strings.HasSuffix(n, ".zst") {
				return true
			}
		}
		return false
	})

	h.update("maxFiles 2", rotationYAML(config.CompressionZstd, 2, 128))
	waitFor(t, "at most 2 rotated files kept", func() bool { return len(rotated(t, dir)) <= 2 })

	h.update("maxAttributesPerSpan 1", rotationYAML(config.CompressionZstd, 2, 1))
	if dropped := postAttributes(t, p); dropped != 2 {
		t.Fatalf("%v attributes dropped, want the 2 over the new limit of 1", dropped)
	}

	stopLoad()
	if p.PID() != h.pid {
		t.Fatalf("PID changed from %d to %d", h.pid, p.PID())
	}
	if code := p.Terminate(30 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	acked, answers := l.result()
	for status, n := range answers {
		if status != http.StatusOK {
			t.Errorf("%d requests answered %d; want every request acknowledged", n, status)
		}
	}
	t.Logf("%d spans acknowledged across the changes; rotated files left: %v", len(acked), rotated(t, dir))
}
