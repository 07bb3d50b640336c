package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ControlPlaneBinaries builds, or finds in its cache, the given components
// (default: every binary this package runs) with hack/control-plane.sh in
// the checkout at root, and returns their directory. Progress goes to
// progress (the first build of kube-apiserver takes about nine minutes on
// two cores).
func ControlPlaneBinaries(ctx context.Context, root string, progress *os.File, components ...string) (string, error) {
	if len(components) == 0 {
		components = Components
	}
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "control-plane.sh"), components...)
	cmd.Stderr = progress
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/control-plane.sh: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	dir := strings.TrimSpace(lines[len(lines)-1])
	if dir == "" {
		return "", fmt.Errorf("hack/control-plane.sh printed no binary directory")
	}
	return dir, nil
}

// BuildSpansink builds the spansink binary of the checkout at root as a
// static executable at out, the form the local node runs as the image.
func BuildSpansink(ctx context.Context, root, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build spansink: %w: %s", err, output)
	}
	return nil
}

// ClaimDir is the host directory behind a bound claim: the hostPath of its
// PersistentVolume, where a collector's span files appear.
func (l *Local) ClaimDir(ctx context.Context, namespace, claim string) (string, error) {
	client, err := kubernetes.NewForConfig(l.Config)
	if err != nil {
		return "", fmt.Errorf("client: %w", err)
	}
	pvc, err := client.CoreV1().PersistentVolumeClaims(namespace).Get(ctx, claim, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("claim %s/%s: %w", namespace, claim, err)
	}
	if pvc.Status.Phase != corev1.ClaimBound {
		return "", fmt.Errorf("claim %s/%s is %s, not bound", namespace, claim, pvc.Status.Phase)
	}
	pv, err := client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("volume of claim %s/%s: %w", namespace, claim, err)
	}
	if pv.Spec.HostPath == nil {
		return "", fmt.Errorf("volume %s is not a hostPath volume", pv.Name)
	}
	return pv.Spec.HostPath.Path, nil
}
