package ingest

import (
	"runtime/debug"
	"testing"
	"time"

	"google.golang.org/grpc/mem"
)

// A buffer gRPC drops without returning it (data queued on a stream that
// ended before its handler read it) gives its charge back once it is
// collected, also on a server that then sits idle: nothing else would
// collect its heap for two minutes, and until then the budget, and the
// spansink_inflight_bytes that operators watch, would still count it.
// Not parallel: another test's allocations would collect the heap for it.
func TestDroppedBuffersChargeIsReturnedOnAnIdleServer(t *testing.T) {
	// Only the pool's sweep may collect: automatic collection is off.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	budget := NewInflightBudget(1<<20, nil)
	const wait = 200 * time.Millisecond
	pool := newBudgetPool(budget, wait)
	kept := pool.waiting().Get(16 << 10)
	for range 4 {
		_ = pool.waiting().Get(16 << 10) // dropped, as gRPC drops a dead stream's frames
	}
	if got, want := budget.InUse(), int64(5*16<<10); got != want {
		t.Fatalf("in use after five Gets = %d, want %d", got, want)
	}
	deadline := time.Now().Add(10 * time.Second)
	for budget.InUse() != 16<<10 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := budget.InUse(); got != 16<<10 {
		t.Fatalf("in use 10 s after four buffers were dropped = %d, want %d: the kept buffer only", got, 16<<10)
	}
	pool.waiting().Put(kept)
	if got := budget.InUse(); got != 0 {
		t.Fatalf("in use after the kept buffer came back = %d, want 0", got)
	}
	// With nothing held, the sweep stops.
	time.Sleep(3 * pool.sweepEvery)
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if pool.sweep != nil {
		t.Error("the sweep is still scheduled with no buffer held")
	}
}

// A request's buffer is charged at its capacity, the memory it holds, and
// that is less than twice the request: with gRPC's default tiers a
// 100 KiB request held a 1 MiB buffer and was charged 100 KiB.
func TestRequestBufferChargedAtItsCapacity(t *testing.T) {
	for _, length := range []int{100, 5 << 10, 40 << 10, 100 << 10, 300 << 10, 3 << 20, 20 << 20} {
		budget := NewInflightBudget(64<<20, nil)
		pool := newBudgetPool(budget, time.Second)
		for _, p := range []mem.BufferPool{pool.waiting(), pool.charging()} {
			buf := p.Get(length)
			capacity := int64(cap(*buf))
			if got := budget.InUse(); got != capacity {
				t.Errorf("a %d-byte buffer of capacity %d charged %d bytes, want its capacity", length, capacity, got)
			}
			if length >= 4<<10 && capacity >= 2*int64(length) {
				t.Errorf("a %d-byte request took a buffer of %d bytes, want less than twice its size", length, capacity)
			}
			p.Put(buf)
			if got := budget.InUse(); got != 0 {
				t.Errorf("%d bytes still charged after the %d-byte buffer came back, want 0", got, length)
			}
		}
	}
}
