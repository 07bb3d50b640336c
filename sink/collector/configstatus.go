package collector

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spansink/spansink/sink/objectstore"
)

// ConfigStatusPath is the admin endpoint that tells which config the
// collector applies and how its uploads go. It is open like /metrics: it
// shows hashes, the bucket, counts and the last upload error, never span
// contents or credentials.
const ConfigStatusPath = "/config"

// ConfigStatus is the answer of GET /config on the admin port. The
// operator reads it to fill status.appliedConfigHash and the ConfigApplied
// condition: it compares AppliedHash with the SHA-256 of the ConfigMap's
// collector.yaml (Applied when they match, Refused when RefusedHash
// matches it, Pending otherwise).
type ConfigStatus struct {
	// AppliedHash is the lowercase hex SHA-256 of the bytes of the config
	// file in force; without --config, of the rendered effective config.
	AppliedHash string `json:"appliedHash"`
	// Generation is 1 at start and grows by one with every applied change.
	Generation int64 `json:"generation"`
	// AppliedAt is when the config in force was applied (RFC 3339).
	AppliedAt time.Time `json:"appliedAt"`
	// RefusedHash is the hash of the latest content that was refused, if
	// the file holds it still; empty otherwise.
	RefusedHash string `json:"refusedHash,omitempty"`
	// RefusedError says why RefusedHash was refused.
	RefusedError string `json:"refusedError,omitempty"`
	// Upload is how shipping to the object store goes, absent without
	// one; the operator turns it into the Uploaded condition.
	Upload *objectstore.Status `json:"upload,omitempty"`
}

// HashConfig is how AppliedHash and RefusedHash are computed from a config
// file's bytes.
func HashConfig(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

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
func (m *configMetrics) applied(s ConfigStatus) {
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
