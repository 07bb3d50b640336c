package apply

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// subsetOf decides whether a pass writes, so each way it can answer is pinned here.
func TestSubsetOf(t *testing.T) {
	port := func(name string, number int32) corev1.ServicePort {
		return corev1.ServicePort{Name: name, Port: number, TargetPort: intstr.FromString(name), Protocol: corev1.ProtocolTCP}
	}
	cases := []struct {
		name       string
		want, have any
		subset     bool
	}{
		{"identical", map[string]string{"a": "1"}, map[string]string{"a": "1"}, true},
		{"extra key on the live side (a default)", map[string]string{"a": "1"}, map[string]string{"a": "1", "b": "2"}, true},
		{"missing key", map[string]string{"a": "1", "b": "2"}, map[string]string{"a": "1"}, false},
		{"changed value", map[string]string{"a": "1"}, map[string]string{"a": "2"}, false},
		{"empty want", map[string]string{}, nil, true},
		{"defaulted field inside list element",
			[]corev1.Container{{Name: "c", Image: "i"}},
			[]corev1.Container{{Name: "c", Image: "i", TerminationMessagePath: "/dev/termination-log", ImagePullPolicy: corev1.PullIfNotPresent}}, true},
		{"list grew", []corev1.ServicePort{port("a", 1)}, []corev1.ServicePort{port("a", 1), port("b", 2)}, false},
		{"list shrank", []corev1.ServicePort{port("a", 1), port("b", 2)}, []corev1.ServicePort{port("a", 1)}, false},
		{"list reordered", []corev1.ServicePort{port("a", 1), port("b", 2)}, []corev1.ServicePort{port("b", 2), port("a", 1)}, false},
		{"pointer to false vs unset", corev1.PodSpec{AutomountServiceAccountToken: new(bool)}, corev1.PodSpec{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := subsetOf(tc.want, tc.have); got != tc.subset {
				t.Errorf("subsetOf = %v, want %v", got, tc.subset)
			}
		})
	}
}
