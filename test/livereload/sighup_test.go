package livereload

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/spansink/spansink/sink/configstatus"
	"github.com/spansink/spansink/test/collectorproc"
)

// A standalone collector reads its file again on SIGHUP. The file is a
// symlink into another directory, so the write raises no event where the
// collector watches, and the poll is an hour away: only the signal can
// apply it. Flags keep overriding the file: --batch-size stays 3.
func TestSIGHUPRereadsTheConfig(t *testing.T) {
	real := filepath.Join(t.TempDir(), "real.yaml")
	if err := os.WriteFile(real, []byte("batch: {flushInterval: 1h}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "collector.yaml")
	if err := os.Symlink(real, path); err != nil {
		t.Fatal(err)
	}
	p := collectorproc.Start(t, filepath.Join(t.TempDir(), "collector.log"),
		"--config", path, "--config-poll-interval", "1h", "--batch-size", "3",
		"--path", filepath.Join(t.TempDir(), "spans.jsonl"))
	h := &harness{t: t, p: p}
	changed := []byte("batch: {size: 500, flushInterval: 1h, maxQueuedSpans: 777}\n")
	if err := os.WriteFile(real, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if s := h.status(); s.Generation != 1 {
		t.Fatalf("applied without a signal: %+v", s)
	}
	if err := syscall.Kill(p.PID(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(applyBound)
	for h.status().Generation != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not apply the file within %s: %+v", applyBound, h.status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := h.status(); s.AppliedHash != configstatus.Hash(changed) {
		t.Fatalf("applied hash %s, want the file's", s.AppliedHash)
	}
	if got := h.metric("spansink_queue_capacity_spans"); got != 777 {
		t.Fatalf("queue capacity %v, want the file's 777", got)
	}
	// 10 spans with --batch-size 3 and an hour's interval: a size flush
	// proves the flag still wins over the file's 500.
	l := newLoad()
	l.send(t.Context(), "http://"+p.HTTPAddr)
	deadline = time.Now().Add(applyBound)
	for h.metric("spansink_flushes_total", `trigger="size"`) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no size flush: the file's batch.size 500 overrode --batch-size 3")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := p.Terminate(30 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
