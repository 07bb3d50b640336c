// Package memory keeps the most recent records in a bounded ring, so that
// /debug/spans can show what the collector wrote last without reading the
// volume.
package memory

import (
	"sync"

	"github.com/spansink/spansink/sink/record"
	"github.com/spansink/spansink/sink/storage"
)

// Ring is a storage.Storage that remembers the last Capacity records. It
// copies every line it keeps into a slot buffer of its own, so it never pins
// the memory of the requests the records came from, and after warm-up
// writes allocate nothing.
type Ring struct {
	mu    sync.Mutex
	slots [][]byte
	next  int // slot the next record goes to
	count int // slots in use
}

var _ storage.Storage = (*Ring)(nil)

// New returns a ring that keeps the last capacity records (at least one).
func New(capacity int) *Ring {
	return &Ring{slots: make([][]byte, max(capacity, 1))}
}

// Name identifies the ring in logs and metrics.
func (r *Ring) Name() string { return "memory" }

// Write keeps the batch's last records, evicting the oldest.
func (r *Ring) Write(batch []record.Record) error {
	// Only the tail of a batch bigger than the ring can survive it.
	if len(batch) > len(r.slots) {
		batch = batch[len(batch)-len(r.slots):]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range batch {
		r.slots[r.next] = append(r.slots[r.next][:0], rec.Line...)
		r.next = (r.next + 1) % len(r.slots)
		r.count = min(r.count+1, len(r.slots))
	}
	return nil
}

// Recent returns copies of up to limit of the most recent lines, oldest first.
func (r *Ring) Recent(limit int) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := min(max(limit, 0), r.count)
	out := make([][]byte, n)
	start := r.next - n
	for i := range out {
		slot := (start + i + len(r.slots)) % len(r.slots)
		out[i] = append([]byte(nil), r.slots[slot]...)
	}
	return out
}

// Sync has nothing to make durable: the ring lives in memory only.
func (r *Ring) Sync() error { return nil }

// Close keeps the contents readable: /debug/spans may still be served
// while the collector shuts down.
func (r *Ring) Close() error { return nil }
