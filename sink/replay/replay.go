// Package replay sends stored spans to an OTLP receiver (`spansink spans
// replay`): the reader's spans, in the reader's order, converted back to
// OTLP where they were stored as dbgpt lines, in batches, at a bounded
// rate, retried while the receiver asks for patience, and, with a resume
// state, continued where an interrupted replay stopped.
package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"golang.org/x/time/rate"

	"github.com/spansink/spansink/sink/reader"
	"github.com/spansink/spansink/sink/reader/s3read"
)

// DefaultBatchSpans is the spans sent per request, as the OpenTelemetry
// Collector's batch processor sends them.
const DefaultBatchSpans = 512

// DefaultTimeout bounds one request, as the OTLP exporters do.
const DefaultTimeout = 10 * time.Second

// ProgressInterval is the least time between two progress lines.
const ProgressInterval = time.Second

// Options configure a Replayer.
type Options struct {
	// Exporter sends the requests; Endpoint names its receiver in the
	// resume state.
	Exporter Exporter
	Endpoint string
	// BatchSpans is the spans per request; 0 means DefaultBatchSpans.
	BatchSpans int
	// Rate bounds the spans sent per second; 0 is unbounded. A batch
	// larger than a second's worth shrinks to it, so that a request goes
	// about every second rather than a large one every few.
	Rate float64
	// Timeout bounds each request; 0 means DefaultTimeout.
	Timeout time.Duration
	// Backoff paces retries; the zero value means DefaultBackoff.
	Backoff Backoff
	// State records acknowledged spans per input and skips those an
	// earlier run recorded; nil replays everything and records nothing.
	State *State
	// Interrupt, once done, stops the replay: the request in flight is
	// seen through and recorded, no other is sent.
	Interrupt context.Context
	// Progress gets a progress line at most every ProgressInterval; nil
	// gets none.
	Progress io.Writer
	// Warn is told about spans that cannot be sent, spans the receiver
	// rejected, and retries.
	Warn func(string)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Stats say how far a replay got.
type Stats struct {
	// Sent is the spans the receiver acknowledged (Rejected of them it
	// then dropped, saying so in a partial success).
	Sent, Rejected int64
	// Resumed is the spans skipped because an earlier run had them
	// acknowledged.
	Resumed int64
	// Unconvertible is the spans that could not be OTLP spans.
	Unconvertible int64
	// Requests and Retries count the export calls.
	Requests, Retries int64
	// Elapsed is the time since the Replayer was made.
	Elapsed time.Duration
}

// Replayer sends the spans given to Add, in that order. It is not safe for
// concurrent use; the reader's Scanner calls it from one goroutine.
type Replayer struct {
	opts     Options
	batch    int
	limiter  *rate.Limiter
	entries  []batchEntry
	seen     map[string]int64 // spans of each input given so far
	names    map[string]string
	stats    Stats
	progress *progress
	lastIn   string
}

// New returns a Replayer.
func New(opts Options) *Replayer {
	if opts.BatchSpans <= 0 {
		opts.BatchSpans = DefaultBatchSpans
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Backoff == (Backoff{}) {
		opts.Backoff = DefaultBackoff
	}
	if opts.Interrupt == nil {
		opts.Interrupt = context.Background()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Warn == nil {
		opts.Warn = func(string) {}
	}
	r := &Replayer{opts: opts, batch: opts.BatchSpans, seen: map[string]int64{}, names: map[string]string{}}
	if opts.Rate > 0 {
		if perSecond := int(opts.Rate); perSecond < r.batch {
			r.batch = max(1, perSecond)
		}
		// The burst is one batch: the first goes at once, the next when
		// the rate has earned it.
		r.limiter = rate.NewLimiter(rate.Limit(opts.Rate), r.batch)
	}
	r.progress = newProgress(opts.Progress, opts.Now, ProgressInterval)
	return r
}

// Add takes the next span, sending a batch when it is full. The span is
// only read during the call, as the Scanner's emit function requires.
func (r *Replayer) Add(s *reader.Span) error {
	input := r.inputName(s.File)
	r.seen[input]++
	if r.opts.State != nil && r.seen[input] <= r.opts.State.Acknowledged(input) {
		r.stats.Resumed++
		return nil
	}
	if err := r.opts.Interrupt.Err(); err != nil {
		return r.interrupted()
	}
	r.lastIn = input
	entry := batchEntry{input: input}
	out, err := toOutgoing(s)
	if err != nil {
		r.stats.Unconvertible++
		r.opts.Warn(fmt.Sprintf("%s:%d: span %s not sent: %v", s.File, s.Line, s.SpanID, err))
	} else {
		entry.span = &out
	}
	r.entries = append(r.entries, entry)
	if len(r.entries) < r.batch {
		return nil
	}
	return r.send()
}

// Finish sends what is left and returns the figures. It fails when the
// replay was interrupted, so that a caller cannot mistake part for all.
func (r *Replayer) Finish() (Stats, error) {
	if r.opts.Interrupt.Err() != nil {
		return r.Stats(), r.interrupted()
	}
	err := r.send()
	return r.Stats(), err
}

// Stats are the figures so far.
func (r *Replayer) Stats() Stats {
	s := r.stats
	s.Elapsed = r.progress.elapsed()
	return s
}

// inputName is how the resume state names a span's input: the absolute
// path of a file, the URL of an object, so that a run from another
// directory still finds its counts.
func (r *Replayer) inputName(file string) string {
	if name, ok := r.names[file]; ok {
		return name
	}
	name := file
	if !s3read.IsURL(file) {
		if abs, err := filepath.Abs(file); err == nil {
			name = abs
		}
	}
	r.names[file] = name
	return name
}

// send sends the batch, request by request, recording each acknowledged
// one before the next goes, so that what the state holds is always what
// the receiver has.
func (r *Replayer) send() error {
	entries := r.entries
	r.entries = nil
	for _, req := range requests(entries, MaxRequestBytes) {
		if req.spans > 0 {
			if err := r.export(req); err != nil {
				return err
			}
		}
		if err := r.record(req); err != nil {
			return err
		}
		r.progress.update(r.stats.Sent, req.lastIn)
	}
	return nil
}

// export sends one request when the rate allows, with retries.
func (r *Replayer) export(req request) error {
	if r.limiter != nil {
		if err := r.limiter.WaitN(r.opts.Interrupt, req.spans); err != nil {
			return r.interrupted()
		}
	}
	onRetry := func(err error, wait time.Duration) {
		r.stats.Retries++
		r.opts.Warn(fmt.Sprintf("retrying a request of %d spans in %s: %v", req.spans, wait.Round(time.Millisecond), err))
	}
	r.stats.Requests++
	result, err := exportWithRetry(r.opts.Interrupt.Done(), r.opts.Exporter, req.traces, r.opts.Timeout, r.opts.Backoff, onRetry)
	if errors.Is(err, errInterrupted) {
		return r.interrupted()
	}
	if err != nil {
		return r.stopped(err, req)
	}
	r.stats.Sent += int64(req.spans)
	if result.RejectedSpans > 0 || result.Message != "" {
		r.stats.Rejected += result.RejectedSpans
		r.opts.Warn(fmt.Sprintf("the receiver took a request of %d spans but rejected %d of them: %s", req.spans, result.RejectedSpans, result.Message))
	}
	return nil
}

// record adds an acknowledged request to the resume state and saves it.
func (r *Replayer) record(req request) error {
	if r.opts.State == nil {
		return nil
	}
	r.opts.State.Add(r.opts.Endpoint, req.inputs)
	if err := r.opts.State.Save(); err != nil {
		return fmt.Errorf("replay stopped after %d spans were acknowledged: %w", r.stats.Sent, err)
	}
	return nil
}

// ErrInterrupted is the replay's error when it was interrupted.
var ErrInterrupted = errors.New("replay interrupted")

// interrupted says how far an interrupted replay got.
func (r *Replayer) interrupted() error {
	return fmt.Errorf("%w after %d spans were acknowledged; %s", ErrInterrupted, r.stats.Sent, r.resumeHint())
}

// stopped says why the replay stopped and how far it got.
func (r *Replayer) stopped(err error, req request) error {
	return fmt.Errorf("replay stopped: a request of %d spans (up to %s) failed: %w; %d spans were acknowledged before it; %s",
		req.spans, req.lastIn, err, r.stats.Sent, r.resumeHint())
}

// resumeHint tells how to go on from here.
func (r *Replayer) resumeHint() string {
	if r.opts.State != nil {
		return fmt.Sprintf("run again with --resume %s to send the rest", r.opts.State.path)
	}
	return "without --resume a new replay starts from the first span again"
}
