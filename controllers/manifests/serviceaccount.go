package manifests

import (
	"github.com/spansink/spansink/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// ServiceAccount is the collector's identity. The collector never talks to
// the API server, so the account mounts no token.
func ServiceAccount(sink *v1alpha1.SpanSink) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:                     metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta:                   objectMeta(sink, CollectorName(sink)),
		AutomountServiceAccountToken: ptr.To(false),
	}
}
