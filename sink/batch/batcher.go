// Package batch queues the records ingest submits and hands them to the
// storages in batches, like DB-GPT's SpanStorageContainer: a flush happens
// when batch.size spans wait or flushInterval has passed since the last
// flush, whichever comes first.
//
// Unlike DB-GPT, the queue is bounded (Submit returns record.ErrQueueFull
// rather than dropping or blocking), a failing storage is retried rather
// than skipped, and each storage has its own writer goroutine so a slow or
// failing one never holds up the others. In Durable mode Submit returns only
// after the records are written and fsynced, with group commit: whatever
// arrives while one write and fsync is under way goes into the next.
package batch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/spansink/spansink/sink/record"
	"github.com/spansink/spansink/sink/storage"
)

// Default retry backoff for a failing storage.
const (
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
)

// Options configure a Batcher.
type Options struct {
	// Size is the number of waiting spans that triggers a flush, and the
	// most spans one storage write holds when writes queue up.
	Size int
	// FlushInterval is the longest a span waits for a flush in Batched mode.
	FlushInterval time.Duration
	// MaxQueuedSpans bounds the spans accepted and not yet written by every
	// storage; beyond it Submit returns record.ErrQueueFull.
	MaxQueuedSpans int
	// Durable makes Submit wait until every storage has written and synced
	// the records.
	Durable bool
	// MinBackoff and MaxBackoff bound the wait between retries of a failing
	// storage; zero means the defaults.
	MinBackoff, MaxBackoff time.Duration
	// Metrics describe the queue and writes; nil counts nothing.
	Metrics *Metrics
	// Logger receives storage failures and recoveries.
	Logger logr.Logger
}

// Tuning is the part of Options that may change on a running Batcher
// (Reconfigure).
type Tuning struct {
	// Size is Options.Size.
	Size int
	// FlushInterval is Options.FlushInterval.
	FlushInterval time.Duration
	// MaxQueuedSpans is Options.MaxQueuedSpans.
	MaxQueuedSpans int
	// Durable is Options.Durable.
	Durable bool
}

// Tuning returns the part of o that may change on a running Batcher.
func (o Options) Tuning() Tuning {
	return Tuning{Size: o.Size, FlushInterval: o.FlushInterval, MaxQueuedSpans: o.MaxQueuedSpans, Durable: o.Durable}
}

func (t Tuning) validate() error {
	switch {
	case t.Size < 1:
		return fmt.Errorf("batch size must be positive, got %d", t.Size)
	case t.FlushInterval <= 0:
		return fmt.Errorf("flush interval must be positive, got %s", t.FlushInterval)
	case t.MaxQueuedSpans < t.Size:
		return fmt.Errorf("max queued spans (%d) must be at least the batch size (%d)", t.MaxQueuedSpans, t.Size)
	}
	return nil
}

// Batcher is the record.Submitter between ingest and the storages.
type Batcher struct {
	// opts holds what never changes after New; its Tuning fields are
	// the initial ones only: tuning is what is in force.
	opts    Options
	writers []*writer
	// writeSize is tuning.Size for the writers, which group items under
	// their own locks, not b.mu.
	writeSize atomic.Int64
	// retime tells the flusher that the flush interval changed.
	retime chan struct{}

	mu           sync.Mutex
	tuning       Tuning
	pending      []record.Record // Batched mode: waiting for the next flush
	pendingSpans int
	queued       int // spans accepted and not yet released by every storage
	lastFlush    time.Time
	stopping     bool

	stop        chan struct{} // closed by Close
	giveUp      chan struct{} // closed when Close's context ends: stop retrying
	flusherDone chan struct{}
	closeOnce   sync.Once
	closeErr    error
}

var _ record.Submitter = (*Batcher)(nil)

// New starts a Batcher that writes to storages. It does not own the
// storages until Close, which syncs and closes them.
func New(opts Options, storages ...storage.Storage) (*Batcher, error) {
	if err := opts.Tuning().validate(); err != nil {
		return nil, err
	}
	if len(storages) == 0 {
		return nil, errors.New("batcher needs at least one storage")
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.MinBackoff)
	}
	b := &Batcher{
		opts:        opts,
		tuning:      opts.Tuning(),
		retime:      make(chan struct{}, 1),
		lastFlush:   time.Now(),
		stop:        make(chan struct{}),
		giveUp:      make(chan struct{}),
		flusherDone: make(chan struct{}),
	}
	b.writeSize.Store(int64(opts.Size))
	opts.Metrics.setCapacity(opts.MaxQueuedSpans)
	for _, s := range storages {
		w := newWriter(b, s)
		b.writers = append(b.writers, w)
		go w.run()
	}
	go b.flusher()
	return b, nil
}

// Submit queues the records. In Batched mode it returns as soon as they are
// queued; in Durable mode once every storage has written and synced them,
// with a wrapped record.ErrStorageUnavailable as soon as a storage's write
// or fsync failed (that storage kept none of them), or when ctx ends (the
// records may then still be written). It refuses the
// whole call, storing none of it, with record.ErrStopping after Close began,
// record.ErrStorageUnavailable while a storage is failing,
// record.ErrQueueFull when the records do not fit now and record.ErrTooLarge
// when they hold more spans than MaxQueuedSpans, so never could. The batcher keeps the
// records' lines until they are written: the caller must not change them.
func (b *Batcher) Submit(ctx context.Context, records []record.Record) error {
	spans := 0
	for _, r := range records {
		spans += r.Spans
	}
	if len(records) == 0 {
		return nil
	}
	b.mu.Lock()
	if err := b.admitLocked(spans); err != nil {
		b.mu.Unlock()
		return err
	}
	b.queued += spans
	queued := b.queued
	if b.tuning.Durable {
		it := newItem(records, spans, len(b.writers), true)
		b.dispatchLocked(it, TriggerRequest)
		b.mu.Unlock()
		b.opts.Metrics.setQueued(queued)
		select {
		case <-it.done:
			return it.err
		case <-ctx.Done():
			return fmt.Errorf("wait for spans to be written and fsynced: %w", ctx.Err())
		}
	}
	b.pending = append(b.pending, records...)
	b.pendingSpans += spans
	if b.pendingSpans >= b.tuning.Size {
		b.flushLocked(TriggerSize)
	}
	b.mu.Unlock()
	b.opts.Metrics.setQueued(queued)
	return nil
}

// admitLocked decides whether spans more spans may enter the queue.
func (b *Batcher) admitLocked(spans int) error {
	if b.stopping {
		return record.ErrStopping
	}
	if err := b.storageFailure(); err != nil {
		return err
	}
	// A request larger than the whole queue could never be taken, and
	// letting it into an empty queue would break the bound that Batched
	// mode promises to lose at most MaxQueuedSpans spans in a crash.
	// After Reconfigure shrank the queue, queued may exceed the bound:
	// then everything is refused until the writers drain below it.
	limit := b.tuning.MaxQueuedSpans
	if spans > limit {
		return fmt.Errorf("%w: %d spans, the queue holds at most %d (batch.maxQueuedSpans)", record.ErrTooLarge, spans, limit)
	}
	if b.queued+spans > limit {
		return fmt.Errorf("%w: %d of %d spans queued, %d more do not fit", record.ErrQueueFull, b.queued, limit, spans)
	}
	return nil
}

// storageFailure returns why the first failing storage fails, wrapping
// record.ErrStorageUnavailable, or nil when all write.
func (b *Batcher) storageFailure() error {
	for _, w := range b.writers {
		if err := w.failure(); err != nil {
			return fmt.Errorf("%w: %s storage: %w", record.ErrStorageUnavailable, w.s.Name(), err)
		}
	}
	return nil
}

// Ready returns nil while the batcher takes data, and otherwise why not:
// record.ErrStopping or a wrapped record.ErrStorageUnavailable.
func (b *Batcher) Ready() error {
	b.mu.Lock()
	stopping := b.stopping
	b.mu.Unlock()
	if stopping {
		return record.ErrStopping
	}
	return b.storageFailure()
}

// flushLocked hands the pending records to the storages as one batch.
func (b *Batcher) flushLocked(trigger string) {
	b.lastFlush = time.Now()
	if b.pendingSpans == 0 && len(b.pending) == 0 {
		return
	}
	it := newItem(b.pending, b.pendingSpans, len(b.writers), false)
	// The item owns the old backing array now; start a fresh one.
	b.pending = make([]record.Record, 0, min(cap(b.pending), b.tuning.Size))
	b.pendingSpans = 0
	b.dispatchLocked(it, trigger)
}

// dispatchLocked gives it to every writer. Holding b.mu keeps the order of
// batches the same in every storage.
func (b *Batcher) dispatchLocked(it *item, trigger string) {
	b.opts.Metrics.flushed(trigger)
	for _, w := range b.writers {
		w.enqueue(it)
	}
}

// flusher flushes on the interval in Batched mode, and finally on Close.
func (b *Batcher) flusher() {
	defer close(b.flusherDone)
	timer := time.NewTimer(b.opts.FlushInterval)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
		case <-b.retime:
		case <-b.stop:
			b.mu.Lock()
			b.flushLocked(TriggerShutdown)
			b.mu.Unlock()
			for _, w := range b.writers {
				w.closeQueue()
			}
			return
		}
		b.mu.Lock()
		interval := b.tuning.FlushInterval
		if since := time.Since(b.lastFlush); since >= interval {
			b.flushLocked(TriggerInterval)
		}
		next := time.Until(b.lastFlush.Add(interval))
		b.mu.Unlock()
		timer.Reset(max(next, time.Millisecond))
	}
}

// Reconfigure puts t in force at once, without losing or reordering a
// span: a smaller Size flushes what already waits beyond it, the flush
// timer follows a new FlushInterval from the last flush, a MaxQueuedSpans
// below the spans queued now refuses new ones (record.ErrQueueFull) until
// the storages drain below it, and a switch to Durable hands what is
// pending to the storages first. Requests waiting for their Durable
// acknowledgement keep it whatever the new mode: each batch remembers the
// mode it was accepted in.
func (b *Batcher) Reconfigure(t Tuning) error {
	if err := t.validate(); err != nil {
		return err
	}
	b.mu.Lock()
	if b.stopping {
		b.mu.Unlock()
		return record.ErrStopping
	}
	if t.Durable && !b.tuning.Durable {
		// Durable requests go straight to the writers; what Batched mode
		// left pending must be ahead of them.
		b.flushLocked(TriggerReconfigure)
	}
	b.tuning = t
	b.writeSize.Store(int64(t.Size))
	if !t.Durable && b.pendingSpans >= t.Size {
		b.flushLocked(TriggerSize)
	}
	b.mu.Unlock()
	b.opts.Metrics.setCapacity(t.MaxQueuedSpans)
	select {
	case b.retime <- struct{}{}:
	default: // the flusher has a retime to read already
	}
	return nil
}

// Tuning returns the tuning in force.
func (b *Batcher) Tuning() Tuning {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tuning
}

// QueuedSpans is the number of spans accepted and not yet written by
// every storage.
func (b *Batcher) QueuedSpans() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.queued
}

// release takes spans off the queue once every storage is done with them.
func (b *Batcher) release(spans int) {
	b.mu.Lock()
	b.queued -= spans
	queued := b.queued
	b.mu.Unlock()
	b.opts.Metrics.setQueued(queued)
}

// Close stops taking records (Submit returns record.ErrStopping), flushes
// what is queued, waits for every storage to write it, then syncs and
// closes the storages. When ctx ends first, failing storages stop being
// retried and Close reports the spans they did not write. Close is
// idempotent; later calls return the first call's result.
func (b *Batcher) Close(ctx context.Context) error {
	b.closeOnce.Do(func() { b.closeErr = b.close(ctx) })
	return b.closeErr
}

func (b *Batcher) close(ctx context.Context) error {
	b.mu.Lock()
	b.stopping = true
	b.mu.Unlock()
	close(b.stop)
	<-b.flusherDone

	drained := make(chan struct{})
	go func() {
		for _, w := range b.writers {
			<-w.done
		}
		close(drained)
	}()
	select {
	case <-drained:
	case <-ctx.Done():
		close(b.giveUp)
		<-drained
	}

	var errs []error
	for _, w := range b.writers {
		if lost := w.lost; lost > 0 {
			errs = append(errs, fmt.Errorf("%s storage: %d accepted spans not written before the shutdown deadline", w.s.Name(), lost))
		}
		start := time.Now()
		if err := w.s.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("sync %s storage: %w", w.s.Name(), err))
		} else {
			w.metrics.synced(time.Since(start).Seconds())
		}
		if err := w.s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s storage: %w", w.s.Name(), err))
		}
	}
	return errors.Join(errs...)
}
