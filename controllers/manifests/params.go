package manifests

import (
	"github.com/spansink/spansink/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Params is everything the builders need: the SpanSink and the operator's
// own settings.
type Params struct {
	// Sink is the SpanSink being reconciled.
	Sink *v1alpha1.SpanSink
	// DefaultImage is the collector image used when the SpanSink names none:
	// the operator's own image.
	DefaultImage string
	// OperatorNamespace is the namespace the operator runs in, empty when
	// it runs outside the cluster. A NetworkPolicy admits it to the metrics
	// port, where the operator reads which config the collector applies.
	OperatorNamespace string
}

// controllerRef makes the SpanSink the controlling owner of a child, so the
// child is garbage-collected with it and its changes wake the controller.
func controllerRef(sink *v1alpha1.SpanSink) []metav1.OwnerReference {
	return []metav1.OwnerReference{
		*metav1.NewControllerRef(sink, v1alpha1.GroupVersion.WithKind("SpanSink")),
	}
}

// objectMeta is the metadata every child starts from.
func objectMeta(sink *v1alpha1.SpanSink, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            name,
		Namespace:       sink.Namespace,
		Labels:          Labels(sink),
		OwnerReferences: controllerRef(sink),
	}
}

// shardMeta is objectMeta for a child of one shard.
func shardMeta(sink *v1alpha1.SpanSink, name string, shard int32) metav1.ObjectMeta {
	meta := objectMeta(sink, name)
	meta.Labels = shardLabels(sink, shard)
	return meta
}
