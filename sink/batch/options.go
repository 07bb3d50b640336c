package batch

import (
	"fmt"
	"time"

	"github.com/go-logr/logr"
)

// Default retry backoff for a failing storage.
const (
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
)

// Options configure a Batcher.
type Options struct {
	// Size is the number of waiting spans that triggers a flush, and the
	// most spans one storage write holds when writes queue up.
	Size int
	// FlushInterval is the longest a span waits for a flush in Batched mode.
	FlushInterval time.Duration
	// MaxQueuedSpans bounds the spans accepted and not yet written by every
	// storage; beyond it Submit returns record.ErrQueueFull.
	MaxQueuedSpans int
	// Durable makes Submit wait until every storage has written and synced
	// the records.
	Durable bool
	// MinBackoff and MaxBackoff bound the wait between retries of a failing
	// storage; zero means the defaults.
	MinBackoff, MaxBackoff time.Duration
	// Metrics describe the queue and writes; nil counts nothing.
	Metrics *Metrics
	// Logger receives storage failures and recoveries.
	Logger logr.Logger
	// Clock is the time source of the flush interval, the backoff and the
	// metrics; nil means the wall clock. Tests inject a fake one.
	Clock Clock
}

// withDefaults fills in what the caller left to the package.
func (o Options) withDefaults() Options {
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(DefaultMaxBackoff, o.MinBackoff)
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	return o
}

// Tuning is the part of Options that may change on a running Batcher
// (Reconfigure).
type Tuning struct {
	// Size is Options.Size.
	Size int
	// FlushInterval is Options.FlushInterval.
	FlushInterval time.Duration
	// MaxQueuedSpans is Options.MaxQueuedSpans.
	MaxQueuedSpans int
	// Durable is Options.Durable.
	Durable bool
}

// Tuning returns the part of o that may change on a running Batcher.
func (o Options) Tuning() Tuning {
	return Tuning{Size: o.Size, FlushInterval: o.FlushInterval, MaxQueuedSpans: o.MaxQueuedSpans, Durable: o.Durable}
}

func (t Tuning) validate() error {
	switch {
	case t.Size < 1:
		return fmt.Errorf("batch size must be positive, got %d", t.Size)
	case t.FlushInterval <= 0:
		return fmt.Errorf("flush interval must be positive, got %s", t.FlushInterval)
	case t.MaxQueuedSpans < t.Size:
		return fmt.Errorf("max queued spans (%d) must be at least the batch size (%d)", t.MaxQueuedSpans, t.Size)
	}
	return nil
}
