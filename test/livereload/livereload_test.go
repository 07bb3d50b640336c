package livereload

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spansink/spansink/sink/access/accesstest"
	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/configstatus"
	"github.com/spansink/spansink/test/collectorproc"
)

// applyBound is how long a kubelet-style update may take to be in force:
// the directory watch sees the ..data swap at once and the collector reads
// the file 50 ms later; the rest is slack for a shared 2-core machine.
// (The poll, every --config-poll-interval, is the fallback; here it is an
// hour, so only the watch can apply a change in time.)
const applyBound = 2 * time.Second

// configYAML is a collector.yaml as the operator renders it. Listen
// addresses and the path come from the flags, which keep overriding it.
func configYAML(size int, interval time.Duration, maxQueued int, mode config.DeliveryMode, maxSize int64) []byte {
	return fmt.Appendf(nil, `batch:
  size: %d
  flushInterval: %s
  maxQueuedSpans: %d
delivery:
  mode: %s
storage:
  rotation:
    daily: false
    maxSizeBytes: %d
shutdownTimeout: 30s
`, size, interval, maxQueued, mode, maxSize)
}

type harness struct {
	t   *testing.T
	p   *collectorproc.Proc
	vol *accesstest.SecretVolume
	pid int
}

func (h *harness) status() configstatus.Status {
	h.t.Helper()
	code, body, err := h.p.Admin(configstatus.Path)
	if err != nil || code != http.StatusOK {
		h.t.Fatalf("GET /config: %d %v", code, err)
	}
	var s configstatus.Status
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		h.t.Fatalf("GET /config answered %q: %v", body, err)
	}
	return s
}

// update writes data the kubelet way and waits until /config shows it
// applied, within applyBound.
func (h *harness) update(what string, data []byte) configstatus.Status {
	h.t.Helper()
	before := h.status().Generation
	start := time.Now()
	h.vol.Update(h.t, map[string][]byte{config.FileName: data})
	for {
		s := h.status()
		if s.Generation > before {
			if s.AppliedHash != configstatus.Hash(data) {
				h.t.Fatalf("%s: applied hash %s, want the file's %s", what, s.AppliedHash, configstatus.Hash(data))
			}
			h.t.Logf("%s: in force after %s (generation %d)", what, time.Since(start).Round(time.Millisecond), s.Generation)
			return s
		}
		if time.Since(start) > applyBound {
			h.t.Fatalf("%s: not in force within %s; /config says %+v", what, applyBound, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *harness) metric(name string, labels ...string) float64 {
	h.t.Helper()
	v, ok := h.p.Metric(name, labels...)
	if !ok {
		h.t.Fatalf("/metrics has no %s %v", name, labels)
	}
	return v
}

// window measures, over d, how many flushes each trigger made and how many
// spans the file storage wrote.
func (h *harness) window(d time.Duration) (flushes map[string]float64, spans float64) {
	h.t.Helper()
	triggers := []string{"size", "interval", "request"}
	read := func() (map[string]float64, float64) {
		m := map[string]float64{}
		for _, tr := range triggers {
			m[tr] = h.metric("spansink_flushes_total", `trigger="`+tr+`"`)
		}
		return m, h.metric("spansink_spans_written_total", `storage="file"`)
	}
	f0, s0 := read()
	time.Sleep(d)
	f1, s1 := read()
	for _, tr := range triggers {
		f1[tr] -= f0[tr]
	}
	return f1, s1 - s0
}

func TestLiveReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	vol := accesstest.NewSecretVolume(t)
	vol.Update(t, map[string][]byte{config.FileName: configYAML(50, time.Hour, 100000, config.DeliveryBatched, 0)})
	p := collectorproc.Start(t, filepath.Join(t.TempDir(), "collector.log"),
		"--config", vol.Path(config.FileName), "--config-poll-interval", "1h",
		"--path", filepath.Join(dir, "spans.jsonl"))
	h := &harness{t: t, p: p, vol: vol, pid: p.PID()}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // a failed test must not leave the load running
	l := newLoad()
	stopLoad := l.run(ctx, "http://"+p.HTTPAddr, 4, 2*time.Millisecond)

	// Size 50, no interval to speak of: every flush is a size flush of 50.
	flushes, spans := h.window(time.Second)
	if flushes["size"] < 5 || flushes["interval"] != 0 {
		t.Fatalf("batch.size 50: flushes %v in a second, want only size flushes", flushes)
	}
	if per := spans / flushes["size"]; per < 45 || per > 60 {
		t.Fatalf("batch.size 50: %.0f spans per flush", per)
	}
	t.Logf("batch.size 50: %v flushes, %.0f spans/s", flushes, spans)

	// A size no load reaches and a 200 ms interval: about five interval
	// flushes a second and no size flush.
	h.update("size 100000, interval 200ms", configYAML(100000, 200*time.Millisecond, 100000, config.DeliveryBatched, 0))
	time.Sleep(300 * time.Millisecond) // the flush already under way may be a size one
	flushes, spans = h.window(2 * time.Second)
	if flushes["size"] != 0 || flushes["interval"] < 7 || flushes["interval"] > 12 {
		t.Fatalf("flushInterval 200ms: flushes %v in 2 s, want 7 to 12 interval flushes only", flushes)
	}
	t.Logf("flushInterval 200ms: %v flushes, %.0f spans per flush", flushes, spans/flushes["interval"])

	// A smaller queue: its bound is in force at once.
	h.update("maxQueuedSpans 5000", configYAML(500, 200*time.Millisecond, 5000, config.DeliveryBatched, 0))
	if got := h.metric("spansink_queue_capacity_spans"); got != 5000 {
		t.Fatalf("queue capacity %v, want 5000", got)
	}

	// Durable: each request is written and fsynced before its answer.
	syncs := h.metric("spansink_fsync_duration_seconds_count", `storage="file"`)
	h.update("delivery Durable", configYAML(500, 200*time.Millisecond, 5000, config.DeliveryDurable, 0))
	flushes, _ = h.window(time.Second)
	if flushes["request"] < 20 || flushes["size"]+flushes["interval"] > 1 {
		t.Fatalf("Durable: flushes %v in a second, want request flushes only", flushes)
	}
	if got := h.metric("spansink_fsync_duration_seconds_count", `storage="file"`); got < syncs+10 {
		t.Fatalf("Durable: %v fsyncs, want many more than the %v before", got, syncs)
	}

	// Size rotation at 64 KiB, written in Durable group commits.
	const maxSize = 64 << 10
	h.update("rotation.maxSizeBytes 64KiB", configYAML(500, 200*time.Millisecond, 5000, config.DeliveryDurable, maxSize))
	rotationsBefore := h.metric("spansink_file_rotations_total", `reason="size"`)
	time.Sleep(1500 * time.Millisecond)
	if got := h.metric("spansink_file_rotations_total", `reason="size"`); got < rotationsBefore+2 {
		t.Fatalf("size rotations %v, want at least 2 more than %v", got, rotationsBefore)
	}

	// A config that does not parse is refused, reported and counted; the
	// old one stays in force.
	good := h.status()
	bad := []byte("batch: {size: [\n")
	vol.Update(t, map[string][]byte{config.FileName: bad})
	deadline := time.Now().Add(applyBound)
	for h.status().RefusedHash == "" {
		if time.Now().After(deadline) {
			t.Fatalf("the bad config was not refused within %s", applyBound)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s := h.status()
	if s.RefusedHash != configstatus.Hash(bad) || !strings.Contains(s.RefusedError, "parse collector config") ||
		s.AppliedHash != good.AppliedHash || s.Generation != good.Generation {
		t.Fatalf("after a bad config /config says %+v", s)
	}
	if got := h.metric("spansink_config_reloads_total", `result="refused"`); got != 1 {
		t.Fatalf("refused reloads %v, want 1", got)
	}
	if got := h.metric("spansink_config_generation"); got != float64(good.Generation) {
		t.Fatalf("generation gauge %v, want %d", got, good.Generation)
	}
	flushes, _ = h.window(time.Second)
	if flushes["request"] < 20 || h.metric("spansink_queue_capacity_spans") != 5000 {
		t.Fatalf("after the refusal: flushes %v; the Durable config must stay in force", flushes)
	}

	stopLoad()
	if p.PID() != h.pid {
		t.Fatalf("PID changed from %d to %d", h.pid, p.PID())
	}
	select {
	case <-p.Exited():
		t.Fatal("the collector exited during the test")
	default:
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
	files, err := readSpanFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	count := map[uint64]int{}
	for _, f := range files {
		for _, id := range f.ids {
			count[id]++
		}
		// A rotated file ends before a write that would pass the limit;
		// only files written before the limit was set may be larger.
		if f.name != "spans.jsonl" && f.size > maxSize && rotatedAfterLimit(f.name) {
			t.Errorf("%s is %d bytes, over the 64 KiB limit", f.name, f.size)
		}
	}
	lost, dup := 0, 0
	for _, id := range acked {
		switch count[id] {
		case 0:
			lost++
		case 1:
		default:
			dup++
		}
	}
	if lost > 0 || dup > 0 || len(count) != len(acked) {
		t.Fatalf("%d acknowledged spans: %d lost, %d duplicated, %d stored in all", len(acked), lost, dup, len(count))
	}
	t.Logf("%d spans acknowledged, each stored exactly once in %d files; PID %d throughout", len(acked), len(files), h.pid)
}

// rotatedAfterLimit tells the size-rotated files (spans_<day>.<n>.jsonl,
// n ≥ 1) from the first rotated file of the day (spans_<day>.jsonl), which
// holds everything written before the limit was set.
func rotatedAfterLimit(name string) bool {
	return strings.Count(name, ".") == 2
}
