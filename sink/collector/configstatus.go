package collector

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spansink/spansink/sink/configstatus"
)

// Reload results, the values of the result label of
// spansink_config_reloads_total.
const (
	// ReloadApplied: a changed config was put in force.
	ReloadApplied = "applied"
	// ReloadRefused: a changed config does not parse, does not validate or
	// changes a field that needs a restart; the old one stays in force.
	ReloadRefused = "refused"
	// ReloadUnchanged: the file holds what is in force, or what was last
	// refused.
	ReloadUnchanged = "unchanged"
)

// configMetrics describe the config in force and the reloads.
type configMetrics struct {
	generation prometheus.Gauge
	reloads    *prometheus.CounterVec
	info       *prometheus.GaugeVec
}

func newConfigMetrics(reg prometheus.Registerer) *configMetrics {
	m := &configMetrics{
		generation: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spansink_config_generation",
			Help: "Generation of the config in force: 1 at start, one more per applied change.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spansink_config_reloads_total",
			Help: "Reads of the config file by result (applied, refused, unchanged).",
		}, []string{"result"}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spansink_config_info",
			Help: "1 for the SHA-256 of the config in force (label hash), as GET /config on the admin port shows it.",
		}, []string{"hash"}),
	}
	for _, r := range []string{ReloadApplied, ReloadRefused, ReloadUnchanged} {
		m.reloads.WithLabelValues(r)
	}
	reg.MustRegister(m.generation, m.reloads, m.info)
	return m
}

// applied records a config put in force.
func (m *configMetrics) applied(s configstatus.Status) {
	m.generation.Set(float64(s.Generation))
	m.info.Reset()
	m.info.WithLabelValues(s.AppliedHash).Set(1)
}

// serveConfigStatus answers GET /config.
func (c *Collector) serveConfigStatus(w http.ResponseWriter, _ *http.Request) {
	body, err := json.Marshal(c.ConfigStatus())
	if err != nil {
		writePlain(w, http.StatusInternalServerError, "marshal config status: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(append(body, '\n')) //nolint:errcheck // the client went away; nothing to do
}
