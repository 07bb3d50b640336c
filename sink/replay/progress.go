package replay

import (
	"fmt"
	"io"
	"time"
)

// progress prints a line on the way: spans sent, their rate since the last
// line, and the input being read, at most once per interval, so that a
// long replay shows it is moving without flooding a terminal or a log.
type progress struct {
	out      io.Writer
	now      func() time.Time
	interval time.Duration
	started  time.Time
	lastAt   time.Time
	lastSent int64
}

func newProgress(out io.Writer, now func() time.Time, interval time.Duration) *progress {
	start := now()
	return &progress{out: out, now: now, interval: interval, started: start, lastAt: start}
}

// update prints a line if the interval has passed since the last one.
func (p *progress) update(sent int64, input string) {
	if p.out == nil {
		return
	}
	now := p.now()
	elapsed := now.Sub(p.lastAt)
	if elapsed < p.interval {
		return
	}
	rate := float64(sent-p.lastSent) / elapsed.Seconds()
	fmt.Fprintf(p.out, "replay: %d spans sent, %.0f spans/s, reading %s\n", sent, rate, input)
	p.lastAt, p.lastSent = now, sent
}

// elapsed is the time since the replay started.
func (p *progress) elapsed() time.Duration { return p.now().Sub(p.started) }
