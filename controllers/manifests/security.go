package manifests

import (
	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/sink/config"
	corev1 "k8s.io/api/core/v1"
)

// applySecurity sets the collector's auth, TLS, debug and limits from the
// spec. The files are where secretVolumes mounts the Secrets; limits the
// spec leaves out keep the collector's defaults, which cfg already holds.
func applySecurity(spec v1alpha1.SpanSinkSpec, cfg *config.Config) {
	if spec.Auth != nil {
		cfg.Auth.BearerTokenFile = secretFile(AuthMountPath, AuthTokensFile)
	}
	if spec.TLS != nil {
		cfg.TLS.CertFile = secretFile(TLSMountPath, corev1.TLSCertKey)
		cfg.TLS.KeyFile = secretFile(TLSMountPath, corev1.TLSPrivateKeyKey)
		if spec.TLS.ClientCASecretRef != nil {
			cfg.TLS.ClientCAFile = secretFile(ClientCAMountPath, ClientCAFile)
		}
	}
	cfg.Debug.Enabled = spec.Debug.Enabled

	l, limits := spec.Limits, &cfg.Limits
	if l.MaxRequestBytes > 0 {
		limits.MaxRequestBytes = l.MaxRequestBytes
	}
	if l.MaxInflightBytes > 0 {
		limits.MaxInflightBytes = l.MaxInflightBytes
	}
	if l.MaxConcurrentRequests > 0 {
		limits.MaxConcurrentRequests = int(l.MaxConcurrentRequests)
	}
	if l.MaxConcurrentStreams > 0 {
		limits.MaxConcurrentStreams = int(l.MaxConcurrentStreams)
	}
	if l.RequestTimeout != nil {
		limits.RequestTimeout = config.Duration(l.RequestTimeout.Duration)
	}
	if l.MaxAttributesPerSpan > 0 {
		limits.MaxAttributesPerSpan = int(l.MaxAttributesPerSpan)
	}
	if l.MaxAttributeValueBytes != nil {
		limits.MaxAttributeValueBytes = int(*l.MaxAttributeValueBytes)
	}
}
