package batch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/spansink/spansink/sink/record"
)

// journal is a recorder that also notes every Sync, so a test can tell
// which writes were fsynced before their acknowledgement.
type journal struct {
	*recorder
	mu     sync.Mutex
	events []string
}

func newJournal() *journal { return &journal{recorder: newRecorder("file")} }

func (j *journal) Write(batch []record.Record) error {
	if err := j.recorder.Write(batch); err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, fmt.Sprintf("write %d", len(batch)))
	return nil
}

func (j *journal) Sync() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, "sync")
	return nil
}

func (j *journal) log() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.events)
}

func flushes(b *Batcher, trigger string) float64 {
	return testutil.ToFloat64(b.opts.Metrics.flushes.WithLabelValues(trigger))
}

func TestReconfigureSmallerSizeFlushesWhatWaits(t *testing.T) {
	t.Parallel()
	rec := newRecorder("rec")
	b := newBatcher(t, Options{Size: 100, FlushInterval: time.Hour, MaxQueuedSpans: 1000}, rec)
	mustSubmit(t, b, recs("a", 30))
	if err := b.Reconfigure(Tuning{Size: 20, FlushInterval: time.Hour, MaxQueuedSpans: 1000}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the 30 waiting spans flushed", func() bool { return len(rec.lines()) == 30 })
	mustSubmit(t, b, recs("b", 19))
	if got := flushes(b, TriggerSize); got != 1 {
		t.Fatalf("size flushes = %v after 19 of 20 spans, want 1", got)
	}
	mustSubmit(t, b, recs("c", 1))
	eventually(t, "a batch of the new size", func() bool { return len(rec.lines()) == 50 })
	if got := rec.batchSizes(); !slices.Equal(got, []int{30, 20}) {
		t.Fatalf("batches = %v, want [30 20]", got)
	}
	if got := flushes(b, TriggerSize); got != 2 {
		t.Fatalf("size flushes = %v, want 2", got)
	}
}

func TestReconfigureIntervalTakesEffectAtOnce(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		from, to time.Duration
	}{
		{"shorter: the hour-long timer is cut short", time.Hour, 30 * time.Millisecond},
		{"longer: no flush before the new interval", 20 * time.Millisecond, time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := newRecorder("rec")
			clock := newFakeClock()
			b := newBatcher(t, Options{Size: 1000, FlushInterval: tc.from, MaxQueuedSpans: 1000, Clock: clock}, rec)
			if err := b.Reconfigure(Tuning{Size: 1000, FlushInterval: tc.to, MaxQueuedSpans: 1000}); err != nil {
				t.Fatal(err)
			}
			start := clock.Now()
			mustSubmit(t, b, recs("a", 3))
			if tc.to > tc.from {
				// Ten old intervals, each with a pause in which a flusher
				// still on the old one would flush.
				for range 10 {
					clock.Advance(tc.from)
					time.Sleep(time.Millisecond)
				}
				if n := len(rec.lines()); n != 0 {
					t.Fatalf("%d spans flushed on the old interval %s", n, tc.from)
				}
				return
			}
			advanceUntil(t, clock, "the interval flush", func() bool { return len(rec.lines()) == 3 })
			if took := clock.Now().Sub(start); took > time.Second {
				t.Fatalf("flushed after %s, want about %s", took, tc.to)
			}
			if got := flushes(b, TriggerInterval); got < 1 {
				t.Fatalf("interval flushes = %v", got)
			}
		})
	}
}

func TestReconfigureShrunkQueuePushesBackUntilDrained(t *testing.T) {
	t.Parallel()
	rec := newRecorder("rec")
	rec.gate = make(chan struct{})
	b := newBatcher(t, Options{Size: 5, FlushInterval: time.Hour, MaxQueuedSpans: 100}, rec)
	for i := range 4 {
		mustSubmit(t, b, recs(fmt.Sprint("a", i), 5)) // 20 queued, held by the gated write
	}
	if err := b.Reconfigure(Tuning{Size: 5, FlushInterval: time.Hour, MaxQueuedSpans: 10}); err != nil {
		t.Fatal(err)
	}
	if err := b.Submit(context.Background(), recs("refused", 1)); !errors.Is(err, record.ErrQueueFull) {
		t.Fatalf("submit with 20 queued and room for 10: got %v, want ErrQueueFull", err)
	}
	if got := testutil.ToFloat64(b.opts.Metrics.capacity); got != 10 {
		t.Fatalf("capacity gauge = %v, want 10", got)
	}
	close(rec.gate)
	eventually(t, "the queue drained below the new bound", func() bool { return b.Submit(context.Background(), recs("later", 5)) == nil })
	eventually(t, "every accepted span written", func() bool { return len(rec.lines()) == 25 })
	for _, l := range rec.lines() {
		if strings.Contains(l, "refused") {
			t.Fatalf("refused record written: %s", l)
		}
	}
	if err := b.Submit(context.Background(), recs("big", 11)); !errors.Is(err, record.ErrTooLarge) {
		t.Fatalf("11 spans into a queue of 10: got %v, want ErrTooLarge", err)
	}
}

func TestReconfigureToDurableFlushesPendingFirst(t *testing.T) {
	t.Parallel()
	j := newJournal()
	b := newBatcher(t, Options{Size: 1000, FlushInterval: time.Hour, MaxQueuedSpans: 1000}, j)
	mustSubmit(t, b, recs("batched", 3)) // pending, waiting for an hour
	if err := b.Reconfigure(Tuning{Size: 1000, FlushInterval: time.Hour, MaxQueuedSpans: 1000, Durable: true}); err != nil {
		t.Fatal(err)
	}
	mustSubmit(t, b, recs("durable", 2)) // returns once written and synced
	lines := j.lines()
	if len(lines) != 5 || !strings.Contains(lines[0], "batched-0") || !strings.Contains(lines[4], "durable-1") {
		t.Fatalf("lines = %v, want the 3 batched ones, then the 2 durable ones", lines)
	}
	if got := j.log(); !slices.Equal(got, []string{"write 3", "write 2", "sync"}) {
		t.Fatalf("storage saw %v, want the pending batch written, then the durable one written and synced", got)
	}
	if got := flushes(b, TriggerReconfigure); got != 1 {
		t.Fatalf("reconfigure flushes = %v, want 1", got)
	}
}

func TestReconfigureToBatchedKeepsWaitingDurableRequestsDurable(t *testing.T) {
	t.Parallel()
	j := newJournal()
	j.gate = make(chan struct{})
	j.entered = make(chan struct{}, 10)
	clock := newFakeClock()
	b := newBatcher(t, Options{Size: 1000, FlushInterval: time.Hour, MaxQueuedSpans: 1000, Durable: true, Clock: clock}, j)
	acks := make(chan error, 2)
	go func() { acks <- b.Submit(context.Background(), recs("d1", 2)) }()
	<-j.entered // d1's write is under way
	go func() { acks <- b.Submit(context.Background(), recs("d2", 2)) }()
	eventually(t, "d2 queued behind the write", func() bool { return b.QueuedSpans() == 4 })
	if err := b.Reconfigure(Tuning{Size: 1000, FlushInterval: 20 * time.Millisecond, MaxQueuedSpans: 1000}); err != nil {
		t.Fatal(err)
	}
	mustSubmit(t, b, recs("batched", 3)) // acknowledged at once though the storage is held
	close(j.gate)
	for range 2 {
		if err := <-acks; err != nil {
			t.Fatalf("durable submit: %v", err)
		}
	}
	advanceUntil(t, clock, "the batched spans written", func() bool { return len(j.lines()) == 7 })
	// d2 and the batched spans must not share a write: d2 needs the sync.
	if got := j.log(); !slices.Equal(got, []string{"write 2", "sync", "write 2", "sync", "write 3"}) {
		t.Fatalf("storage saw %v, want each durable write synced and the batched one written alone", got)
	}
}

func TestReconfigureRefusals(t *testing.T) {
	t.Parallel()
	b := newBatcher(t, Options{Size: 10, FlushInterval: time.Second, MaxQueuedSpans: 100}, newRecorder("rec"))
	before := b.Tuning()
	cases := []struct {
		name   string
		tuning Tuning
		want   string
	}{
		{"zero size", Tuning{FlushInterval: time.Second, MaxQueuedSpans: 100}, "batch size must be positive"},
		{"zero interval", Tuning{Size: 10, MaxQueuedSpans: 100}, "flush interval must be positive"},
		{"queue below size", Tuning{Size: 10, FlushInterval: time.Second, MaxQueuedSpans: 9}, "max queued spans (9) must be at least the batch size (10)"},
	}
	for _, tc := range cases {
		if err := b.Reconfigure(tc.tuning); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	if got := b.Tuning(); got != before {
		t.Fatalf("a refused tuning changed the batcher: %+v", got)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Reconfigure(before); !errors.Is(err, record.ErrStopping) {
		t.Fatalf("after Close: got %v, want ErrStopping", err)
	}
}
