package manifests

import (
	"maps"

	"github.com/spansink/spansink/api/v1alpha1"
)

// Label keys and values the operator puts on every child: the Kubernetes
// recommended app.kubernetes.io labels, so that kubectl, dashboards and
// other tools group the collector's objects without knowing spansink.
const (
	// LabelName is "spansink" on every child; part of the pod selector.
	LabelName = "app.kubernetes.io/name"
	// LabelInstance is the SpanSink's name; part of the pod selector, and
	// how a retained claim is matched to a SpanSink created again.
	LabelInstance = "app.kubernetes.io/instance"
	// LabelComponent is "collector": what the object is part of.
	LabelComponent = "app.kubernetes.io/component"
	// LabelPartOf is "spansink": the application the object belongs to.
	LabelPartOf = "app.kubernetes.io/part-of"
	// LabelManagedBy is ManagedByValue. The operator's cache holds only
	// objects carrying it (controllers.CacheOptions).
	LabelManagedBy = "app.kubernetes.io/managed-by"

	nameValue      = "spansink"
	componentValue = "collector"
	// ManagedByValue marks objects the operator created; a retained claim
	// carrying it (and the SpanSink's instance label) is adopted again.
	ManagedByValue = "spansink-operator"
)

// SelectorLabels select the collector's pod. They are derived from the
// SpanSink's name only, never from its spec, because a Deployment's selector
// cannot change.
func SelectorLabels(sink *v1alpha1.SpanSink) map[string]string {
	return map[string]string{
		LabelName:     nameValue,
		LabelInstance: sink.Name,
	}
}

// Labels are put on every child object.
func Labels(sink *v1alpha1.SpanSink) map[string]string {
	labels := SelectorLabels(sink)
	labels[LabelComponent] = componentValue
	labels[LabelPartOf] = nameValue
	labels[LabelManagedBy] = ManagedByValue
	return labels
}

// podLabels are the user's podLabels with shard's labels on top, so a user
// label can never break the Deployment's selector.
func podLabels(sink *v1alpha1.SpanSink, shard int32) map[string]string {
	labels := make(map[string]string, len(sink.Spec.PodLabels)+6)
	maps.Copy(labels, labelMap(sink.Spec.PodLabels))
	maps.Copy(labels, shardLabels(sink, shard))
	return labels
}

// labelMap is the API's label map as the core API types hold it; nil when
// empty, as the API server stores an empty map.
func labelMap(m map[string]v1alpha1.LabelValue) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}
