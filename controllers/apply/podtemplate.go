package apply

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// PodTemplateKeysAnnotation on the Deployment lists the pod template label
// and annotation keys the operator last set. Others write to the same maps:
// `kubectl rollout restart` sets kubectl.kubernetes.io/restartedAt, and
// dropping it would roll the pod again. So the operator merges its keys
// into the live template and removes only keys it set itself and no longer
// wants (a podLabel the user took out of the spec), which it can tell only
// by remembering them.
const PodTemplateKeysAnnotation = "tracing.spansink.dev/pod-template-keys"

// templateKeys are the pod template metadata keys the operator set.
type templateKeys struct {
	Labels      []string `json:"labels,omitempty"`
	Annotations []string `json:"annotations,omitempty"`
}

// templateKeysOf lists the keys of a desired pod template, sorted so the
// annotation is the same for the same template.
func templateKeysOf(tmpl *corev1.PodTemplateSpec) (string, error) {
	keys := templateKeys{
		Labels:      slices.Sorted(maps.Keys(tmpl.Labels)),
		Annotations: slices.Sorted(maps.Keys(tmpl.Annotations)),
	}
	data, err := json.Marshal(keys)
	if err != nil {
		return "", fmt.Errorf("list pod template keys: %w", err)
	}
	return string(data), nil
}

// previousTemplateKeys reads what the operator set on live's template. A
// missing or unreadable annotation means none are known: keys are then only
// ever added, which keeps others' keys at the price of leaving a stale one.
func previousTemplateKeys(live *appsv1.Deployment) templateKeys {
	var keys templateKeys
	if raw, ok := live.Annotations[PodTemplateKeysAnnotation]; ok {
		_ = json.Unmarshal([]byte(raw), &keys)
	}
	return keys
}

// mergeTemplate makes live's pod template desired's, except that label and
// annotation keys the operator never set are kept as they are.
func mergeTemplate(live, desired *appsv1.Deployment) {
	previous := previousTemplateKeys(live)
	tmpl := desired.Spec.Template.DeepCopy()
	tmpl.Labels = mergeOwnedKeys(live.Spec.Template.Labels, desired.Spec.Template.Labels, previous.Labels)
	tmpl.Annotations = mergeOwnedKeys(live.Spec.Template.Annotations, desired.Spec.Template.Annotations, previous.Annotations)
	live.Spec.Template = *tmpl
}

// mergeOwnedKeys is live with the keys the operator set before but no longer
// wants removed, and desired's keys written over it.
func mergeOwnedKeys(live, desired map[string]string, previous []string) map[string]string {
	out := maps.Clone(live)
	if out == nil {
		out = make(map[string]string, len(desired))
	}
	for _, key := range previous {
		if _, wanted := desired[key]; !wanted {
			delete(out, key)
		}
	}
	maps.Copy(out, desired)
	if len(out) == 0 {
		return nil
	}
	return out
}
