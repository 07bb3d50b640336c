package v1alpha1

import (
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The fields that make a collector safe to run in a shared cluster: who may
// send spans (auth), how the OTLP ports are encrypted (tls), whether the
// debug endpoints are served (debug), who may reach the pod at all
// (networkPolicy), and how much one client may make the collector hold
// (limits). Every one is optional, and a SpanSink that sets none of them
// runs as it did before they existed.

// SecretName is the name of a Secret in the SpanSink's namespace.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=253
// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
type SecretName string

// SecretKey is a key of a Secret's data.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=253
// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
type SecretKey string

// AuthSpec says which clients may send spans.
type AuthSpec struct {
	// bearerTokenSecretRef names the Secret key that holds the accepted
	// bearer tokens, one per line (blank lines and lines starting with #
	// are skipped). Clients send "Authorization: Bearer <token>" over HTTP
	// and the authorization metadata over gRPC, as the OpenTelemetry SDK
	// exporters' headers option and the Collector's bearertokenauth do.
	// Several lines rotate a token without downtime: add the new token,
	// move the clients, remove the old one. The collector rereads the
	// mounted Secret when it changes.
	// +required
	BearerTokenSecretRef BearerTokenSecretRef `json:"bearerTokenSecretRef"`
}

// BearerTokenSecretRef names a Secret key holding bearer tokens.
type BearerTokenSecretRef struct {
	// name is the Secret, in the SpanSink's namespace.
	// +required
	Name SecretName `json:"name"`
	// key is the key of the Secret's data holding the tokens.
	// +optional
	// +kubebuilder:default=token
	Key SecretKey `json:"key,omitempty"`
}

// TLSSpec serves both OTLP ports over TLS (1.2 or later).
type TLSSpec struct {
	// secretRef names a kubernetes.io/tls Secret, such as cert-manager
	// makes: tls.crt holds the server certificate chain, tls.key its
	// private key. A renewed certificate is picked up without a restart.
	// +required
	SecretRef TLSSecretRef `json:"secretRef"`

	// clientCASecretRef, when set, requires every client to present a
	// certificate signed by one of the PEM CA certificates in this Secret
	// key (mutual TLS).
	// +optional
	ClientCASecretRef *ClientCASecretRef `json:"clientCASecretRef,omitempty"`
}

// TLSSecretRef names a kubernetes.io/tls Secret.
type TLSSecretRef struct {
	// name is the Secret, in the SpanSink's namespace; it must hold the
	// keys tls.crt and tls.key.
	// +required
	Name SecretName `json:"name"`
}

// ClientCASecretRef names a Secret key holding PEM CA certificates.
type ClientCASecretRef struct {
	// name is the Secret, in the SpanSink's namespace.
	// +required
	Name SecretName `json:"name"`
	// key is the key of the Secret's data holding the CA certificates
	// (ca.crt, as cert-manager writes it).
	// +optional
	// +kubebuilder:default=ca.crt
	Key SecretKey `json:"key,omitempty"`
}

// DebugSpec says whether the debug endpoints are served.
type DebugSpec struct {
	// enabled serves /debug/spans (the latest spans, with their contents)
	// and /debug/pprof on the metrics port. They are behind the bearer
	// token when auth is set, and open to whoever can reach the port
	// otherwise.
	// +optional
	// +kubebuilder:default=false
	Enabled bool `json:"enabled,omitempty"`
}

// NetworkPolicySpec says who may reach the collector. The policy selects
// the collector pod and admits traffic to its ports only as listed here;
// anything else to the pod is dropped by CNIs that enforce NetworkPolicy.
// An empty or missing list admits nothing to its ports. The kubelet's
// probes come from the node, which most CNIs (Calico, Cilium, the
// reference implementation) admit whatever the policy says.
type NetworkPolicySpec struct {
	// ingestFrom are the peers (namespaces, pods, IP blocks) that may reach
	// the OTLP/gRPC and OTLP/HTTP ports. Empty admits no one.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:XValidation:rule="has(self.podSelector) || has(self.namespaceSelector) || has(self.ipBlock)",message="networkPolicy peers must set podSelector, namespaceSelector or ipBlock"
	// +kubebuilder:validation:items:XValidation:rule="!has(self.ipBlock) || (!has(self.podSelector) && !has(self.namespaceSelector))",message="a networkPolicy peer with ipBlock must not also set podSelector or namespaceSelector"
	// +kubebuilder:validation:items:XValidation:rule="!has(self.ipBlock) || isCIDR(self.ipBlock.cidr)",message="networkPolicy ipBlock.cidr must be a CIDR such as 10.0.0.0/8"
	IngestFrom []networkingv1.NetworkPolicyPeer `json:"ingestFrom,omitempty"`

	// metricsFrom are the peers that may reach the metrics port, such as
	// the Prometheus namespace. Empty admits no one.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:XValidation:rule="has(self.podSelector) || has(self.namespaceSelector) || has(self.ipBlock)",message="networkPolicy peers must set podSelector, namespaceSelector or ipBlock"
	// +kubebuilder:validation:items:XValidation:rule="!has(self.ipBlock) || (!has(self.podSelector) && !has(self.namespaceSelector))",message="a networkPolicy peer with ipBlock must not also set podSelector or namespaceSelector"
	// +kubebuilder:validation:items:XValidation:rule="!has(self.ipBlock) || isCIDR(self.ipBlock.cidr)",message="networkPolicy ipBlock.cidr must be a CIDR such as 10.0.0.0/8"
	MetricsFrom []networkingv1.NetworkPolicyPeer `json:"metricsFrom,omitempty"`
}

// LimitsSpec are the abuse limits users tune; each one left out keeps the
// collector's default (docs/security.md lists them). The rule below uses
// those defaults for a field that is left out.
// +kubebuilder:validation:XValidation:rule="(has(self.maxInflightBytes) ? self.maxInflightBytes : 67108864) >= (has(self.maxRequestBytes) ? self.maxRequestBytes : 20971520)",message="limits.maxInflightBytes (default 67108864, 64 MiB) must be at least limits.maxRequestBytes (default 20971520, 20 MiB), or a request of the largest size could never be taken: raise maxInflightBytes or lower maxRequestBytes"
type LimitsSpec struct {
	// maxRequestBytes bounds one request body, also after decompression
	// (default 20 MiB). Larger requests get 413 (HTTP) or
	// ResourceExhausted (gRPC).
	// +optional
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=1073741824
	MaxRequestBytes int64 `json:"maxRequestBytes,omitempty"`

	// maxInflightBytes bounds the request bodies held in memory at once
	// over both OTLP ports (default 64 MiB); at least maxRequestBytes.
	// +optional
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=17179869184
	MaxInflightBytes int64 `json:"maxInflightBytes,omitempty"`

	// maxConcurrentRequests bounds the OTLP/HTTP and DB-GPT requests
	// served at once (default 128); more are answered 503 with Retry-After.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	MaxConcurrentRequests int32 `json:"maxConcurrentRequests,omitempty"`

	// maxConcurrentStreams bounds the calls open at once on one gRPC
	// connection (default 32).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	MaxConcurrentStreams int32 `json:"maxConcurrentStreams,omitempty"`

	// requestTimeout bounds reading a whole HTTP request and a gRPC call
	// (default 30s), a duration from 1s to 1h.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('1s') && duration(self) <= duration('1h')",message="limits.requestTimeout must be a duration such as 30s or 2m, from 1s to 1h"
	RequestTimeout *metav1.Duration `json:"requestTimeout,omitempty"`

	// maxAttributesPerSpan bounds the attributes kept per span, event and
	// link (default 128, the OpenTelemetry SDKs' limit); the rest are
	// dropped and counted in dropped_attributes_count.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	MaxAttributesPerSpan int32 `json:"maxAttributesPerSpan,omitempty"`

	// maxAttributeValueBytes truncates longer string and bytes attribute
	// values (default 1 MiB); 0 keeps them whole.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1073741824
	MaxAttributeValueBytes *int64 `json:"maxAttributeValueBytes,omitempty"`
}
