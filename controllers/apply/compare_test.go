package apply

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
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

// subsetOfKeyed lets a mutating webhook add entries to the pod template's
// named lists; each way it can answer is pinned here.
func TestSubsetOfKeyed(t *testing.T) {
	env := func(names ...string) []corev1.EnvVar {
		var out []corev1.EnvVar
		for _, name := range names {
			out = append(out, corev1.EnvVar{Name: name, Value: "v-" + name})
		}
		return out
	}
	pod := func(containers ...corev1.Container) appsv1.DeploymentSpec {
		return appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: containers}}}
	}
	collector := func(names ...string) corev1.Container {
		return corev1.Container{Name: "collector", Image: "i", Env: env(names...)}
	}
	sidecar := corev1.Container{Name: "mesh-proxy", Image: "proxy"}
	changed := collector("A")
	changed.Env[0].Value = "other"
	cases := []struct {
		name       string
		want, have any
		subset     bool
	}{
		{"identical", pod(collector("A", "B")), pod(collector("A", "B")), true},
		{"an env var appended by another writer", pod(collector("A", "B")), pod(collector("A", "B", "MESH")), true},
		{"an env var inserted between the operator's", pod(collector("A", "B")), pod(collector("A", "MESH", "B")), true},
		{"a sidecar after the operator's container", pod(collector("A")), pod(collector("A"), sidecar), true},
		{"a sidecar before it", pod(collector("A")), pod(sidecar, collector("A")), true},
		{"an env var of the operator's missing", pod(collector("A", "B")), pod(collector("A", "MESH")), false},
		{"an env var of the operator's changed", pod(collector("A")), pod(changed), false},
		{"the operator's env vars reordered", pod(collector("A", "B")), pod(collector("B", "A")), false},
		{"the operator's container missing", pod(collector("A")), pod(sidecar), false},
		// Lists not named in podTemplateListKeys keep the strict rule.
		{"a service port another writer added", corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "a", Port: 1}}},
			corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "a", Port: 1}, {Name: "b", Port: 2}}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := subsetOfKeyed(tc.want, tc.have, podTemplateListKeys); got != tc.subset {
				t.Errorf("subsetOfKeyed = %v, want %v", got, tc.subset)
			}
		})
	}
}
