package ingest

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"google.golang.org/grpc/mem"
)

// budgetPool is the gRPC server's buffer pool: every buffer gRPC takes for a
// request (each DATA frame as it arrives, the copy that joins a message's
// frames, decompressed data) is charged to the inflight budget at its
// capacity, and released when gRPC frees it. A slow client holding streams
// open so holds budget, not unbounded memory.
//
// Blocking: the connection's reader goroutine takes the DATA frame buffers,
// so a Get that waits stops reading that connection, and TCP flow control
// pushes back on its client; its streams' deadlines (RequestTimeout) still
// fire, and their handlers free what they hold. A Get waits at most wait
// (the request timeout): by then every holder that existed when it began has
// been ended by its deadline, so what still holds the budget is memory gRPC
// dropped without freeing it (see below), and the Get proceeds over the
// limit rather than stall a connection on garbage.
//
// gRPC does not free every buffer it takes: data queued on a stream that
// ends before its handler reads it is left to the garbage collector. Each
// buffer therefore carries a runtime cleanup that releases its charge when
// it is collected unfreed, and a Get that waited in vain asks for a
// collection so that such charges come back. An idle server has no Get to
// ask, and Go collects an idle heap only every two minutes: so while
// buffers are held, a sweep every wait asks for a collection when one has
// been held longer than wait. By then its stream's deadline has passed; a
// handler still holding it past that only costs a needless collection.
type budgetPool struct {
	budget *InflightBudget
	inner  mem.BufferPool
	wait   time.Duration

	mu   sync.Mutex
	held map[weak.Pointer[[]byte]]heldBuffer
	// sweep is the next sweepStale, scheduled every sweepEvery while held
	// is not empty.
	sweep      *time.Timer
	sweepEvery time.Duration

	lastGC atomic.Int64 // unix nanoseconds of the last collection asked for
}

// heldBuffer is the charge of one buffer handed out and not yet returned.
type heldBuffer struct {
	n       int64
	cleanup runtime.Cleanup
	since   time.Time
}

// requestBuffers is the pool budgetPool takes buffers from: gRPC's tiered
// pool with a tier at every power of two from 4 KiB to 16 MiB. gRPC's
// default pool has none between 32 KiB and 1 MiB, so the copy that joins
// a 100 KiB request took a 1 MiB buffer, which 64 clients waiting for
// their Durable acknowledgements held 64 times over. Here a buffer is less
// than twice what it holds, and its whole capacity is charged.
var requestBuffers = func() mem.BufferPool {
	exponents := []uint8{8} // 256 bytes, gRPC's smallest tier
	for e := uint8(12); e <= 24; e++ {
		exponents = append(exponents, e)
	}
	pool, err := mem.NewBinaryTieredBufferPool(exponents...)
	if err != nil {
		panic(fmt.Sprintf("ingest: gRPC buffer pool: %v", err))
	}
	return pool
}()

func newBudgetPool(budget *InflightBudget, wait time.Duration) *budgetPool {
	return &budgetPool{
		budget: budget,
		inner:  requestBuffers,
		wait:   wait,
		held:   make(map[weak.Pointer[[]byte]]heldBuffer),
		// A zero wait (options built without a request timeout) must not
		// make the sweep spin.
		sweepEvery: max(wait, time.Second),
	}
}

// waiting is the pool for the gRPC server, whose Gets wait for room.
func (p *budgetPool) waiting() mem.BufferPool { return waitingPool{p} }

// charging is the pool for copies made on a handler's goroutine while it
// holds the message's frames: such a Get must not wait, or handlers that
// each hold part of the budget could wait on each other.
func (p *budgetPool) charging() mem.BufferPool { return chargingPool{p} }

type waitingPool struct{ p *budgetPool }

// Get implements mem.BufferPool.
func (w waitingPool) Get(length int) *[]byte { return w.p.get(length, true) }

// Put implements mem.BufferPool.
func (w waitingPool) Put(buf *[]byte) { w.p.put(buf) }

type chargingPool struct{ p *budgetPool }

// Get implements mem.BufferPool.
func (c chargingPool) Get(length int) *[]byte { return c.p.get(length, false) }

// Put implements mem.BufferPool.
func (c chargingPool) Put(buf *[]byte) { c.p.put(buf) }

func (p *budgetPool) get(length int, wait bool) *[]byte {
	n := int64(length)
	switch {
	case !wait:
		p.budget.charge(n)
	case !p.budget.acquire(context.Background(), n, p.wait):
		p.budget.charge(n)
		p.collectLeaked()
	}
	buf := p.inner.Get(length)
	// The tier's buffer may be larger than asked for: that is memory
	// held too.
	if c := int64(cap(*buf)); c > n {
		p.budget.charge(c - n)
		n = c
	}
	key := weak.Make(buf)
	cleanup := runtime.AddCleanup(buf, p.collected, key)
	since := time.Now()
	p.mu.Lock()
	p.held[key] = heldBuffer{n: n, cleanup: cleanup, since: since}
	if p.sweep == nil {
		p.sweep = time.AfterFunc(p.sweepEvery, p.sweepStale)
	}
	p.mu.Unlock()
	return buf
}

func (p *budgetPool) put(buf *[]byte) {
	key := weak.Make(buf)
	p.mu.Lock()
	h, ok := p.held[key]
	delete(p.held, key)
	p.mu.Unlock()
	if !ok {
		// Not one of ours (gRPC may pool buffers it did not get here);
		// uncharged, so it is not kept either.
		return
	}
	h.cleanup.Stop()
	p.budget.release(h.n)
	p.inner.Put(buf)
}

// collected releases the charge of a buffer gRPC dropped without Put.
func (p *budgetPool) collected(key weak.Pointer[[]byte]) {
	p.mu.Lock()
	h, ok := p.held[key]
	delete(p.held, key)
	p.mu.Unlock()
	if ok {
		p.budget.release(h.n)
	}
}

// sweepStale asks for a collection when a buffer has been held longer than
// wait: its stream's deadline has passed, so gRPC has most likely dropped
// it, and only its cleanup gives its charge back. It runs again after
// sweepEvery while buffers are held, and stops when none is.
func (p *budgetPool) sweepStale() {
	cutoff := time.Now().Add(-p.wait)
	stale := false
	p.mu.Lock()
	for _, h := range p.held {
		if h.since.Before(cutoff) {
			stale = true
			break
		}
	}
	if len(p.held) > 0 {
		p.sweep.Reset(p.sweepEvery)
	} else {
		p.sweep = nil
	}
	p.mu.Unlock()
	if stale {
		p.collectLeaked()
	}
}

// collectLeaked starts a garbage collection, at most once per wait, so that
// the cleanups of dropped buffers run even when the heap does not grow.
func (p *budgetPool) collectLeaked() {
	now := time.Now().UnixNano()
	last := p.lastGC.Load()
	if now-last < int64(p.wait) || !p.lastGC.CompareAndSwap(last, now) {
		return
	}
	go runtime.GC()
}
