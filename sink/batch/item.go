package batch

import (
	"sync"
	"sync/atomic"

	"github.com/spansink/spansink/sink/record"
)

// item is one batch on its way to every storage. The Batcher makes it and
// hands the same item to every writer; each writer says once that it is
// done with it, and the last one to say so ends its time in the queue.
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
// store it if err is not nil. It reports whether that was the last
// storage; the caller then releases the batch and calls acknowledge.
func (it *item) finish(err error) (last bool) {
	if err != nil {
		it.errOnce.Do(func() { it.err = err })
	}
	return it.remaining.Add(-1) == 0
}

// acknowledge answers the requests waiting for the batch (Durable mode)
// with the first failure, or nil when every storage stored it.
func (it *item) acknowledge() {
	close(it.done)
}
