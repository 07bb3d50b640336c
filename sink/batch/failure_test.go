package batch

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/spansink/spansink/sink/record"
	"github.com/spansink/spansink/sink/storage"
)

// probingRecorder is a recorder that can tell whether it takes writes: its
// probe fails while its writes do.
type probingRecorder struct {
	*recorder
	probes atomic.Int32
}

var _ storage.Prober = (*probingRecorder)(nil)

func (p *probingRecorder) Probe() error {
	p.probes.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failErr
}

// TestDurableFailureIsAnsweredAtOnce checks Durable mode on a failing
// volume: the request whose write failed gets ErrStorageUnavailable (never
// an acknowledgement, and without waiting for the volume), the collector
// turns not-ready and says why, the failure is counted by cause, and once a
// probe finds the volume writable again new requests are stored, while the
// failed one is not (the client resends it).
func TestDurableFailureIsAnsweredAtOnce(t *testing.T) {
	t.Parallel()
	cases := []struct {
		errno syscall.Errno
		cause string
	}{
		{syscall.ENOSPC, storage.CauseNoSpace},
		{syscall.EIO, storage.CauseIO},
		{syscall.EROFS, storage.CauseReadOnly},
	}
	for _, tc := range cases {
		t.Run(tc.cause, func(t *testing.T) {
			t.Parallel()
			file := &probingRecorder{recorder: newRecorder("file")}
			clock := newFakeClock()
			b := newBatcher(t, Options{Size: 10, FlushInterval: time.Hour, MaxQueuedSpans: 100, Durable: true, Clock: clock}, file)
			mustSubmit(t, b, recs("before", 2))
			file.setFail(tc.errno)

			err := b.Submit(context.Background(), recs("failed", 3))
			if !errors.Is(err, record.ErrStorageUnavailable) || !errors.Is(err, tc.errno) {
				t.Fatalf("durable submit to a failing storage: got %v, want ErrStorageUnavailable wrapping %v", err, tc.errno)
			}
			if ready := b.Ready(); !errors.Is(ready, tc.errno) {
				t.Fatalf("readiness = %v, want the failure", ready)
			}
			if err := b.Submit(context.Background(), recs("refused", 1)); !errors.Is(err, record.ErrStorageUnavailable) {
				t.Fatalf("submit while failing: got %v, want ErrStorageUnavailable", err)
			}
			if got := testutil.ToFloat64(b.opts.Metrics.errors.WithLabelValues("file", tc.cause)); got < 1 {
				t.Fatalf("errors{cause=%q} = %v, want at least 1", tc.cause, got)
			}
			if got := testutil.ToFloat64(b.opts.Metrics.healthy.WithLabelValues("file")); got != 0 {
				t.Fatalf("healthy = %v while failing, want 0", got)
			}
			advanceUntil(t, clock, "probes while failing", func() bool { return file.probes.Load() >= 2 })
			if b.Ready() == nil {
				t.Fatal("ready while the probe still fails")
			}

			file.setFail(nil)
			advanceUntil(t, clock, "recovery", func() bool { return b.Ready() == nil })
			mustSubmit(t, b, recs("after", 2))
			want := []string{`{"span_id":"before-0"}`, `{"span_id":"before-1"}`, `{"span_id":"after-0"}`, `{"span_id":"after-1"}`}
			if got := file.lines(); !slices.Equal(got, want) {
				t.Fatalf("storage holds %v, want %v", got, want)
			}
			if got := testutil.ToFloat64(b.opts.Metrics.healthy.WithLabelValues("file")); got != 1 {
				t.Fatalf("healthy = %v after recovery, want 1", got)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := b.Close(ctx); err != nil {
				t.Fatalf("close: %v (a refused request is not a lost one)", err)
			}
		})
	}
}

// TestUnwritableAtStartIsNotReady checks that a volume that refuses writes
// when the collector starts is reported before any span is accepted, in
// both modes, and that the collector takes spans once it works.
func TestUnwritableAtStartIsNotReady(t *testing.T) {
	t.Parallel()
	for _, durable := range []bool{false, true} {
		t.Run(map[bool]string{false: "Batched", true: "Durable"}[durable], func(t *testing.T) {
			t.Parallel()
			file := &probingRecorder{recorder: newRecorder("file")}
			file.setFail(syscall.EROFS)
			clock := newFakeClock()
			b := newBatcher(t, Options{Size: 1, FlushInterval: time.Hour, MaxQueuedSpans: 100, Durable: durable, Clock: clock}, file)
			eventually(t, "not ready", func() bool { return errors.Is(b.Ready(), syscall.EROFS) })
			if err := b.Submit(context.Background(), recs("early", 1)); !errors.Is(err, record.ErrStorageUnavailable) {
				t.Fatalf("submit to an unwritable volume: got %v, want ErrStorageUnavailable", err)
			}
			file.setFail(nil)
			advanceUntil(t, clock, "ready", func() bool { return b.Ready() == nil })
			mustSubmit(t, b, recs("late", 1))
			eventually(t, "the span stored", func() bool { return slices.Equal(file.lines(), []string{`{"span_id":"late-0"}`}) })
		})
	}
}

// TestBatchedRetryBacksOffExponentially checks the waits between the
// retries of a failing storage on the fake clock: they double from
// MinBackoff up to MaxBackoff, nothing is retried before its wait is
// over, and the batch is written once when the storage works again.
func TestBatchedRetryBacksOffExponentially(t *testing.T) {
	t.Parallel()
	file := newRecorder("file")
	file.setFail(syscall.ENOSPC)
	clock := newFakeClock()
	b := newBatcher(t, Options{Size: 2, FlushInterval: time.Hour, MaxQueuedSpans: 100,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, Clock: clock}, file)
	mustSubmit(t, b, recs("a", 2))
	failures := func() float64 {
		return testutil.ToFloat64(b.opts.Metrics.errors.WithLabelValues("file", storage.CauseNoSpace))
	}
	ms := time.Millisecond
	for i, wait := range []time.Duration{10 * ms, 20 * ms, 40 * ms, 40 * ms} {
		awaitTimer(t, clock, wait)
		// The writer is blocked on that timer: exactly the attempts so far.
		if got := failures(); got != float64(i+1) {
			t.Fatalf("waiting %s: %v failed attempts, want %d", wait, got, i+1)
		}
		clock.Advance(wait - time.Nanosecond)
		if !slices.Contains(clock.waits(), time.Nanosecond) {
			t.Fatalf("the wait of %s ended early", wait)
		}
		if i < 3 {
			clock.Advance(time.Nanosecond)
		}
	}
	file.setFail(nil)
	clock.Advance(time.Nanosecond)
	eventually(t, "the retried batch written", func() bool { return len(file.lines()) == 2 })
	if got := file.batchSizes(); !slices.Equal(got, []int{2}) {
		t.Fatalf("batches = %v, want the one batch once", got)
	}
	eventually(t, "ready", func() bool { return b.Ready() == nil })
}
