package manager

import (
	"crypto/tls"

	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// DefaultMetricsAddr is where the manager serves its metrics: over HTTPS,
// on the port current kubebuilder scaffolds use.
const DefaultMetricsAddr = ":8443"

// metricsOptions are the manager's metrics server settings, as kubebuilder
// scaffolds them. Served securely (the default), the endpoint takes only
// clients that present a bearer token the API server accepts (TokenReview)
// for an identity allowed to get the /metrics non-resource URL
// (SubjectAccessReview): what the metrics-reader ClusterRole grants. Both
// reviews need the manager's own RBAC in config/rbac/metrics_auth_role.yaml.
// Without a certificate directory the server makes a self-signed
// certificate at start.
//
// HTTP/2 is off on the endpoint, as the scaffold has it: HTTP/2's stream
// reset and cancellation floods (CVE-2023-44487, CVE-2023-39325) cost a
// server more than a scrape ever needs HTTP/2 for.
func metricsOptions(addr string, secure bool) metricsserver.Options {
	opts := metricsserver.Options{BindAddress: addr, SecureServing: secure}
	if secure {
		opts.FilterProvider = filters.WithAuthenticationAndAuthorization
		opts.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	}
	return opts
}
