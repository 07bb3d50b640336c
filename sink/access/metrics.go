package access

import "github.com/prometheus/client_golang/prometheus"

// Reasons a request is refused, the values of the reason label.
const (
	reasonMissing   = "missing"
	reasonNotBearer = "not_bearer"
	reasonWrong     = "wrong_token"
)

// Kinds of credential material, the values of the kind label.
const (
	kindBearerTokens   = "bearer_tokens"
	kindTLSCertificate = "tls_certificate"
	kindClientCA       = "client_ca"
)

// kindNames name the kinds in errors.
var kindNames = map[string]string{
	kindBearerTokens:   "bearer tokens",
	kindTLSCertificate: "TLS certificate",
	kindClientCA:       "client CA certificates",
}

// Metrics count refused requests and credential reloads.
type Metrics struct {
	unauthenticated *prometheus.CounterVec
	reloads         *prometheus.CounterVec
}

// NewMetrics makes the metrics and registers them on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		unauthenticated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spansink_ingest_unauthenticated_total",
			Help: "Requests refused for a missing or wrong bearer token, by protocol (otlp_grpc, otlp_http, dbgpt, admin) and reason (missing, not_bearer, wrong_token).",
		}, []string{"protocol", "reason"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spansink_credentials_reloads_total",
			Help: "Reloads of changed credential files, by kind (bearer_tokens, tls_certificate, client_ca) and result (success, failure); after a failure the previous material stays in force.",
		}, []string{"kind", "result"}),
	}
	if reg != nil {
		reg.MustRegister(m.unauthenticated, m.reloads)
	}
	return m
}
