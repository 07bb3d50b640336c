package batch

import "sync"

// inbox is one writer's queue of batches: the Batcher puts, the writer
// takes. It needs no bound of its own: every batch in it is counted in the
// Batcher's queue until all writers are done with it. A slice under a
// mutex rather than a channel, because take looks at what waits before
// deciding how much of it goes into one write.
type inbox struct {
	mu    sync.Mutex
	items []*item
	// groupLimit is the most spans one take returns, unless its first
	// batch alone holds more (batch.size, which Reconfigure may change).
	groupLimit int
	closed     bool
	signal     chan struct{}
}

func newInbox(groupLimit int) *inbox {
	return &inbox{groupLimit: groupLimit, signal: make(chan struct{}, 1)}
}

func (q *inbox) put(it *item) {
	q.mu.Lock()
	q.items = append(q.items, it)
	q.mu.Unlock()
	q.wake()
}

// close lets take return nil once the inbox is empty.
func (q *inbox) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.wake()
}

func (q *inbox) setGroupLimit(spans int) {
	q.mu.Lock()
	q.groupLimit = spans
	q.mu.Unlock()
}

func (q *inbox) wake() {
	select {
	case q.signal <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// take waits for batches and returns as many as fit in one write of
// groupLimit spans (at least one), all accepted in the same mode. In
// Durable mode this is the group commit: everything that queued up during
// the previous write and fsync goes into the next. Batches of the two
// modes are never written together (they meet only around a Reconfigure),
// because a failure is answered for one and retried for the other. It
// returns nil once the inbox is closed and empty.
func (q *inbox) take() []*item {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			n, spans := 0, 0
			durable := q.items[0].durable
			for n < len(q.items) && (n == 0 || spans+q.items[n].spans <= q.groupLimit && q.items[n].durable == durable) {
				spans += q.items[n].spans
				n++
			}
			taken := make([]*item, n)
			copy(taken, q.items)
			// Shift rather than reslice, so the inbox's array is reused.
			rest := copy(q.items, q.items[n:])
			clear(q.items[rest:])
			q.items = q.items[:rest]
			q.mu.Unlock()
			return taken
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return nil
		}
		<-q.signal
	}
}

// remove takes the batches that match out of the inbox, keeping the
// others in order, and returns them.
func (q *inbox) remove(match func(*item) bool) []*item {
	q.mu.Lock()
	defer q.mu.Unlock()
	var removed []*item
	kept := q.items[:0]
	for _, it := range q.items {
		if match(it) {
			removed = append(removed, it)
		} else {
			kept = append(kept, it)
		}
	}
	clear(q.items[len(kept):])
	q.items = kept
	return removed
}
