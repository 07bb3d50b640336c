package ingest

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spansink/spansink/sink/format"
)

// Protocol label values of the ingest metrics.
const (
	ProtocolOTLPGRPC = "otlp_grpc"
	ProtocolOTLPHTTP = "otlp_http"
	ProtocolDBGPT    = "dbgpt"
)

// Reason label values of spansink_spans_rejected_total.
const (
	ReasonMalformedID        = "malformed_id"
	ReasonInvalidTraceID     = "invalid_trace_id"
	ReasonInvalidSpanID      = "invalid_span_id"
	ReasonInvalidRecord      = "invalid_record"
	ReasonUnconvertible      = "unconvertible"
	ReasonQueueFull          = "queue_full"
	ReasonStopping           = "stopping"
	ReasonStorageUnavailable = "storage_unavailable"
	ReasonCanceled           = "canceled"
	ReasonInternal           = "internal"
	// ReasonTooManySpans counts the spans of requests holding more than
	// the queue can ever hold.
	ReasonTooManySpans = "too_many_spans"
)

// Reason label values of spansink_requests_refused_total: the transport
// limit that refused a request before its spans were decoded.
const (
	// RefusedConcurrentRequests: limits.maxConcurrentRequests (HTTP 503).
	RefusedConcurrentRequests = "concurrent_requests"
	// RefusedInflightBytes: limits.maxInflightBytes (HTTP 503).
	RefusedInflightBytes = "inflight_bytes"
	// RefusedRequestTimeout: limits.requestTimeout passed before the
	// request arrived (HTTP 408, gRPC DeadlineExceeded).
	RefusedRequestTimeout = "request_timeout"
)

// Metrics counts what ingest receives, accepts and rejects.
type Metrics struct {
	// refused counts requests refused by a transport limit.
	refused  *prometheus.CounterVec
	received *prometheus.CounterVec
	accepted *prometheus.CounterVec
	rejected *prometheus.CounterVec
	requests *prometheus.CounterVec
	// attributesDropped and valuesTruncated count what the attribute
	// limits changed.
	attributesDropped *prometheus.CounterVec
	valuesTruncated   *prometheus.CounterVec
}

// NewMetrics creates the ingest metrics and registers them with reg unless
// reg is nil. It panics if they are already registered there, as
// prometheus.MustRegister does: two ingest paths must share one Metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spansink_requests_refused_total",
			Help: "Ingest requests refused by a transport limit (limits.maxConcurrentRequests, maxInflightBytes, requestTimeout), by reason.",
		}, []string{"protocol", "reason"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spansink_spans_received_total",
			Help: "Spans decoded from requests, before validation.",
		}, []string{"protocol"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spansink_spans_accepted_total",
			Help: "Spans taken by the queue (and, in Durable mode, written).",
		}, []string{"protocol"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spansink_spans_rejected_total",
			Help: "Decoded spans not stored, by reason.",
		}, []string{"protocol", "reason"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spansink_requests_total",
			Help: "Ingest requests by protocol and response code (HTTP status or gRPC code).",
		}, []string{"protocol", "code"}),
		attributesDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spansink_attributes_dropped_total",
			Help: "Span, event and link attributes dropped beyond limits.maxAttributesPerSpan.",
		}, []string{"protocol"}),
		valuesTruncated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spansink_attribute_values_truncated_total",
			Help: "String and bytes attribute values cut to limits.maxAttributeValueBytes.",
		}, []string{"protocol"}),
	}
	for _, p := range []string{ProtocolOTLPGRPC, ProtocolOTLPHTTP, ProtocolDBGPT} {
		// Create the series up front so dashboards see zeros, not gaps.
		m.received.WithLabelValues(p)
		m.accepted.WithLabelValues(p)
	}
	if reg != nil {
		reg.MustRegister(m.refused, m.received, m.accepted, m.rejected, m.requests, m.attributesDropped, m.valuesTruncated)
	}
	return m
}

// protocolMetrics holds the per-protocol counters resolved once, so the
// request path does not look up label values for them.
type protocolMetrics struct {
	name     string
	received prometheus.Counter
	accepted prometheus.Counter
	m        *Metrics
}

func (m *Metrics) forProtocol(name string) *protocolMetrics {
	return &protocolMetrics{
		name:     name,
		received: m.received.WithLabelValues(name),
		accepted: m.accepted.WithLabelValues(name),
		m:        m,
	}
}

func (p *protocolMetrics) reject(reason string, spans int) {
	if spans > 0 {
		p.m.rejected.WithLabelValues(p.name, reason).Add(float64(spans))
	}
}

// limited counts what the attribute limits changed in a request.
func (p *protocolMetrics) limited(c format.LimitCounts) {
	if c.Dropped > 0 {
		p.m.attributesDropped.WithLabelValues(p.name).Add(float64(c.Dropped))
	}
	if c.Truncated > 0 {
		p.m.valuesTruncated.WithLabelValues(p.name).Add(float64(c.Truncated))
	}
}

// refused counts a request refused by the transport limit reason.
func (p *protocolMetrics) refused(reason string) {
	p.m.refused.WithLabelValues(p.name, reason).Inc()
}

func (p *protocolMetrics) request(code string) {
	p.m.requests.WithLabelValues(p.name, code).Inc()
}
