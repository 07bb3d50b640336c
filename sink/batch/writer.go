package batch

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/spansink/spansink/sink/record"
	"github.com/spansink/spansink/sink/storage"
)

// writerConfig is what the Batcher gives a writer when it starts it: the
// writer's inputs and the one callback by which it reports back.
type writerConfig struct {
	logger                 logr.Logger
	clock                  Clock
	minBackoff, maxBackoff time.Duration
	// groupLimit is the batch size the inbox starts with.
	groupLimit int
	// stop is closed when Close begins: a failing storage is probed no
	// more, and what is queued is written or given up on.
	stop <-chan struct{}
	// giveUp is closed when Close's deadline passes: a failing storage is
	// retried no more, and what it holds is counted as lost.
	giveUp <-chan struct{}
	// finished is told, once per batch, that this storage is done with it
	// and, if err is not nil, did not store it.
	finished func(it *item, err error)
}

// writer feeds one storage from its own inbox, so that a slow or failing
// storage holds up nobody but itself.
type writer struct {
	writerConfig
	storage storage.Storage
	metrics storageMetrics
	inbox   *inbox
	exited  chan struct{} // closed when run returns

	// failing holds what requests hear while the storage's last attempt
	// failed (a wrapped record.ErrStorageUnavailable), nil while it works.
	failing atomic.Pointer[error]
	scratch []record.Record
	lost    int // spans given up on at the shutdown deadline; read after exited
}

func newWriter(s storage.Storage, metrics *Metrics, cfg writerConfig) *writer {
	return &writer{
		writerConfig: cfg,
		storage:      s,
		metrics:      metrics.storage(s.Name()),
		inbox:        newInbox(cfg.groupLimit),
		exited:       make(chan struct{}),
	}
}

// failure returns what a request hears while the storage fails, or nil
// while it takes writes.
func (w *writer) failure() error {
	if p := w.failing.Load(); p != nil {
		return *p
	}
	return nil
}

// unavailable wraps a storage error into what a request hears about it.
func (w *writer) unavailable(err error) error {
	return fmt.Errorf("%w: %s storage: %w", record.ErrStorageUnavailable, w.storage.Name(), err)
}

func (w *writer) run() {
	defer close(w.exited)
	// A volume that is full or read-only at start is reported (not
	// ready, 503) before any span is accepted, not after the first flush.
	if err := w.probe(); err != nil {
		w.awaitRecovery(w.noteFailure(err, 0, 1, w.minBackoff))
	}
	for {
		items := w.inbox.take()
		if items == nil {
			return
		}
		w.write(items)
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
	records, spans := w.gather(items)
	bytes := 0
	for _, r := range records {
		bytes += len(r.Line) + 1
	}
	durable := items[0].durable
	backoff := w.minBackoff
	for attempt := 1; ; attempt++ {
		err := w.attempt(records, spans, bytes, durable)
		if err == nil {
			break
		}
		failure := w.noteFailure(err, spans, attempt, backoff)
		if durable {
			w.answer(items, failure, false)
			clear(w.scratch)
			w.awaitRecovery(failure)
			return
		}
		if !w.wait(backoff, w.giveUp) {
			w.logger.Error(err, "shutdown deadline passed; accepted spans not written", "storage", w.storage.Name(), "spans", spans)
			w.answer(items, failure, true)
			w.failQueued(failure, true)
			clear(w.scratch)
			return
		}
		backoff = min(backoff*2, w.maxBackoff)
	}
	w.noteRecovery()
	clear(w.scratch)
	w.answer(items, nil, false)
}

// gather returns the records of items as one batch and the spans they
// hold, without copying when there is only one.
func (w *writer) gather(items []*item) ([]record.Record, int) {
	if len(items) == 1 {
		return items[0].records, items[0].spans
	}
	spans := 0
	w.scratch = w.scratch[:0]
	for _, it := range items {
		spans += it.spans
		w.scratch = append(w.scratch, it.records...)
	}
	return w.scratch, spans
}

func (w *writer) attempt(records []record.Record, spans, bytes int, durable bool) error {
	start := w.clock.Now()
	if err := w.storage.Write(records); err != nil {
		return err
	}
	if durable {
		syncStart := w.clock.Now()
		if err := w.storage.Sync(); err != nil {
			return err
		}
		w.metrics.synced(w.clock.Since(syncStart).Seconds())
	}
	w.metrics.wrote(spans, bytes, w.clock.Since(start).Seconds())
	return nil
}

// wait sleeps d on the clock and reports true, or false as soon as
// interrupt is closed.
func (w *writer) wait(d time.Duration, interrupt <-chan struct{}) bool {
	timer := w.clock.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C():
		return true
	case <-interrupt:
		return false
	}
}

// noteFailure marks the storage failing (ingest refuses new spans with
// 503/Unavailable meanwhile), counts and logs the failure by cause, and
// returns what requests hear about it.
func (w *writer) noteFailure(err error, spans, attempt int, retryIn time.Duration) error {
	cause := storage.Cause(err)
	w.metrics.failed(cause)
	failure := w.unavailable(err)
	if w.failing.Swap(&failure) == nil {
		w.logger.Error(err, "storage failing; refusing new spans until it recovers", "storage", w.storage.Name(), "cause", cause, "spans", spans)
	} else {
		w.logger.Error(err, "storage still failing", "storage", w.storage.Name(), "cause", cause, "attempt", attempt, "retryIn", retryIn.String())
	}
	return failure
}

func (w *writer) noteRecovery() {
	if w.failing.Swap(nil) != nil {
		w.metrics.recovered()
		w.logger.Info("storage recovered", "storage", w.storage.Name())
	}
}

// probe asks a storage that can tell whether it takes writes; one that
// cannot is assumed to, and the next write finds out.
func (w *writer) probe() error {
	if p, ok := w.storage.(storage.Prober); ok {
		return p.Probe()
	}
	return nil
}

// awaitRecovery probes the failing storage with exponential backoff until
// it takes writes again, or until Close begins. Durable batches that queue
// up meanwhile (admitted just before the failure was noted) are answered
// with the failure too; Batched ones are acknowledged already and wait to
// be written.
func (w *writer) awaitRecovery(failure error) {
	backoff := w.minBackoff
	for attempt := 2; ; attempt++ {
		w.failQueued(failure, false)
		if !w.wait(backoff, w.stop) {
			return
		}
		err := w.probe()
		if err == nil {
			w.noteRecovery()
			return
		}
		failure = w.noteFailure(err, 0, attempt, backoff)
		backoff = min(backoff*2, w.maxBackoff)
	}
}

// failQueued answers queued batches with failure and takes them out of
// the inbox. Durable ones always go: their requests are waiting, and the
// client resends. Batched ones are acknowledged already, so they stay, in
// order, for the storage's recovery, unless Close gave up on it: then
// nothing is left to wait for them, and they are counted as lost.
func (w *writer) failQueued(failure error, gaveUp bool) {
	w.answer(w.inbox.remove(func(it *item) bool { return gaveUp || it.durable }), failure, gaveUp)
}

// answer reports that this storage is done with items, and failed to
// store them if failure is not nil; lost counts them as accepted spans
// that will never be written.
func (w *writer) answer(items []*item, failure error, lost bool) {
	for _, it := range items {
		if lost {
			w.lost += it.spans
			w.metrics.gaveUp(it.spans)
		}
		w.finished(it, failure)
	}
}

// closeStorage reports the spans given up on, then syncs and closes the
// storage. It is called once, after run returned.
func (w *writer) closeStorage() error {
	var errs []error
	name := w.storage.Name()
	if w.lost > 0 {
		errs = append(errs, fmt.Errorf("%s storage: %d accepted spans not written before the shutdown deadline", name, w.lost))
	}
	start := w.clock.Now()
	if err := w.storage.Sync(); err != nil {
		errs = append(errs, fmt.Errorf("sync %s storage: %w", name, err))
	} else {
		w.metrics.synced(w.clock.Since(start).Seconds())
	}
	if err := w.storage.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close %s storage: %w", name, err))
	}
	return errors.Join(errs...)
}
