package collector

import (
	"crypto/tls"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/tap"

	"github.com/spansink/spansink/sink/access"
	"github.com/spansink/spansink/sink/ingest"
)

// protocolAdmin labels refusals on the admin port's debug endpoints.
const protocolAdmin = "admin"

// openAccess loads the bearer tokens and TLS material the config names
// and watches them for changes.
func (c *Collector) openAccess() error {
	creds, err := access.Open(access.Options{
		Auth:    c.cfg.Auth,
		TLS:     c.cfg.TLS,
		Metrics: access.NewMetrics(c.registry),
		Logger:  c.log.WithName("access"),
	})
	if err != nil {
		return err
	}
	c.creds = creds
	return nil
}

// accessGRPCOptions are the OTLP/gRPC server options that encrypt: TLS
// credentials. Authentication is grpcAuthTap.
func (c *Collector) accessGRPCOptions() []grpc.ServerOption {
	var opts []grpc.ServerOption
	if st := c.creds.ServerTLS(); st != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(st.Config("h2"))))
	}
	return opts
}

// grpcAuthTap refuses a call without an accepted token from its headers,
// before its message is read; nil without authentication. It goes in
// ingest.Options.GRPCTap, because a gRPC server has one tap and
// ingest.GRPCServerOptions installs it (with the call deadline).
func (c *Collector) grpcAuthTap() tap.ServerInHandle {
	if auth := c.creds.Authenticator(); auth != nil {
		return auth.GRPCTap(ingest.ProtocolOTLPGRPC)
	}
	return nil
}

// guardIngest puts the bearer token check in front of the OTLP/HTTP and
// DB-GPT handler.
func (c *Collector) guardIngest(h http.Handler) http.Handler {
	auth := c.creds.Authenticator()
	if auth == nil {
		return h
	}
	return auth.HTTPMiddleware(h, func(r *http.Request) string {
		if r.URL.Path == ingest.DBGPTPath {
			return ingest.ProtocolDBGPT
		}
		return ingest.ProtocolOTLPHTTP
	})
}

// encryptHTTP makes the OTLP/HTTP listener serve TLS when configured. The
// server negotiates HTTP/2 or HTTP/1.1 by ALPN.
func (c *Collector) encryptHTTP() {
	if st := c.creds.ServerTLS(); st != nil {
		c.httpListener = tls.NewListener(c.httpListener, st.Config("h2", "http/1.1"))
	}
}

// registerRingMetrics exposes what the /debug/spans ring holds.
func (c *Collector) registerRingMetrics() {
	c.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "spansink_recent_spans_bytes",
			Help: "Memory the /debug/spans ring holds for lines; at most debug.recentSpansBytes.",
		}, func() float64 { return float64(c.ring.Stats().ArenaBytes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "spansink_recent_spans_too_large_total",
			Help: "Records not kept in the /debug/spans ring because each alone exceeded debug.recentSpansBytes.",
		}, func() float64 { return float64(c.ring.Stats().TooLarge) }),
	)
}
