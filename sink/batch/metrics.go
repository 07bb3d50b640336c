package batch

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spansink/spansink/sink/storage"
)

// Flush trigger label values.
const (
	// TriggerSize: batch.size spans were waiting.
	TriggerSize = "size"
	// TriggerInterval: flushInterval passed since the last flush.
	TriggerInterval = "interval"
	// TriggerShutdown: Close flushed what was left.
	TriggerShutdown = "shutdown"
	// TriggerRequest: Durable mode hands each request to the storages at
	// once; the storages' writers group what arrives during one write and
	// fsync into the next (group commit).
	TriggerRequest = "request"
	// TriggerReconfigure: a switch from Batched to Durable mode handed
	// what was pending to the storages ahead of the first Durable request.
	TriggerReconfigure = "reconfigure"
)

// Metrics describe the queue and every storage's writes. A nil *Metrics
// counts nothing.
type Metrics struct {
	queued        prometheus.Gauge
	capacity      prometheus.Gauge
	flushes       *prometheus.CounterVec
	spansWritten  *prometheus.CounterVec
	bytesWritten  *prometheus.CounterVec
	flushDuration *prometheus.HistogramVec
	syncDuration  *prometheus.HistogramVec
	errors        *prometheus.CounterVec
	healthy       *prometheus.GaugeVec
	lost          *prometheus.CounterVec
}

// NewMetrics creates the batcher's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	// Writes and fsyncs take from tens of microseconds to seconds on a
	// struggling volume.
	buckets := prometheus.ExponentialBuckets(50e-6, 2.5, 14)
	m := &Metrics{
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spansink_queue_spans",
			Help: "Spans accepted and not yet written by every storage.",
		}),
		capacity: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spansink_queue_capacity_spans",
			Help: "The most spans the queue holds before ingest pushes back (batch.maxQueuedSpans).",
		}),
		flushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spansink_flushes_total",
			Help: "Batches handed to the storages, by trigger (size, interval, shutdown; request in Durable mode; reconfigure on a switch to Durable).",
		}, []string{"trigger"}),
		spansWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spansink_spans_written_total",
			Help: "Spans written, by storage.",
		}, []string{"storage"}),
		bytesWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spansink_bytes_written_total",
			Help: "Bytes written including newlines, by storage.",
		}, []string{"storage"}),
		flushDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "spansink_flush_duration_seconds",
			Help:    "Time one storage took to write one batch (and fsync it, in Durable mode); the count is the number of writes (group commits in Durable mode).",
			Buckets: buckets,
		}, []string{"storage"}),
		syncDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "spansink_fsync_duration_seconds",
			Help:    "Time one storage's Sync (flush and fsync) took.",
			Buckets: buckets,
		}, []string{"storage"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spansink_storage_errors_total",
			Help: "Failed writes, fsyncs and recovery probes, by storage and cause (enospc: volume full, eio: I/O error, erofs: read-only volume, other).",
		}, []string{"storage", "cause"}),
		healthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spansink_storage_healthy",
			Help: "1 while a storage's last write succeeded, 0 while it is failing (ingest then answers 503/Unavailable).",
		}, []string{"storage"}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spansink_spans_lost_total",
			Help: "Accepted spans a storage could not write before the shutdown timeout.",
		}, []string{"storage"}),
	}
	for _, t := range []string{TriggerSize, TriggerInterval, TriggerShutdown, TriggerRequest, TriggerReconfigure} {
		m.flushes.WithLabelValues(t)
	}
	reg.MustRegister(m.queued, m.capacity, m.flushes, m.spansWritten, m.bytesWritten, m.flushDuration, m.syncDuration, m.errors, m.healthy, m.lost)
	return m
}

func (m *Metrics) setQueued(n int) {
	if m != nil {
		m.queued.Set(float64(n))
	}
}

func (m *Metrics) setCapacity(n int) {
	if m != nil {
		m.capacity.Set(float64(n))
	}
}

func (m *Metrics) flushed(trigger string) {
	if m != nil {
		m.flushes.WithLabelValues(trigger).Inc()
	}
}

// storage returns the per-storage series, created up front so dashboards
// see zeros rather than gaps.
func (m *Metrics) storage(name string) storageMetrics {
	if m == nil {
		return storageMetrics{}
	}
	sm := storageMetrics{
		spans:   m.spansWritten.WithLabelValues(name),
		bytes:   m.bytesWritten.WithLabelValues(name),
		flush:   m.flushDuration.WithLabelValues(name),
		sync:    m.syncDuration.WithLabelValues(name),
		errors:  map[string]prometheus.Counter{},
		healthy: m.healthy.WithLabelValues(name),
		lost:    m.lost.WithLabelValues(name),
	}
	for _, cause := range storage.Causes {
		sm.errors[cause] = m.errors.WithLabelValues(name, cause)
	}
	sm.healthy.Set(1)
	return sm
}

// storageMetrics are one storage's series; the zero value counts nothing.
type storageMetrics struct {
	spans, bytes, lost prometheus.Counter
	errors             map[string]prometheus.Counter // by cause
	flush, sync        prometheus.Observer
	healthy            prometheus.Gauge
}

func (s storageMetrics) wrote(spans, bytes int, took float64) {
	if s.spans != nil {
		s.spans.Add(float64(spans))
		s.bytes.Add(float64(bytes))
		s.flush.Observe(took)
	}
}

func (s storageMetrics) synced(took float64) {
	if s.sync != nil {
		s.sync.Observe(took)
	}
}

func (s storageMetrics) failed(cause string) {
	if s.errors != nil {
		s.errors[cause].Inc()
		s.healthy.Set(0)
	}
}

func (s storageMetrics) recovered() {
	if s.healthy != nil {
		s.healthy.Set(1)
	}
}

func (s storageMetrics) gaveUp(spans int) {
	if s.lost != nil {
		s.lost.Add(float64(spans))
	}
}
