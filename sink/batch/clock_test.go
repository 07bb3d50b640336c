package batch

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeClock is the injected clock: time moves only when a test calls
// Advance, and timers fire then, so tests of the flush interval and the
// backoff neither sleep nor depend on the machine's speed.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	armed map[*fakeTimer]bool
}

var _ Clock = (*fakeClock)(nil)

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2031, 3, 14, 12, 0, 0, 0, time.UTC), armed: map[*fakeTimer]bool{}}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{clock: c, ch: make(chan time.Time, 1)}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armLocked(t, d)
	return t
}

func (c *fakeClock) armLocked(t *fakeTimer, d time.Duration) {
	t.deadline = c.now.Add(d)
	if d <= 0 {
		t.ch <- c.now
		return
	}
	c.armed[t] = true
}

// Advance moves the time on by d and fires the timers due by then.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for t := range c.armed {
		if !t.deadline.After(c.now) {
			delete(c.armed, t)
			t.ch <- c.now
		}
	}
}

// waits returns how long each armed timer has still to wait, shortest first.
func (c *fakeClock) waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Duration
	for t := range c.armed {
		out = append(out, t.deadline.Sub(c.now))
	}
	slices.Sort(out)
	return out
}

type fakeTimer struct {
	clock    *fakeClock
	ch       chan time.Time
	deadline time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	wasArmed := t.stopLocked()
	t.clock.armLocked(t, d)
	return wasArmed
}

func (t *fakeTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	return t.stopLocked()
}

// stopLocked disarms t and drops a firing nobody received, as Go 1.23
// timers do.
func (t *fakeTimer) stopLocked() bool {
	wasArmed := t.clock.armed[t]
	delete(t.clock.armed, t)
	select {
	case <-t.ch:
	default:
	}
	return wasArmed
}

// clockStep is how far advanceUntil moves the fake clock at a time: no
// more than the tests' MaxBackoff, so no retry is skipped over.
const clockStep = 5 * time.Millisecond

// advanceUntil moves the fake clock on, a step at a time with a pause for
// the batcher's goroutines, until cond holds or a generous real deadline
// passes. It is for outcomes that need time to pass on the clock but
// where the goroutine that waits on it is not known to be waiting yet.
func advanceUntil(t *testing.T, clock *fakeClock, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		clock.Advance(clockStep)
		time.Sleep(time.Millisecond)
	}
}

// awaitTimer waits until a timer armed to wait exactly d is on the
// clock: the goroutine that wanted it is then blocked on it.
func awaitTimer(t *testing.T, clock *fakeClock, d time.Duration) {
	t.Helper()
	eventually(t, "a timer of "+d.String(), func() bool { return slices.Contains(clock.waits(), d) })
}
