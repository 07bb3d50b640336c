package batch

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spansink/spansink/sink/record"
	"github.com/spansink/spansink/sink/storage"
)

// item is one batch on its way to every storage.
type item struct {
	records []record.Record
	spans   int
	// durable is set when the batch was accepted in Durable mode: its
	// requests wait for the write and fsync, and a failure is answered
	// rather than retried.
	durable bool
	// remaining counts the storages not yet done with the batch.
	remaining atomic.Int32
	// done is closed when every storage is done; err is set before.
	done    chan struct{}
	errOnce sync.Once
	err     error
}

func newItem(records []record.Record, spans, storages int, durable bool) *item {
	it := &item{records: records, spans: spans, durable: durable, done: make(chan struct{})}
	it.remaining.Store(int32(storages))
	return it
}

// finish records that one storage is done with the batch, and failed to
// store it if err is not nil.
func (it *item) finish(b *Batcher, err error) {
	if err != nil {
		it.errOnce.Do(func() { it.err = err })
	}
	if it.remaining.Add(-1) == 0 {
		b.release(it.spans)
		close(it.done)
	}
}

// writer feeds one storage from its own queue, so that a slow or failing
// storage holds up nobody but itself. The queue needs no bound of its own:
// every item in it is counted in the batcher's queue until all writers are
// done with it.
type writer struct {
	b       *Batcher
	s       storage.Storage
	metrics storageMetrics

	mu     sync.Mutex
	queue  []*item
	closed bool
	signal chan struct{}
	done   chan struct{}

	failing atomic.Pointer[error] // set while the storage's last attempt failed
	scratch []record.Record
	lost    int // spans given up on at the shutdown deadline; read after done
}

func newWriter(b *Batcher, s storage.Storage) *writer {
	return &writer{
		b:       b,
		s:       s,
		metrics: b.opts.Metrics.storage(s.Name()),
		signal:  make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
}

func (w *writer) enqueue(it *item) {
	w.mu.Lock()
	w.queue = append(w.queue, it)
	w.mu.Unlock()
	w.wake()
}

// closeQueue lets the writer exit once its queue is empty.
func (w *writer) closeQueue() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.wake()
}

func (w *writer) wake() {
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

func (w *writer) failure() error {
	if p := w.failing.Load(); p != nil {
		return *p
	}
	return nil
}

func (w *writer) run() {
	defer close(w.done)
	// A volume that is full or read-only at start is reported (not
	// ready, 503) before any span is accepted, not after the first flush.
	if err := w.probe(); err != nil {
		w.noteFailure(err, 0, 1, w.b.opts.MinBackoff)
		w.awaitRecovery(err)
	}
	for {
		items := w.take()
		if items == nil {
			return
		}
		w.write(items)
	}
}

// take waits for queued items and returns as many as fit in one write of
// batch.size spans (at least one), all accepted in the same mode. In
// Durable mode this is the group commit: everything that queued up during
// the previous write and fsync goes into the next. Batches of the two
// modes are never written together (they meet only around a Reconfigure),
// because a failure is answered for one and retried for the other. It
// returns nil once the queue is closed and empty.
func (w *writer) take() []*item {
	for {
		w.mu.Lock()
		if len(w.queue) > 0 {
			n, spans := 0, 0
			size, durable := int(w.b.writeSize.Load()), w.queue[0].durable
			for n < len(w.queue) && (n == 0 || spans+w.queue[n].spans <= size && w.queue[n].durable == durable) {
				spans += w.queue[n].spans
				n++
			}
			items := make([]*item, n)
			copy(items, w.queue)
			// Shift rather than reslice, so the queue's array is reused.
			rest := copy(w.queue, w.queue[n:])
			clear(w.queue[rest:])
			w.queue = w.queue[:rest]
			w.mu.Unlock()
			return items
		}
		closed := w.closed
		w.mu.Unlock()
		if closed {
			return nil
		}
		<-w.signal
	}
}

// write stores items with one Write (and Sync in Durable mode). In Batched
// mode the spans are already acknowledged, so a failure is retried with
// exponential backoff until it works or Close gives up. In Durable mode
// nobody has been told yet, and the storage kept none of the batch (Write
// is whole or nothing, and a failed fsync cuts back), so the requests are
// answered at once with a retryable error instead of waiting for a volume
// that may take minutes to come back.
func (w *writer) write(items []*item) {
	records := items[0].records
	spans := items[0].spans
	if len(items) > 1 {
		w.scratch = w.scratch[:0]
		for _, it := range items[1:] {
			spans += it.spans
		}
		for _, it := range items {
			w.scratch = append(w.scratch, it.records...)
		}
		records = w.scratch
	}
	bytes := 0
	for _, r := range records {
		bytes += len(r.Line) + 1
	}
	durable := items[0].durable
	backoff := w.b.opts.MinBackoff
	for attempt := 1; ; attempt++ {
		err := w.attempt(records, spans, bytes, durable)
		if err == nil {
			break
		}
		w.noteFailure(err, spans, attempt, backoff)
		if durable {
			failure := fmt.Errorf("%w: %s storage: %w", record.ErrStorageUnavailable, w.s.Name(), err)
			for _, it := range items {
				it.finish(w.b, failure)
			}
			clear(w.scratch)
			w.awaitRecovery(err)
			return
		}
		select {
		case <-time.After(backoff):
		case <-w.b.giveUp:
			w.lost += spans
			w.metrics.gaveUp(spans)
			w.b.opts.Logger.Error(err, "shutdown deadline passed; accepted spans not written", "storage", w.s.Name(), "spans", spans)
			failure := fmt.Errorf("%w: %s storage: %w", record.ErrStorageUnavailable, w.s.Name(), err)
			for _, it := range items {
				it.finish(w.b, failure)
			}
			w.drainAfterGiveUp(failure)
			return
		}
		backoff = min(backoff*2, w.b.opts.MaxBackoff)
	}
	w.noteRecovery()
	clear(w.scratch)
	for _, it := range items {
		it.finish(w.b, nil)
	}
}

// noteFailure marks the storage failing (ingest refuses new spans with
// 503/Unavailable meanwhile), and counts and logs the failure by cause.
func (w *writer) noteFailure(err error, spans, attempt int, retryIn time.Duration) {
	cause := storage.Cause(err)
	w.metrics.failed(cause)
	if w.failing.Swap(&err) == nil {
		w.b.opts.Logger.Error(err, "storage failing; refusing new spans until it recovers", "storage", w.s.Name(), "cause", cause, "spans", spans)
	} else {
		w.b.opts.Logger.Error(err, "storage still failing", "storage", w.s.Name(), "cause", cause, "attempt", attempt, "retryIn", retryIn.String())
	}
}

func (w *writer) noteRecovery() {
	if w.failing.Swap(nil) != nil {
		w.metrics.recovered()
		w.b.opts.Logger.Info("storage recovered", "storage", w.s.Name())
	}
}

// probe asks a storage that can tell whether it takes writes; one that
// cannot is assumed to, and the next write finds out.
func (w *writer) probe() error {
	if p, ok := w.s.(storage.Prober); ok {
		return p.Probe()
	}
	return nil
}

// awaitRecovery probes the failing storage with exponential backoff until
// it takes writes again, or until Close begins. Durable batches that queue
// up meanwhile (admitted just before the failure was noted) are answered
// with the failure too; Batched ones are acknowledged already and wait to
// be written.
func (w *writer) awaitRecovery(err error) {
	backoff := w.b.opts.MinBackoff
	for attempt := 2; ; attempt++ {
		w.failQueued(fmt.Errorf("%w: %s storage: %w", record.ErrStorageUnavailable, w.s.Name(), err))
		select {
		case <-time.After(backoff):
		case <-w.b.stop:
			return
		}
		if err = w.probe(); err == nil {
			w.noteRecovery()
			return
		}
		w.noteFailure(err, 0, attempt, backoff)
		backoff = min(backoff*2, w.b.opts.MaxBackoff)
	}
}

// failQueued answers every queued Durable item with failure, keeping the
// Batched ones (acknowledged already) in order.
func (w *writer) failQueued(failure error) {
	w.mu.Lock()
	var failed []*item
	kept := w.queue[:0]
	for _, it := range w.queue {
		if it.durable {
			failed = append(failed, it)
		} else {
			kept = append(kept, it)
		}
	}
	clear(w.queue[len(kept):])
	w.queue = kept
	w.mu.Unlock()
	for _, it := range failed {
		it.finish(w.b, failure)
	}
}

func (w *writer) attempt(records []record.Record, spans, bytes int, durable bool) error {
	start := time.Now()
	if err := w.s.Write(records); err != nil {
		return err
	}
	if durable {
		syncStart := time.Now()
		if err := w.s.Sync(); err != nil {
			return err
		}
		w.metrics.synced(time.Since(syncStart).Seconds())
	}
	w.metrics.wrote(spans, bytes, time.Since(start).Seconds())
	return nil
}

// drainAfterGiveUp fails whatever is still queued once Close has given up,
// so that nothing waits for a storage that is not coming back.
func (w *writer) drainAfterGiveUp(failure error) {
	w.mu.Lock()
	rest := w.queue
	w.queue = nil
	w.mu.Unlock()
	for _, it := range rest {
		w.lost += it.spans
		w.metrics.gaveUp(it.spans)
		it.finish(w.b, failure)
	}
}
