package manifests

import (
	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/sink/config"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConfigMap holds the rendered collector config under config.FileName; the
// Deployment mounts it at ConfigMountPath.
func ConfigMap(sink *v1alpha1.SpanSink, rendered RenderedConfig) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: objectMeta(sink, CollectorName(sink)),
		Data:       map[string]string{config.FileName: string(rendered.Bytes)},
	}
}
