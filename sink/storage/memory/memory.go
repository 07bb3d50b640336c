// Package memory keeps the most recent records in a ring bounded both in
// records and in bytes, so that /debug/spans can show what the collector
// wrote last without reading the volume, and a burst of huge spans cannot
// make it hold more than its byte budget. A ring that is switched off
// keeps nothing and holds no arena: span contents stay out of memory, and
// the copy of every line out of the write path, while nobody can read them.
package memory

import (
	"sync"
	"sync/atomic"

	"github.com/spansink/spansink/sink/record"
	"github.com/spansink/spansink/sink/storage"
)

// DefaultMaxBytes is the byte budget of a ring made with New.
const DefaultMaxBytes = 16 << 20

// initialArenaBytes is the arena a ring starts with: small, so that a
// collector that only ever sees small spans never holds the whole budget.
const initialArenaBytes = 64 << 10

// Ring is a storage.Storage that remembers the last records, at most
// MaxRecords of them and at most MaxBytes of line bytes.
//
// The lines live in one arena of at most MaxBytes, used as a ring of
// variable-sized entries: a kept line is copied once into the arena, and
// evicting it makes its bytes free for the next ones. So the ring never
// holds more than its budget, whatever sizes it has seen (slots that each
// kept the largest capacity they ever had once held hundreds of MiB after a
// burst of 15 MiB spans), and after warm-up a write allocates nothing.
type Ring struct {
	// keeping is read before mu on every write, so that a ring switched
	// off costs the writers one atomic load.
	keeping    atomic.Bool
	mu         sync.Mutex
	maxRecords int
	maxBytes   int
	arena      []byte
	entries    []entry // circular, oldest at head
	head       int
	count      int
	write      int // arena offset where the next line goes
	lineBytes  int // bytes of the lines kept
	tooLarge   uint64
}

// entry is where one kept line sits in the arena.
type entry struct {
	off, n int
}

var _ storage.Storage = (*Ring)(nil)

// New returns a ring that keeps the last capacity records (at least one),
// within DefaultMaxBytes. It starts switched on.
func New(capacity int) *Ring {
	return NewBounded(capacity, DefaultMaxBytes)
}

// NewBounded returns a ring that keeps the last maxRecords records (at
// least one) whose lines together take at most maxBytes (at least one).
// It starts switched on.
func NewBounded(maxRecords int, maxBytes int64) *Ring {
	maxRecords = max(maxRecords, 1)
	budget := int(min(max(maxBytes, 1), int64(^uint(0)>>1)))
	r := &Ring{
		maxRecords: maxRecords,
		maxBytes:   budget,
		arena:      make([]byte, min(budget, initialArenaBytes)),
		entries:    make([]entry, maxRecords),
	}
	r.keeping.Store(true)
	return r
}

// SetKeeping switches the ring on or off. Off, it forgets what it kept and
// releases its arena, and writes keep nothing until it is switched on
// again; so what it shows after that is only what was written since.
func (r *Ring) SetKeeping(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	wasKeeping := r.keeping.Swap(on)
	if on || !wasKeeping {
		return // nothing to forget
	}
	r.arena, r.head, r.count, r.write, r.lineBytes = nil, 0, 0, 0, 0
}

// Name identifies the ring in logs and metrics.
func (r *Ring) Name() string { return "memory" }

// Write keeps the batch's last records, evicting the oldest. A line larger
// than the whole byte budget is not kept, and counted in Stats.TooLarge.
func (r *Ring) Write(batch []record.Record) error {
	if !r.keeping.Load() {
		return nil
	}
	// Only the tail of a batch bigger than the ring can survive it.
	if len(batch) > r.maxRecords {
		batch = batch[len(batch)-r.maxRecords:]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.keeping.Load() { // switched off since the check above
		return nil
	}
	for _, rec := range batch {
		r.keep(rec.Line)
	}
	return nil
}

// keep copies line into the arena, evicting the oldest entries until it
// fits. The caller holds mu.
func (r *Ring) keep(line []byte) {
	n := len(line)
	if n > r.maxBytes {
		r.tooLarge++
		return
	}
	if r.count == r.maxRecords {
		r.evict()
	}
	if r.lineBytes+n > len(r.arena) && len(r.arena) < r.maxBytes {
		r.grow(r.lineBytes + n)
	}
	off := r.place(n)
	for off < 0 {
		r.evict()
		off = r.place(n)
	}
	copy(r.arena[off:off+n], line)
	r.entries[r.slot(r.count)] = entry{off: off, n: n}
	r.count++
	r.lineBytes += n
	r.write = off + n
}

// place returns the arena offset where n bytes fit without overwriting a
// kept line, or -1. Kept lines run from the oldest one's offset up to
// r.write, possibly wrapping past the arena's end back to its start.
func (r *Ring) place(n int) int {
	if r.count == 0 {
		r.write = 0
		return 0 // n <= len(arena): grow made room for it
	}
	oldest := r.entries[r.head].off
	if r.write > oldest || (r.write == oldest && r.lineBytes == 0) {
		// Not wrapped: free space after write, then before oldest.
		if n <= len(r.arena)-r.write {
			return r.write
		}
		if n <= oldest {
			return 0
		}
		return -1
	}
	// Wrapped: the only free space is between write and oldest.
	if n <= oldest-r.write {
		return r.write
	}
	return -1
}

// evict forgets the oldest kept line.
func (r *Ring) evict() {
	r.lineBytes -= r.entries[r.head].n
	r.head = r.slot(1)
	r.count--
}

// slot is the index in entries of the i-th oldest kept line (i <= count).
func (r *Ring) slot(i int) int {
	// A compare instead of a division: this runs for every line.
	if j := r.head + i; j < r.maxRecords {
		return j
	} else {
		return j - r.maxRecords
	}
}

// grow replaces the arena with a larger one, up to the budget, and packs
// the kept lines at its start. It runs only while the ring warms up.
func (r *Ring) grow(need int) {
	size := min(max(2*len(r.arena), need, initialArenaBytes), r.maxBytes)
	arena := make([]byte, size)
	off := 0
	for i := range r.count {
		e := &r.entries[(r.head+i)%r.maxRecords]
		copy(arena[off:], r.arena[e.off:e.off+e.n])
		e.off = off
		off += e.n
	}
	r.arena, r.write = arena, off
}

// Recent returns copies of up to limit of the most recent lines, oldest
// first. The copies share one allocation of at most the byte budget.
func (r *Ring) Recent(limit int) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := min(max(limit, 0), r.count)
	first := r.count - n
	total := 0
	for i := first; i < r.count; i++ {
		total += r.entries[(r.head+i)%r.maxRecords].n
	}
	buf := make([]byte, 0, total)
	out := make([][]byte, n)
	for i := range out {
		e := r.entries[(r.head+first+i)%r.maxRecords]
		start := len(buf)
		buf = append(buf, r.arena[e.off:e.off+e.n]...)
		out[i] = buf[start:len(buf):len(buf)]
	}
	return out
}

// Stats describe what a ring holds.
type Stats struct {
	// Records is how many lines it keeps.
	Records int
	// LineBytes is the size of those lines together.
	LineBytes int
	// ArenaBytes is the memory it holds for lines: at most its byte budget.
	ArenaBytes int
	// TooLarge counts lines not kept because each alone exceeded the budget.
	TooLarge uint64
}

// Stats returns what the ring holds now.
func (r *Ring) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Stats{Records: r.count, LineBytes: r.lineBytes, ArenaBytes: len(r.arena), TooLarge: r.tooLarge}
}

// Sync has nothing to make durable: the ring lives in memory only.
func (r *Ring) Sync() error { return nil }

// Close keeps the contents readable: /debug/spans may still be served
// while the collector shuts down.
func (r *Ring) Close() error { return nil }
