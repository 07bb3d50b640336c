package batch

import "time"

// Clock is where a Batcher reads the time and gets its timers: the flush
// interval, the backoff of a failing storage and the durations in the
// metrics all come from it. rollingfile needs only the time and injects a
// func() time.Time; the batcher also waits, so it needs timers from the
// same source, or a test that moves the time on would leave them behind.
type Clock interface {
	Now() time.Time
	// Since is Now().Sub(t), which the wall clock answers from its
	// monotonic reading alone: half the cost of Now on the write path.
	Since(t time.Time) time.Duration
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer a Batcher uses. Reset and Stop follow
// Go 1.23 timers: after they return, no stale time is received from C.
type Timer interface {
	C() <-chan time.Time
	Reset(d time.Duration) bool
	Stop() bool
}

// realClock is the wall clock, used when Options.Clock is nil.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Since(t time.Time) time.Duration { return time.Since(t) }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{timer: time.NewTimer(d)} }

type realTimer struct{ timer *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.timer.C }

func (t realTimer) Reset(d time.Duration) bool { return t.timer.Reset(d) }

func (t realTimer) Stop() bool { return t.timer.Stop() }
