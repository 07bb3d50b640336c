package ingest

import (
	"sync/atomic"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/format"
)

// Limits are the per-request limits that may change while the handler and
// the service serve (LiveLimits). Each means what the Options field of the
// same name does.
type Limits struct {
	MaxSpansPerRequest     int
	MaxAttributesPerSpan   int
	MaxAttributeValueBytes int
	MaxConcurrentRequests  int
}

// LiveLimits holds the Limits in force. A request reads them once, with one
// atomic load and no lock or allocation, so it sees one version throughout
// while a config reload swaps in the next. Share one between the HTTP
// handler and the gRPC service (Options.Live).
type LiveLimits struct {
	current atomic.Pointer[liveLimits]
}

// liveLimits is one version of the limits with what requests derive from
// them computed once.
type liveLimits struct {
	Limits
	attrs format.AttributeLimits
}

// NewLiveLimits returns limits holding l.
func NewLiveLimits(l Limits) *LiveLimits {
	ll := &LiveLimits{}
	ll.Set(l)
	return ll
}

// Set puts l in force for the requests that start from now on; zero
// MaxAttributesPerSpan and MaxConcurrentRequests mean the config defaults.
// Requests already past a check keep the version they read.
func (ll *LiveLimits) Set(l Limits) {
	if l.MaxAttributesPerSpan <= 0 {
		l.MaxAttributesPerSpan = config.DefaultMaxAttributesPerSpan
	}
	if l.MaxConcurrentRequests <= 0 {
		l.MaxConcurrentRequests = config.DefaultMaxConcurrentRequests
	}
	ll.current.Store(&liveLimits{
		Limits: l,
		attrs:  format.AttributeLimits{MaxCount: l.MaxAttributesPerSpan, MaxValueBytes: l.MaxAttributeValueBytes},
	})
}

// Get returns the limits in force, with defaults filled in.
func (ll *LiveLimits) Get() Limits { return ll.current.Load().Limits }

func (ll *LiveLimits) load() *liveLimits { return ll.current.Load() }

// liveLimitsOf returns opts.Live, or limits of its static fields when
// unset.
func liveLimitsOf(opts Options) *LiveLimits {
	if opts.Live != nil {
		return opts.Live
	}
	return NewLiveLimits(Limits{
		MaxSpansPerRequest:     opts.MaxSpansPerRequest,
		MaxAttributesPerSpan:   opts.MaxAttributesPerSpan,
		MaxAttributeValueBytes: opts.MaxAttributeValueBytes,
		MaxConcurrentRequests:  opts.MaxConcurrentRequests,
	})
}
