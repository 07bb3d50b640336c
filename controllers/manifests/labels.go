package manifests

import (
	"maps"

	"github.com/spansink/spansink/api/v1alpha1"
)

// Label keys and values the operator puts on every child.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelPartOf    = "app.kubernetes.io/part-of"
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

// podLabels are the user's podLabels with the operator's labels on top, so
// a user label can never break the Deployment's selector.
func podLabels(sink *v1alpha1.SpanSink) map[string]string {
	labels := make(map[string]string, len(sink.Spec.PodLabels)+5)
	maps.Copy(labels, sink.Spec.PodLabels)
	maps.Copy(labels, Labels(sink))
	return labels
}
