package ingest

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// InflightBudget bounds the bytes of request bodies held in memory at once,
// over the HTTP handler and the gRPC server together (limits.maxInflightBytes).
// Without it, every connection may hold a request of MaxRequestBytes that is
// still arriving, and a few hundred slow connections hold gigabytes.
//
// Waiters are served in arrival order, so a large request is not starved by
// a stream of small ones. Every wait is bounded (HTTP by a short wait, gRPC
// by the request timeout), and every holder is a request that ends within
// the request timeout, so waiting can delay a request but never deadlock.
type InflightBudget struct {
	mu      sync.Mutex
	limit   int64
	used    int64
	waiters list.List // of *budgetWaiter, oldest first
}

// budgetWaiter is a request for n bytes that did not fit; ready is closed
// once the bytes are charged to it.
type budgetWaiter struct {
	n     int64
	ready chan struct{}
}

// NewInflightBudget returns a budget of limit bytes and, unless reg is nil,
// registers its gauges spansink_inflight_bytes (in use) and
// spansink_inflight_limit_bytes there.
func NewInflightBudget(limit int64, reg prometheus.Registerer) *InflightBudget {
	if limit <= 0 {
		panic(fmt.Sprintf("ingest: inflight budget of %d bytes", limit))
	}
	b := &InflightBudget{limit: limit}
	if reg != nil {
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "spansink_inflight_bytes",
				Help: "Bytes of request bodies held in memory now, over OTLP/HTTP, DB-GPT and OTLP/gRPC (bounded by limits.maxInflightBytes).",
			}, func() float64 { return float64(b.InUse()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "spansink_inflight_limit_bytes",
				Help: "limits.maxInflightBytes: the bytes of request bodies the collector holds in memory at most.",
			}, func() float64 { return float64(b.Limit()) }),
		)
	}
	return b
}

// Limit is the budget's size in bytes.
func (b *InflightBudget) Limit() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.limit
}

// SetLimit resizes the budget to limit bytes (positive). A larger budget
// grants waiting requests at once; a smaller one takes nothing back from
// the requests holding bytes: new ones wait until enough is released.
func (b *InflightBudget) SetLimit(limit int64) error {
	if limit <= 0 {
		return fmt.Errorf("inflight budget must be positive, got %d bytes", limit)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.limit = limit
	b.grantLocked()
	return nil
}

// InUse is the number of bytes charged now.
func (b *InflightBudget) InUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// acquire charges n bytes, waiting for room at most wait and while ctx
// lasts; it reports whether the bytes were charged. Bytes are granted in
// the order they were asked for.
func (b *InflightBudget) acquire(ctx context.Context, n int64, wait time.Duration) bool {
	b.mu.Lock()
	if b.used+n <= b.limit && b.waiters.Len() == 0 {
		b.used += n
		b.mu.Unlock()
		return true
	}
	if n > b.limit {
		// It could never fit; waiting would only hold up the others.
		b.mu.Unlock()
		return false
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	elem := b.waiters.PushBack(w)
	b.mu.Unlock()

	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-w.ready:
		return true
	case <-ctx.Done():
	case <-timer.C:
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready:
		// Granted while the timer fired: keep it, the caller may proceed.
		return true
	default:
	}
	b.waiters.Remove(elem)
	// This waiter may have been the oldest, holding up smaller ones that fit.
	b.grantLocked()
	return false
}

// charge charges n bytes without waiting, also beyond the limit: for memory
// that is already allocated or whose holder must not wait (see budgetPool).
func (b *InflightBudget) charge(n int64) {
	b.mu.Lock()
	b.used += n
	b.mu.Unlock()
}

// release gives back n bytes charged by acquire or charge.
func (b *InflightBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.grantLocked()
	b.mu.Unlock()
}

// grantLocked charges the oldest waiters whose bytes now fit, in order.
func (b *InflightBudget) grantLocked() {
	for front := b.waiters.Front(); front != nil; front = b.waiters.Front() {
		w := front.Value.(*budgetWaiter)
		if b.used+w.n > b.limit {
			return
		}
		b.used += w.n
		b.waiters.Remove(front)
		close(w.ready)
	}
}

// errInflightFull refuses an HTTP request whose body found no room in the
// budget within inflightWait; answered 503 with Retry-After.
type errInflightFull struct{ limit int64 }

func (e errInflightFull) Error() string {
	return fmt.Sprintf("the collector holds its limit of %d bytes of request bodies in memory (limits.maxInflightBytes); retry later", e.limit)
}
