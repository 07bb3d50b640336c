package apply

import (
	"maps"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const restartedAt = "kubectl.kubernetes.io/restartedAt"

func deploymentWithTemplate(labels, annotations map[string]string) *appsv1.Deployment {
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "collector", Image: "new"}}},
	}}}
}

func TestMergeTemplate(t *testing.T) {
	cases := []struct {
		name                    string
		liveLabels, liveAnnots  map[string]string
		previous                *corev1.PodTemplateSpec
		wantLabels, wantAnnots  map[string]string
		desiredLabels, desAnnot map[string]string
	}{
		{
			name:       "keeps a key someone else set",
			liveLabels: map[string]string{"app": "x"}, liveAnnots: map[string]string{"hash": "old", restartedAt: "2026-01-01T00:00:00Z"},
			previous:      &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}, Annotations: map[string]string{"hash": "old"}}},
			desiredLabels: map[string]string{"app": "x"}, desAnnot: map[string]string{"hash": "new"},
			wantLabels: map[string]string{"app": "x"}, wantAnnots: map[string]string{"hash": "new", restartedAt: "2026-01-01T00:00:00Z"},
		},
		{
			name:       "removes a key the operator set and no longer wants",
			liveLabels: map[string]string{"app": "x", "team": "a"}, liveAnnots: map[string]string{"hash": "h", "scrape": "true", restartedAt: "t"},
			previous:      &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x", "team": "a"}, Annotations: map[string]string{"hash": "h", "scrape": "true"}}},
			desiredLabels: map[string]string{"app": "x"}, desAnnot: map[string]string{"hash": "h"},
			wantLabels: map[string]string{"app": "x"}, wantAnnots: map[string]string{"hash": "h", restartedAt: "t"},
		},
		{
			name:       "without a record of its keys it only adds",
			liveLabels: map[string]string{"app": "x", "team": "a"}, liveAnnots: nil,
			desiredLabels: map[string]string{"app": "y"}, desAnnot: map[string]string{"hash": "h"},
			wantLabels: map[string]string{"app": "y", "team": "a"}, wantAnnots: map[string]string{"hash": "h"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			live := deploymentWithTemplate(maps.Clone(tc.liveLabels), maps.Clone(tc.liveAnnots))
			live.Spec.Template.Spec.Containers[0].Image = "old"
			if tc.previous != nil {
				keys, err := templateKeysOf(tc.previous)
				if err != nil {
					t.Fatal(err)
				}
				live.Annotations = map[string]string{PodTemplateKeysAnnotation: keys}
			}
			desired := deploymentWithTemplate(tc.desiredLabels, tc.desAnnot)
			mergeTemplate(live, desired)
			got := live.Spec.Template
			if !maps.Equal(got.Labels, tc.wantLabels) {
				t.Errorf("labels = %v, want %v", got.Labels, tc.wantLabels)
			}
			if !maps.Equal(got.Annotations, tc.wantAnnots) {
				t.Errorf("annotations = %v, want %v", got.Annotations, tc.wantAnnots)
			}
			if got.Spec.Containers[0].Image != "new" {
				t.Errorf("the pod spec was not replaced: image %q", got.Spec.Containers[0].Image)
			}
			if desired.Spec.Template.Annotations[restartedAt] != "" {
				t.Error("merging wrote into the desired object")
			}
		})
	}
}
