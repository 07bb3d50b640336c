package ingest

import (
	"context"
	"time"

	"google.golang.org/grpc/tap"

	"github.com/spansink/spansink/sink/config"
)

// withTransportDefaults fills the unset transport limits. It does not need
// a Submitter, so GRPCServerOptions and HTTPServer use it on their own.
func (o Options) withTransportDefaults() Options {
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = config.DefaultMaxRequestBytes
	}
	if o.MaxConcurrentRequests <= 0 {
		o.MaxConcurrentRequests = config.DefaultMaxConcurrentRequests
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = config.DefaultRequestTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = config.DefaultIdleTimeout
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = config.DefaultMaxHeaderBytes
	}
	if o.MaxConcurrentStreams <= 0 {
		o.MaxConcurrentStreams = config.DefaultMaxConcurrentStreams
	}
	return o
}

// inflight returns the budget to charge: the shared one, or one of the
// default size for a server built without it.
func (o Options) inflight() *InflightBudget {
	if o.Inflight != nil {
		return o.Inflight
	}
	return NewInflightBudget(max(config.DefaultMaxInflightBytes, o.MaxRequestBytes), nil)
}

// deadlineTap runs inner (if any) and then gives the call a deadline of
// timeout. It must be a tap: the context a tap returns is the one the
// stream's reader waits on, so the deadline also ends a call whose message
// is still arriving (or never does). A stats handler's TagRPC context, or
// an interceptor's, reaches the handler only, after the message is read.
func deadlineTap(inner tap.ServerInHandle, timeout time.Duration) tap.ServerInHandle {
	return func(ctx context.Context, info *tap.Info) (context.Context, error) {
		if inner != nil {
			var err error
			if ctx, err = inner(ctx, info); err != nil {
				return ctx, err
			}
		}
		// gRPC cancels the stream's context, this one's parent, when the
		// call ends, which stops this timer too: cancel is not needed.
		ctx, cancel := context.WithTimeout(ctx, timeout)
		_ = cancel
		return ctx, nil
	}
}
