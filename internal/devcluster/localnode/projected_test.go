package localnode

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

// Every source of a projected volume lands in the one directory: a Secret's
// listed key, an optional ConfigMap that does not exist (nothing), and
// downwardAPI items in the kubelet's formats and modes.
func TestProjectedSources(t *testing.T) {
	n, _ := tokenNode(t, clocktesting.NewFakeClock(time.Now()))
	if _, err := n.client.CoreV1().Secrets("ns").Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "creds"},
		Data:       map[string][]byte{"password": []byte("hunter2"), "unused": []byte("x")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := tokenPod()
	pod.Annotations = map[string]string{"note": "say \"hi\"\n"}
	pod.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}
	pod.Spec.Volumes = []corev1.Volume{{Name: "all", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: ptr.To[int32](0o440),
		Sources: []corev1.VolumeProjection{
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Items: []corev1.KeyToPath{{Key: "password", Path: "db/password", Mode: ptr.To[int32](0o400)}}}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Optional: ptr.To(true)}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
				{Path: "app", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}},
				{Path: "annotations", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations"}},
				{Path: "uid", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.uid"}, Mode: ptr.To[int32](0o600)},
				{Path: "memory", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "manager", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
			}}},
		},
	}}}}
	dir := filepath.Join(n.opts.StateDir, "pod")
	if _, err := n.prepareVolumes(context.Background(), pod, dir); err != nil {
		t.Fatal(err)
	}
	vol := volumeDir(dir, "all")
	for _, tc := range []struct {
		path, content string
		mode          os.FileMode
	}{
		{"db/password", "hunter2", 0o400},
		{"labels", "app=\"spansink\"\ntier=\"control\"", 0o440},
		{"app", "spansink", 0o440},
		{"annotations", `note="say \"hi\"\n"`, 0o440},
		{"uid", "0b5c-uid", 0o600},
		{"memory", "128", 0o440},
	} {
		data, err := os.ReadFile(filepath.Join(vol, tc.path))
		if err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		if string(data) != tc.content {
			t.Errorf("%s holds %q, want %q", tc.path, data, tc.content)
		}
		if info, _ := os.Stat(filepath.Join(vol, tc.path)); info.Mode().Perm() != tc.mode {
			t.Errorf("%s: mode %v, want %v", tc.path, info.Mode().Perm(), tc.mode)
		}
	}
	if got := visibleNames(t, vol); strings.Join(got, " ") != "annotations app db labels memory uid" {
		t.Errorf("volume holds %v", got)
	}

	// A required ConfigMap that does not exist fails the set-up, to be retried.
	pod.Spec.Volumes[0].Projected.Sources[1].ConfigMap.Optional = nil
	if _, err := n.projectVolume(context.Background(), pod, &pod.Spec.Volumes[0], vol); err == nil || !strings.Contains(err.Error(), "configmap absent") {
		t.Fatalf("required missing ConfigMap: %v, want an error naming it", err)
	}
}

func TestServiceEnv(t *testing.T) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.0.0.1", Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}}},
	}
	var got []string
	for _, e := range serviceEnv(svc) {
		got = append(got, e.Name+"="+e.Value)
	}
	want := []string{
		"KUBERNETES_SERVICE_HOST=10.0.0.1",
		"KUBERNETES_SERVICE_PORT=443",
		"KUBERNETES_SERVICE_PORT_HTTPS=443",
		"KUBERNETES_PORT=tcp://10.0.0.1:443",
		"KUBERNETES_PORT_443_TCP=tcp://10.0.0.1:443",
		"KUBERNETES_PORT_443_TCP_PROTO=tcp",
		"KUBERNETES_PORT_443_TCP_PORT=443",
		"KUBERNETES_PORT_443_TCP_ADDR=10.0.0.1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("service variables:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The service variables come after the container's own, which win, and
// $(VAR) references to them expand, as the kubelet orders them.
func TestEnvironmentServiceVariables(t *testing.T) {
	n := &Node{opts: Options{Images: map[string]Image{"img": {Env: []string{"PATH=/bin"}}}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	c := &corev1.Container{Image: "img", Env: []corev1.EnvVar{
		{Name: "API", Value: "https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)"},
		{Name: "KUBERNETES_SERVICE_PORT", Value: "6443"},
	}}
	services := []corev1.EnvVar{{Name: "KUBERNETES_SERVICE_HOST", Value: "10.0.0.1"}, {Name: "KUBERNETES_SERVICE_PORT", Value: "443"}}
	env, err := n.environment(context.Background(), pod, c, "10.244.0.2", services)
	if err != nil {
		t.Fatal(err)
	}
	want := "PATH=/bin HOSTNAME=p API=https://10.0.0.1:443 KUBERNETES_SERVICE_PORT=6443 KUBERNETES_SERVICE_HOST=10.0.0.1"
	if got := strings.Join(env, " "); got != want {
		t.Fatalf("environment %q, want %q", got, want)
	}
}
