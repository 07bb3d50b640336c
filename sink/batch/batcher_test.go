package batch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/spansink/spansink/sink/record"
	"github.com/spansink/spansink/sink/storage"
	"github.com/spansink/spansink/sink/storage/memory"
	"github.com/spansink/spansink/sink/storage/rollingfile"
)

// recorder is a storage that remembers every batch it was given. It can be
// made to fail (a full disk) or to hold a write until released.
type recorder struct {
	name string

	mu      sync.Mutex
	batches [][]string
	failErr error
	gate    chan struct{} // when set, Write waits for it to close
	entered chan struct{} // receives once per Write call, if set
}

func newRecorder(name string) *recorder { return &recorder{name: name} }

func (r *recorder) Name() string { return r.name }

func (r *recorder) Write(batch []record.Record) error {
	r.mu.Lock()
	gate, entered := r.gate, r.entered
	r.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if gate != nil {
		<-gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failErr != nil {
		return r.failErr
	}
	lines := make([]string, len(batch))
	for i, rec := range batch {
		lines[i] = string(rec.Line)
	}
	r.batches = append(r.batches, lines)
	return nil
}

func (r *recorder) Sync() error  { return nil }
func (r *recorder) Close() error { return nil }

func (r *recorder) setFail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failErr = err
}

func (r *recorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var all []string
	for _, b := range r.batches {
		all = append(all, b...)
	}
	return all
}

func (r *recorder) batchSizes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var sizes []int
	for _, b := range r.batches {
		sizes = append(sizes, len(b))
	}
	return sizes
}

func recs(prefix string, n int) []record.Record {
	out := make([]record.Record, n)
	for i := range out {
		out[i] = record.Record{Line: fmt.Appendf(nil, `{"span_id":"%s-%d"}`, prefix, i), Spans: 1}
	}
	return out
}

// eventually polls cond until it holds or a generous deadline passes: the
// tests check outcomes, not speed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func newBatcher(t *testing.T, opts Options, storages ...storage.Storage) *Batcher {
	t.Helper()
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	opts.Logger = testr.New(t)
	if opts.Clock == nil {
		// Time stands still unless the test moves it: no retry or
		// interval flush happens behind a test's back.
		opts.Clock = newFakeClock()
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff = time.Millisecond
		opts.MaxBackoff = 10 * time.Millisecond
	}
	b, err := New(opts, storages...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.Close(ctx) // tests that care check Close themselves
	})
	return b
}

func mustSubmit(t *testing.T, b *Batcher, records []record.Record) {
	t.Helper()
	if err := b.Submit(context.Background(), records); err != nil {
		t.Fatalf("submit: %v", err)
	}
}

func TestFlushWhenSizeSpansWait(t *testing.T) {
	t.Parallel()
	rec := newRecorder("rec")
	b := newBatcher(t, Options{Size: 10, FlushInterval: time.Hour, MaxQueuedSpans: 100}, rec)
	mustSubmit(t, b, recs("a", 6))
	mustSubmit(t, b, recs("b", 3))
	if got := testutil.ToFloat64(b.opts.Metrics.flushes.WithLabelValues(TriggerSize)); got != 0 {
		t.Fatalf("flushed at 9 of 10 spans")
	}
	mustSubmit(t, b, recs("c", 1))
	eventually(t, "a batch of 10", func() bool { return len(rec.lines()) == 10 })
	if got := rec.batchSizes(); len(got) != 1 || got[0] != 10 {
		t.Fatalf("batches = %v, want one of 10", got)
	}
	if got := testutil.ToFloat64(b.opts.Metrics.flushes.WithLabelValues(TriggerSize)); got != 1 {
		t.Fatalf("size flushes = %v, want 1", got)
	}
}

func TestFlushWhenIntervalPasses(t *testing.T) {
	t.Parallel()
	rec := newRecorder("rec")
	clock := newFakeClock()
	b := newBatcher(t, Options{Size: 1000, FlushInterval: 20 * time.Millisecond, MaxQueuedSpans: 1000, Clock: clock}, rec)
	mustSubmit(t, b, recs("a", 3))
	// The flusher's timer is armed in New, so moving the clock by the
	// interval is what fires it, however late the goroutine runs.
	clock.Advance(20 * time.Millisecond)
	eventually(t, "the interval flush", func() bool { return len(rec.lines()) == 3 })
	if got := testutil.ToFloat64(b.opts.Metrics.flushes.WithLabelValues(TriggerInterval)); got < 1 {
		t.Fatalf("interval flushes = %v, want at least 1", got)
	}
	if got := testutil.ToFloat64(b.opts.Metrics.flushes.WithLabelValues(TriggerSize)); got != 0 {
		t.Fatalf("size flushes = %v, want 0", got)
	}
}

// TestFlushOnTheWallClock is the one test of the real clock, the one New
// uses when Options.Clock is nil: the others move a fake one.
func TestFlushOnTheWallClock(t *testing.T) {
	t.Parallel()
	rec := newRecorder("rec")
	b, err := New(Options{Size: 1000, FlushInterval: 20 * time.Millisecond, MaxQueuedSpans: 1000, Logger: testr.New(t)}, rec)
	if err != nil {
		t.Fatal(err)
	}
	mustSubmit(t, b, recs("a", 3))
	eventually(t, "the interval flush", func() bool { return len(rec.lines()) == 3 })
	if err := b.Close(context.Background()); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func TestQueueFullPushesBack(t *testing.T) {
	t.Parallel()
	rec := newRecorder("rec")
	rec.gate = make(chan struct{})
	b := newBatcher(t, Options{Size: 5, FlushInterval: time.Hour, MaxQueuedSpans: 10}, rec)
	mustSubmit(t, b, recs("a", 5)) // flushed, held in the storage's write
	mustSubmit(t, b, recs("b", 5)) // flushed, waiting behind it
	err := b.Submit(context.Background(), recs("c", 1))
	if !errors.Is(err, record.ErrQueueFull) {
		t.Fatalf("submit into a full queue: got %v, want ErrQueueFull", err)
	}
	if got := testutil.ToFloat64(b.opts.Metrics.queued); got != 10 {
		t.Fatalf("queue depth = %v, want 10", got)
	}
	close(rec.gate)
	eventually(t, "room in the queue", func() bool { return b.Submit(context.Background(), recs("d", 5)) == nil })
	eventually(t, "all accepted spans written", func() bool { return len(rec.lines()) == 15 })
	for _, l := range rec.lines() {
		if strings.Contains(l, `"c-`) {
			t.Fatalf("refused record %s was written", l)
		}
	}
}

// A request larger than the whole queue is refused even by an empty
// queue: taking it would break the crash-loss bound of MaxQueuedSpans.
func TestOversizedRequestRefused(t *testing.T) {
	t.Parallel()
	rec := newRecorder("rec")
	b := newBatcher(t, Options{Size: 5, FlushInterval: time.Hour, MaxQueuedSpans: 10}, rec)
	err := b.Submit(context.Background(), recs("big", 11))
	if !errors.Is(err, record.ErrTooLarge) {
		t.Fatalf("submit 11 spans into a queue of 10: got %v, want ErrTooLarge", err)
	}
	if want := "request holds more spans than the span queue can hold: 11 spans, the queue holds at most 10 (batch.maxQueuedSpans)"; err.Error() != want {
		t.Fatalf("error = %q, want %q", err, want)
	}
	if got := testutil.ToFloat64(b.opts.Metrics.queued); got != 0 {
		t.Fatalf("queue depth = %v, want 0", got)
	}
	// Exactly the queue's size still fits.
	mustSubmit(t, b, recs("full", 10))
	eventually(t, "the request of the queue's size written", func() bool { return len(rec.lines()) == 10 })
	for _, l := range rec.lines() {
		if strings.Contains(l, `"big-`) {
			t.Fatalf("refused record %s was written", l)
		}
	}
}

func TestFailingStorageNeitherBlocksOthersNorLosesData(t *testing.T) {
	t.Parallel()
	file := newRecorder("file")
	file.setFail(syscall.ENOSPC)
	ring := memory.New(100)
	clock := newFakeClock()
	b := newBatcher(t, Options{Size: 4, FlushInterval: time.Hour, MaxQueuedSpans: 100, Clock: clock}, file, ring)
	mustSubmit(t, b, recs("a", 4))

	eventually(t, "the ring to get the batch", func() bool { return len(ring.Recent(100)) == 4 })
	eventually(t, "not ready", func() bool { return errors.Is(b.Ready(), record.ErrStorageUnavailable) })
	if err := b.Submit(context.Background(), recs("b", 1)); !errors.Is(err, record.ErrStorageUnavailable) {
		t.Fatalf("submit while the file fails: got %v, want ErrStorageUnavailable", err)
	}
	if !strings.Contains(b.Ready().Error(), "no space left on device") {
		t.Fatalf("readiness %q does not say why", b.Ready())
	}
	if got := testutil.ToFloat64(b.opts.Metrics.errors.WithLabelValues("file", storage.CauseNoSpace)); got < 1 {
		t.Fatalf("storage errors = %v, want at least 1", got)
	}

	file.setFail(nil) // space freed
	advanceUntil(t, clock, "recovery", func() bool { return b.Ready() == nil })
	mustSubmit(t, b, recs("c", 4))
	eventually(t, "both batches in the file", func() bool { return len(file.lines()) == 8 })
	if got := file.batchSizes(); len(got) != 2 {
		t.Fatalf("file got batches %v, want the retried one once and the next", got)
	}
	if got := testutil.ToFloat64(b.opts.Metrics.healthy.WithLabelValues("file")); got != 1 {
		t.Fatalf("healthy gauge = %v after recovery", got)
	}
}

func TestCloseDrainsEverything(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := &rollingfile.RollingFile{Filename: filepath.Join(dir, "spans.jsonl"), Logger: testr.New(t)}
	b := newBatcher(t, Options{Size: 64, FlushInterval: time.Hour, MaxQueuedSpans: 100000}, file)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				mustSubmit(t, b, recs(fmt.Sprintf("g%d-%d", g, i), 3))
			}
		})
	}
	wg.Wait()
	if err := b.Close(context.Background()); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := b.Submit(context.Background(), recs("late", 1)); !errors.Is(err, record.ErrStopping) {
		t.Fatalf("submit after close: got %v, want ErrStopping", err)
	}
	if !errors.Is(b.Ready(), record.ErrStopping) {
		t.Fatalf("ready after close: %v", b.Ready())
	}
	data, err := os.ReadFile(filepath.Join(dir, "spans.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	seen := map[string]bool{}
	for _, l := range got {
		seen[l] = true
	}
	if len(got) != 8*50*3 || len(seen) != len(got) {
		t.Fatalf("file holds %d lines (%d distinct), want %d", len(got), len(seen), 8*50*3)
	}
	if got := testutil.ToFloat64(b.opts.Metrics.queued); got != 0 {
		t.Fatalf("queue depth after close = %v", got)
	}
}

func TestCloseGivesUpOnAFailingStorageAtTheDeadline(t *testing.T) {
	t.Parallel()
	file := newRecorder("file")
	file.setFail(syscall.EIO)
	b := newBatcher(t, Options{Size: 100, FlushInterval: time.Hour, MaxQueuedSpans: 1000}, file)
	mustSubmit(t, b, recs("a", 7))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := b.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "7 accepted spans not written") {
		t.Fatalf("close with a failing storage: got %v, want it to report 7 spans not written", err)
	}
	if got := testutil.ToFloat64(b.opts.Metrics.lost.WithLabelValues("file")); got != 7 {
		t.Fatalf("lost spans = %v, want 7", got)
	}
}

// syncTracker wraps the real rolling file and records which lines a
// completed Sync covered, so the test can tell written from durable.
type syncTracker struct {
	*rollingfile.RollingFile
	mu       sync.Mutex
	unsynced []string
	synced   map[string]bool
	syncs    int
}

func (s *syncTracker) Write(batch []record.Record) error {
	if err := s.RollingFile.Write(batch); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range batch {
		s.unsynced = append(s.unsynced, string(r.Line))
	}
	return nil
}

func (s *syncTracker) Sync() error {
	s.mu.Lock()
	pending := s.unsynced
	s.unsynced = nil
	s.mu.Unlock()
	if err := s.RollingFile.Sync(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.syncs++
	for _, l := range pending {
		s.synced[l] = true
	}
	return nil
}

func (s *syncTracker) isSynced(line string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.synced[line]
}

func TestDurableAcknowledgesOnlyWhatIsOnDisk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "spans.jsonl")
	file := &syncTracker{
		RollingFile: &rollingfile.RollingFile{Filename: path, Logger: testr.New(t)},
		synced:      map[string]bool{},
	}
	b := newBatcher(t, Options{Size: 1000, FlushInterval: time.Hour, MaxQueuedSpans: 100000, Durable: true}, file, memory.New(10))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				batch := recs(fmt.Sprintf("g%d-%d", g, i), 2)
				if err := b.Submit(context.Background(), batch); err != nil {
					t.Errorf("durable submit: %v", err)
					return
				}
				data, err := os.ReadFile(path)
				if err != nil {
					t.Error(err)
					return
				}
				for _, r := range batch {
					if !strings.Contains(string(data), string(r.Line)+"\n") {
						t.Errorf("acknowledged %s is not in the file", r.Line)
					}
					if !file.isSynced(string(r.Line)) {
						t.Errorf("acknowledged %s before it was fsynced", r.Line)
					}
				}
			}
		})
	}
	wg.Wait()
}

func TestDurableGroupCommit(t *testing.T) {
	t.Parallel()
	rec := newRecorder("file")
	rec.gate = make(chan struct{})
	rec.entered = make(chan struct{}, 10)
	b := newBatcher(t, Options{Size: 1000, FlushInterval: time.Hour, MaxQueuedSpans: 1000, Durable: true}, rec)
	acks := make(chan error, 4)
	submit := func(prefix string) {
		go func() { acks <- b.Submit(context.Background(), recs(prefix, 2)) }()
	}
	submit("first")
	<-rec.entered // the first write is under way
	for _, p := range []string{"x", "y", "z"} {
		submit(p)
	}
	eventually(t, "three requests queued behind the write", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.queued == 8
	})
	select {
	case err := <-acks:
		t.Fatalf("acknowledged before any write finished: %v", err)
	default:
	}
	close(rec.gate)
	for range 4 {
		if err := <-acks; err != nil {
			t.Fatalf("durable submit: %v", err)
		}
	}
	if got := rec.batchSizes(); len(got) != 2 || got[0] != 2 || got[1] != 6 {
		t.Fatalf("writes = %v, want [2 6]: the three waiting requests in one group commit", got)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	rec := newRecorder("rec")
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"zero size", Options{Size: 0, FlushInterval: time.Second, MaxQueuedSpans: 10}, "batch size"},
		{"zero interval", Options{Size: 1, MaxQueuedSpans: 10}, "flush interval"},
		{"queue below size", Options{Size: 10, FlushInterval: time.Second, MaxQueuedSpans: 5}, "max queued spans"},
	}
	for _, tc := range cases {
		if _, err := New(tc.opts, rec); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error about %s", tc.name, err, tc.want)
		}
	}
	if _, err := New(Options{Size: 1, FlushInterval: time.Second, MaxQueuedSpans: 1}); err == nil {
		t.Error("no storages: got no error")
	}
}
