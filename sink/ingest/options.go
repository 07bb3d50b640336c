// Package ingest receives spans over OTLP/HTTP, OTLP/gRPC and DB-GPT's JSON,
// decodes and validates them, encodes them into records of the configured
// on-disk format on the request goroutine, and hands the records to a
// record.Submitter. Errors follow the OTLP specification: the client learns
// what was wrong and whether a retry can help.
//
// Wiring: NewHTTPHandler serves POST /v1/traces (OTLP protobuf or JSON,
// optionally gzip) and POST /v1/spans (DB-GPT records as JSON lines or a
// JSON array). For gRPC, build the server with GRPCServerOptions and
// register NewGRPCService with RegisterGRPCService. Share one Metrics
// between the two.
//
// Answers: invalid spans (empty ids, ids of the wrong length) are dropped
// and reported as an OTLP partial success while the rest are stored; an
// undecodable body is 400 / InvalidArgument; a body over MaxRequestBytes,
// as sent or decompressed, is 413 (gRPC: ResourceExhausted from gRPC's own
// limit); a full queue is 429 / ResourceExhausted and a stopping collector
// or failing storage 503 / Unavailable, both with Retry-After / RetryInfo.
// A request whose context ends before its spans are acknowledged is 503 /
// Canceled or DeadlineExceeded without Retry-After or RetryInfo, because its
// spans may still be stored (see record.Submitter).
// /v1/spans answers {"accepted":N,"rejected":M,"errors":[{"index":i,
// "message":"..."}]}, plus "error" when the request as a whole failed.
package ingest

import (
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc/tap"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/format"
	"github.com/spansink/spansink/sink/record"
)

// DefaultRetryAfter is how long clients are told to wait when the queue is
// full or the collector is stopping, if Options.RetryAfter is not set.
const DefaultRetryAfter = time.Second

// Options configure the HTTP handler and the gRPC service.
type Options struct {
	// Submitter takes the encoded records; its errors decide the response.
	Submitter record.Submitter
	// Encoder writes spans in the on-disk format.
	Encoder format.Encoder
	// MaxRequestBytes bounds a request body, before and after decompression;
	// zero means config.DefaultMaxRequestBytes.
	MaxRequestBytes int64
	// Metrics counts spans and requests; nil counts into unregistered metrics.
	Metrics *Metrics
	// Logger receives request failures; the zero Logger discards them.
	Logger logr.Logger
	// RetryAfter is the back-off suggested with 429, 503, ResourceExhausted
	// and Unavailable; zero means DefaultRetryAfter.
	RetryAfter time.Duration
	// MaxSpansPerRequest refuses a request holding more spans (413 /
	// ResourceExhausted without RetryInfo): the collector sets it to
	// batch.maxQueuedSpans, as a larger request could never be queued.
	// Zero leaves the bound to the Submitter.
	MaxSpansPerRequest int
	// MaxAttributesPerSpan bounds the attributes kept per span, event and
	// link (config.Limits.MaxAttributesPerSpan); zero means
	// config.DefaultMaxAttributesPerSpan.
	MaxAttributesPerSpan int
	// MaxAttributeValueBytes truncates longer string and bytes attribute
	// values (config.Limits.MaxAttributeValueBytes); zero keeps them whole.
	MaxAttributeValueBytes int

	// Transport limits (config.Limits; see transport.go). Zero values mean
	// the config defaults.

	// Inflight bounds the request bodies held in memory; give the HTTP
	// handler and GRPCServerOptions the same one. Nil gives each its own
	// of config.DefaultMaxInflightBytes.
	Inflight *InflightBudget
	// MaxConcurrentRequests bounds the HTTP requests served at once.
	MaxConcurrentRequests int
	// RequestTimeout bounds reading an HTTP request (HTTPServer) and a
	// gRPC call from its headers to its answer.
	RequestTimeout time.Duration
	// IdleTimeout closes connections without a request for this long.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds HTTP request headers and gRPC metadata.
	MaxHeaderBytes int
	// MaxConcurrentStreams bounds the calls open at once on one gRPC
	// connection.
	MaxConcurrentStreams int
	// Live, if set, holds MaxSpansPerRequest, MaxAttributesPerSpan,
	// MaxAttributeValueBytes and MaxConcurrentRequests instead of the
	// fields of those names (which are then ignored), so that they can
	// change while serving; share one between the HTTP handler and the
	// gRPC service.
	Live *LiveLimits
	// GRPCTap, if set, sees every gRPC call's headers before the call's
	// deadline is set, and may refuse it (the bearer-token check):
	// GRPCServerOptions installs the server's one tap, so others chain here.
	GRPCTap tap.ServerInHandle
}

// withDefaults fills unset options and refuses a missing Submitter or
// Encoder, which is a wiring mistake no request could recover from.
func (o Options) withDefaults() Options {
	if o.Submitter == nil {
		panic("ingest: Options.Submitter is nil")
	}
	if o.Encoder == nil {
		panic("ingest: Options.Encoder is nil")
	}
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = config.DefaultMaxRequestBytes
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = DefaultRetryAfter
	}
	if o.MaxAttributesPerSpan <= 0 {
		o.MaxAttributesPerSpan = config.DefaultMaxAttributesPerSpan
	}
	return o.withTransportDefaults()
}
