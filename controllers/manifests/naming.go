package manifests

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/spansink/spansink/api/v1alpha1"
)

// maxNameLength is the longest DNS label, the limit for Service names and
// label values; every child name stays within it.
const maxNameLength = 63

// Child name suffixes. All children except the claim share one name so that
// `kubectl get all,cm,sa -l app.kubernetes.io/instance=<sink>` lines up.
const (
	collectorSuffix = "collector"
	dataSuffix      = "data"
)

// childName joins the SpanSink's name and a suffix. A result that would be
// longer than a DNS label is shortened and given a hash of the full SpanSink
// name, so two long names that share a prefix still get distinct children.
func childName(sinkName, suffix string) string {
	name := sinkName + "-" + suffix
	if len(name) <= maxNameLength {
		return name
	}
	sum := sha256.Sum256([]byte(sinkName))
	hash := hex.EncodeToString(sum[:])[:8]
	keep := maxNameLength - len(suffix) - len(hash) - 2
	prefix := strings.TrimRight(sinkName[:keep], "-")
	return prefix + "-" + hash + "-" + suffix
}

// CollectorName is the name of the collector's Deployment, Service,
// ConfigMap and ServiceAccount.
func CollectorName(sink *v1alpha1.SpanSink) string {
	return childName(sink.Name, collectorSuffix)
}

// ClaimName is the name of the volume claim holding the span files: the
// user's existing claim, or the one the operator creates.
func ClaimName(sink *v1alpha1.SpanSink) string {
	if name := sink.Spec.Storage.Volume.ExistingClaimName; name != "" {
		return name
	}
	return childName(sink.Name, dataSuffix)
}
