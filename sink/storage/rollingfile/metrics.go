package rollingfile

import "github.com/prometheus/client_golang/prometheus"

// Rotation reasons, the values of the rotations metric's reason label.
const (
	reasonDaily = "daily"
	reasonSize  = "size"
	// reasonMaxDelay: the file's first line waited as long as the object
	// store's maxDelay allows (RotateOlderThan).
	reasonMaxDelay = "maxDelay"
)

// Metrics counts what the rolling file does on its own: rotations, repairs,
// retention and compression. A nil *Metrics counts nothing.
type Metrics struct {
	rotations      *prometheus.CounterVec
	tornTails      prometheus.Counter
	tornTailBytes  prometheus.Counter
	removed        prometheus.Counter
	compressions   *prometheus.CounterVec
	unknownFiles   prometheus.Gauge
	backgroundErrs prometheus.Counter
}

// NewMetrics creates the rolling file's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		rotations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spansink_file_rotations_total",
			Help: "Rotations of the active span file, by reason (daily, size).",
		}, []string{"reason"}),
		tornTails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spansink_file_torn_tail_repairs_total",
			Help: "Torn last lines cut from the active span file when it was opened.",
		}),
		tornTailBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spansink_file_torn_tail_bytes_total",
			Help: "Bytes of torn last lines cut from the active span file.",
		}),
		removed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spansink_file_retention_removed_total",
			Help: "Rotated span files removed by retention (maxFiles, maxAge).",
		}),
		compressions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spansink_file_compressions_total",
			Help: "Rotated span files compressed in the background, by result (ok, error).",
		}, []string{"result"}),
		unknownFiles: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spansink_file_unknown_files",
			Help: "Files in the span directory that look like rotated span files but do not follow the naming contract; they are left alone.",
		}),
		backgroundErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spansink_file_background_errors_total",
			Help: "Failures of background retention or directory listing.",
		}),
	}
	m.rotations.WithLabelValues(reasonDaily)
	m.rotations.WithLabelValues(reasonSize)
	m.rotations.WithLabelValues(reasonMaxDelay)
	m.compressions.WithLabelValues("ok")
	m.compressions.WithLabelValues("error")
	reg.MustRegister(m.rotations, m.tornTails, m.tornTailBytes, m.removed, m.compressions, m.unknownFiles, m.backgroundErrs)
	return m
}

func (m *Metrics) rotated(reason string) {
	if m != nil {
		m.rotations.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) tornTail(bytes int64) {
	if m != nil {
		m.tornTails.Inc()
		m.tornTailBytes.Add(float64(bytes))
	}
}

func (m *Metrics) removedFile() {
	if m != nil {
		m.removed.Inc()
	}
}

func (m *Metrics) compressed(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.compressions.WithLabelValues("ok").Inc()
	} else {
		m.compressions.WithLabelValues("error").Inc()
	}
}

func (m *Metrics) setUnknownFiles(n int) {
	if m != nil {
		m.unknownFiles.Set(float64(n))
	}
}

func (m *Metrics) backgroundError() {
	if m != nil {
		m.backgroundErrs.Inc()
	}
}
