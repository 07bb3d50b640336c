package devcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spansink/spansink/cmd/collector"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// BuildSpansink builds the spansink binary of the checkout at root as a
// static executable at out, and the collector's own binary beside it (see
// SpansinkImage): the form the local node runs as the image.
func BuildSpansink(ctx context.Context, root, out string) error {
	for pkg, to := range map[string]string{".": out, "./cmd/spansink-collector": collectorBinary(out)} {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", to, pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if output, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %w: %s", filepath.Base(to), err, output)
		}
	}
	return nil
}

// collectorBinary is where BuildSpansink puts the collector's own binary
// for the spansink binary at spansink.
func collectorBinary(spansink string) string {
	return filepath.Join(filepath.Dir(spansink), collector.BinaryName)
}

// ClaimDir is the host directory behind a bound claim: the hostPath of its
// PersistentVolume, where a collector's span files appear.
func (c *Cluster) ClaimDir(ctx context.Context, namespace, claim string) (string, error) {
	client, err := kubernetes.NewForConfig(c.Config)
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
