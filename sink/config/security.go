package config

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of the limits that protect a collector from its clients. They
// are chosen so that one collector's memory stays bounded whatever its
// clients send (docs/security.md lists them with what each one stops),
// while the OpenTelemetry SDKs' and Collector's own defaults (4 MiB gRPC
// messages, 512-span batches, 128 attributes) pass untouched.
const (
	// DefaultMaxInflightBytes bounds the request bodies held in memory at
	// once, over both OTLP ports together.
	DefaultMaxInflightBytes = 64 << 20
	// DefaultMaxConcurrentRequests bounds the HTTP requests served at once.
	DefaultMaxConcurrentRequests = 128
	// DefaultMaxConcurrentStreams bounds the calls open at once on one gRPC
	// connection (HTTP/2 MAX_CONCURRENT_STREAMS).
	DefaultMaxConcurrentStreams = 32
	// DefaultRequestTimeout bounds reading a whole HTTP request and a gRPC
	// call from its first byte to its answer.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultIdleTimeout closes HTTP keep-alive connections and gRPC
	// connections that carry no request for this long.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultMaxHeaderBytes bounds HTTP request headers and gRPC metadata.
	DefaultMaxHeaderBytes = 1 << 20
	// DefaultMaxAttributesPerSpan is the OpenTelemetry SDKs' attribute
	// count limit; it applies to a span's, an event's and a link's
	// attributes, each on its own.
	DefaultMaxAttributesPerSpan = 128
	// DefaultMaxAttributeValueBytes truncates longer string and bytes
	// attribute values, as the OpenTelemetry specification's attribute
	// value length limit does.
	DefaultMaxAttributeValueBytes = 1 << 20
	// DefaultRecentSpansBytes bounds the memory of the /debug/spans ring.
	DefaultRecentSpansBytes = 16 << 20
)

// MaxNestingDepth is the deepest nesting that ingest accepts: of OTLP
// AnyValue arrays and key-value lists, and of DB-GPT JSON values. Every
// path checks this one limit. It is what every path can keep: pdata's
// protobuf decoder stops at a recursion depth of 100 of its own counting,
// three per key-value list level, so 33 nested lists are the most an
// OTLP/protobuf request may hold whatever the collector accepts; and the
// lines it stores stay well within what the span reader parses
// (fastjson's depth of 300, which an otlp-json line reaches at four JSON
// levels per AnyValue level).
const MaxNestingDepth = 32

// MaxReportedRejections is how many per-record reasons a reply lists; the
// count of rejected records is always exact.
const MaxReportedRejections = 100

// Limits protect the collector from oversized input and misbehaving
// clients. A request larger than the whole span queue
// (batch.maxQueuedSpans) is refused too, so that the crash-loss bound of
// Batched delivery holds.
type Limits struct {
	// MaxRequestBytes bounds a request body, also after decompression.
	MaxRequestBytes int64 `json:"maxRequestBytes"`
	// MaxInflightBytes bounds the request bodies held in memory at once,
	// over both OTLP ports; a request waits for room (gRPC) or is refused
	// with 503 (HTTP) beyond it. At least MaxRequestBytes.
	MaxInflightBytes int64 `json:"maxInflightBytes"`
	// MaxConcurrentRequests bounds the OTLP/HTTP and DB-GPT requests
	// served at once; more are answered 503 with Retry-After.
	MaxConcurrentRequests int `json:"maxConcurrentRequests"`
	// MaxConcurrentStreams bounds the calls open at once on one gRPC connection.
	MaxConcurrentStreams int `json:"maxConcurrentStreams"`
	// RequestTimeout bounds reading a whole HTTP request and a gRPC call.
	RequestTimeout Duration `json:"requestTimeout"`
	// IdleTimeout closes connections that carry no request for this long.
	IdleTimeout Duration `json:"idleTimeout"`
	// MaxHeaderBytes bounds HTTP request headers and gRPC metadata.
	MaxHeaderBytes int `json:"maxHeaderBytes"`
	// MaxAttributesPerSpan bounds the attributes kept per span, event and
	// link; the rest are dropped and counted in dropped_attributes_count.
	MaxAttributesPerSpan int `json:"maxAttributesPerSpan"`
	// MaxAttributeValueBytes truncates longer string and bytes attribute
	// values (strings at a UTF-8 character boundary); 0 keeps them whole.
	MaxAttributeValueBytes int `json:"maxAttributeValueBytes"`
}

// DefaultLimits returns the limits used when nothing is set.
func DefaultLimits() Limits {
	return Limits{
		MaxRequestBytes:        DefaultMaxRequestBytes,
		MaxInflightBytes:       DefaultMaxInflightBytes,
		MaxConcurrentRequests:  DefaultMaxConcurrentRequests,
		MaxConcurrentStreams:   DefaultMaxConcurrentStreams,
		RequestTimeout:         Duration(DefaultRequestTimeout),
		IdleTimeout:            Duration(DefaultIdleTimeout),
		MaxHeaderBytes:         DefaultMaxHeaderBytes,
		MaxAttributesPerSpan:   DefaultMaxAttributesPerSpan,
		MaxAttributeValueBytes: DefaultMaxAttributeValueBytes,
	}
}

// Auth says which clients may send spans and read the debug endpoints.
type Auth struct {
	// BearerTokenFile is a file of accepted bearer tokens, one per line
	// (blank lines and lines starting with # are skipped). Clients send
	// "Authorization: Bearer <token>" over HTTP and the authorization
	// metadata over gRPC. Empty turns authentication off. The file is read
	// again when it changes, so a rotated Secret takes effect without a
	// restart.
	BearerTokenFile string `json:"bearerTokenFile,omitempty"`
}

// Enabled reports whether clients must present a token.
func (a Auth) Enabled() bool { return a.BearerTokenFile != "" }

// TLS encrypts the two OTLP ports. The files are read again when they
// change, so a renewed certificate takes effect without a restart.
type TLS struct {
	// CertFile is the PEM server certificate chain (tls.crt of a
	// kubernetes.io/tls Secret); empty serves plain text.
	CertFile string `json:"certFile,omitempty"`
	// KeyFile is the PEM private key of CertFile (tls.key).
	KeyFile string `json:"keyFile,omitempty"`
	// ClientCAFile, when set, requires every client to present a
	// certificate signed by one of these PEM CA certificates (mutual TLS).
	ClientCAFile string `json:"clientCAFile,omitempty"`
}

// Enabled reports whether the OTLP ports serve TLS.
func (t TLS) Enabled() bool { return t.CertFile != "" }

// Debug says whether the admin port serves /debug/spans and /debug/pprof.
// They show span contents and process internals, so they are off unless
// enabled, and behind Auth's tokens when Auth is set.
type Debug struct {
	// Enabled serves /debug/spans and /debug/pprof.
	Enabled bool `json:"enabled,omitempty"`
	// RecentSpansBytes bounds the memory of the ring behind /debug/spans,
	// and so the size of its answer.
	RecentSpansBytes int64 `json:"recentSpansBytes"`
}

func (l Limits) validate() error {
	var errs []error
	positive := func(field string, v int64) {
		if v < 1 {
			errs = append(errs, fmt.Errorf("limits.%s must be positive, got %d", field, v))
		}
	}
	positive("maxRequestBytes", l.MaxRequestBytes)
	positive("maxInflightBytes", l.MaxInflightBytes)
	positive("maxConcurrentRequests", int64(l.MaxConcurrentRequests))
	positive("maxConcurrentStreams", int64(l.MaxConcurrentStreams))
	positive("maxHeaderBytes", int64(l.MaxHeaderBytes))
	positive("maxAttributesPerSpan", int64(l.MaxAttributesPerSpan))
	if l.MaxInflightBytes > 0 && l.MaxInflightBytes < l.MaxRequestBytes {
		errs = append(errs, fmt.Errorf("limits.maxInflightBytes (%d) must be at least limits.maxRequestBytes (%d), or a request of the largest size could never be taken", l.MaxInflightBytes, l.MaxRequestBytes))
	}
	if l.MaxAttributeValueBytes < 0 {
		errs = append(errs, fmt.Errorf("limits.maxAttributeValueBytes must not be negative (0 keeps values whole), got %d", l.MaxAttributeValueBytes))
	}
	errs = append(errs,
		requirePositive("limits.requestTimeout", l.RequestTimeout),
		requirePositive("limits.idleTimeout", l.IdleTimeout))
	return errors.Join(errs...)
}

func (t TLS) validate() error {
	switch {
	case t.CertFile == "" && t.KeyFile != "":
		return errors.New("tls.keyFile is set without tls.certFile: set both to serve TLS")
	case t.CertFile != "" && t.KeyFile == "":
		return errors.New("tls.certFile is set without tls.keyFile: set both to serve TLS")
	case t.ClientCAFile != "" && t.CertFile == "":
		return errors.New("tls.clientCAFile requires tls.certFile and tls.keyFile: mutual TLS needs a server certificate")
	}
	return nil
}

func (d Debug) validate() error {
	if d.RecentSpansBytes < 1 {
		return fmt.Errorf("debug.recentSpansBytes must be positive, got %d", d.RecentSpansBytes)
	}
	return nil
}
