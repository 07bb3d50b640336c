package objectstore

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics tell how far the object store lags behind the volume. A nil
// *Metrics counts nothing.
type Metrics struct {
	files         *prometheus.CounterVec
	bytes         prometheus.Counter
	pendingFiles  prometheus.Gauge
	pendingBytes  prometheus.Gauge
	oldestPending prometheus.Gauge
	lastSuccess   prometheus.Gauge
	failing       prometheus.Gauge
}

// NewMetrics registers the uploader's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		files: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spansink_upload_files_total",
			Help: "Sealed span files by result: uploaded (the store confirmed them), found (the store held them already, after a restart), error (an attempt failed).",
		}, []string{"result"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spansink_upload_bytes_total",
			Help: "Bytes of span files the object store confirmed.",
		}),
		pendingFiles: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spansink_upload_pending_files",
			Help: "Sealed span files waiting for the object store.",
		}),
		pendingBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spansink_upload_pending_bytes",
			Help: "Bytes of sealed span files waiting for the object store.",
		}),
		oldestPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spansink_upload_oldest_pending_timestamp_seconds",
			Help: "When the oldest span file waiting for the object store was sealed (Unix time), 0 when none waits: time() minus it is the lag.",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spansink_upload_last_success_timestamp_seconds",
			Help: "When the object store last confirmed a span file (Unix time).",
		}),
		failing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spansink_upload_failing",
			Help: "1 while uploads fail (the store is down, the credentials are wrong, the bucket is missing), else 0.",
		}),
	}
	for _, result := range []string{"uploaded", "found", "error"} {
		m.files.WithLabelValues(result)
	}
	reg.MustRegister(m.files, m.bytes, m.pendingFiles, m.pendingBytes, m.oldestPending, m.lastSuccess, m.failing)
	return m
}

func (m *Metrics) uploaded(size int64) {
	if m != nil {
		m.files.WithLabelValues("uploaded").Inc()
		m.bytes.Add(float64(size))
	}
}

func (m *Metrics) found() {
	if m != nil {
		m.files.WithLabelValues("found").Inc()
	}
}

func (m *Metrics) uploadFailed() {
	if m != nil {
		m.files.WithLabelValues("error").Inc()
	}
}

func (m *Metrics) setPending(files int, bytes int64, oldest time.Time) {
	if m == nil {
		return
	}
	m.pendingFiles.Set(float64(files))
	m.pendingBytes.Set(float64(bytes))
	if oldest.IsZero() {
		m.oldestPending.Set(0)
	} else {
		m.oldestPending.Set(float64(oldest.UnixNano()) / 1e9)
	}
}

func (m *Metrics) lastUpload(at time.Time) {
	if m != nil {
		m.lastSuccess.Set(float64(at.UnixNano()) / 1e9)
	}
}

func (m *Metrics) setFailing(failing bool) {
	if m == nil {
		return
	}
	if failing {
		m.failing.Set(1)
	} else {
		m.failing.Set(0)
	}
}
