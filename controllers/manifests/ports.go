package manifests

import (
	"net"
	"strconv"
)

// Where the collector finds its config and its volume, and the ports it
// serves. These are the one source for both sides of the pod: the rendered
// config (listen addresses, storage dir) and the pod spec (container ports,
// probes, mounts, Service ports), so the two cannot disagree.
const (
	// ConfigMountPath is where the ConfigMap is mounted, read-only; the
	// collector reads config.FileName there.
	ConfigMountPath = "/etc/spansink"
	// DataMountPath is where the span volume is mounted: the config's
	// storage.dir.
	DataMountPath = "/var/lib/spansink"

	// OTLPGRPCPort is the OTLP/gRPC port (the OTLP default), the config's
	// listen.otlpGrpc.
	OTLPGRPCPort = 4317
	// OTLPHTTPPort is the OTLP/HTTP port (the OTLP default), which also
	// takes DB-GPT spans; the config's listen.otlpHttp.
	OTLPHTTPPort = 4318
	// MetricsPort serves /metrics and the /healthz and /readyz probes; the
	// config's listen.admin.
	MetricsPort = 8888

	// OTLPGRPCPortName names OTLPGRPCPort on the container and the Service.
	OTLPGRPCPortName = "otlp-grpc"
	// OTLPHTTPPortName names OTLPHTTPPort on the container and the Service.
	OTLPHTTPPortName = "otlp-http"
	// MetricsPortName names MetricsPort; the probes refer to it by name.
	MetricsPortName = "metrics"
)

// listenAddress is the collector's address for a container port: every
// interface of the pod, because the Service and the kubelet's probes reach
// it on the pod IP.
func listenAddress(port int) string {
	return net.JoinHostPort("", strconv.Itoa(port))
}
