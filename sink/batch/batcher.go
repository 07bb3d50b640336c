package batch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spansink/spansink/sink/record"
	"github.com/spansink/spansink/sink/storage"
)

// Batcher is the record.Submitter between ingest and the storages.
type Batcher struct {
	// opts holds what never changes after New; its Tuning fields are
	// the initial ones only: tuning is what is in force.
	opts    Options
	writers []*writer
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
	opts = opts.withDefaults()
	b := &Batcher{
		opts:        opts,
		tuning:      opts.Tuning(),
		retime:      make(chan struct{}, 1),
		lastFlush:   opts.Clock.Now(),
		stop:        make(chan struct{}),
		giveUp:      make(chan struct{}),
		flusherDone: make(chan struct{}),
	}
	opts.Metrics.setCapacity(opts.MaxQueuedSpans)
	cfg := writerConfig{
		logger:     opts.Logger,
		clock:      opts.Clock,
		minBackoff: opts.MinBackoff,
		maxBackoff: opts.MaxBackoff,
		groupLimit: opts.Size,
		stop:       b.stop,
		giveUp:     b.giveUp,
		finished:   b.storageDone,
	}
	for _, s := range storages {
		w := newWriter(s, opts.Metrics, cfg)
		b.writers = append(b.writers, w)
		go w.run()
	}
	// The timer exists before New returns, so that a test's fake clock
	// finds it however late the flusher goroutine starts.
	go b.flusher(opts.Clock.NewTimer(opts.FlushInterval))
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
			return err
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
	b.lastFlush = b.opts.Clock.Now()
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
		w.inbox.put(it)
	}
}

// flusher flushes on the interval in Batched mode, and finally on Close.
func (b *Batcher) flusher(timer Timer) {
	defer close(b.flusherDone)
	defer timer.Stop()
	for {
		select {
		case <-timer.C():
		case <-b.retime:
		case <-b.stop:
			b.mu.Lock()
			b.flushLocked(TriggerShutdown)
			b.mu.Unlock()
			for _, w := range b.writers {
				w.inbox.close()
			}
			return
		}
		b.mu.Lock()
		interval := b.tuning.FlushInterval
		if b.opts.Clock.Since(b.lastFlush) >= interval {
			b.flushLocked(TriggerInterval)
		}
		next := interval - b.opts.Clock.Since(b.lastFlush)
		b.mu.Unlock()
		timer.Reset(max(next, time.Millisecond))
	}
}

// storageDone is the writers' one way back: a storage is done with it,
// and failed to store it if err is not nil. The last storage takes the
// batch off the queue, before the acknowledgement, so that a Durable
// caller sees the room its spans took once Submit returns.
func (b *Batcher) storageDone(it *item, err error) {
	if it.finish(err) {
		b.release(it.spans)
		it.acknowledge()
	}
}

// release takes spans off the queue once every storage is done with them.
func (b *Batcher) release(spans int) {
	b.mu.Lock()
	b.queued -= spans
	queued := b.queued
	b.mu.Unlock()
	b.opts.Metrics.setQueued(queued)
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
	for _, w := range b.writers {
		w.inbox.setGroupLimit(t.Size)
	}
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
			<-w.exited
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
		if err := w.closeStorage(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
