package ingest

import (
	"runtime/debug"
	"testing"
	"time"
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
