package localnode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// errPermanent marks a volume problem that waiting will not fix.
var errPermanent = errors.New("cannot be run by the local node")

// prepareVolumes makes every volume of pod available as a host path:
// configMaps and secrets projected into files under dir, emptyDirs as
// directories, claims as their PersistentVolume's directory.
func (n *Node) prepareVolumes(ctx context.Context, pod *corev1.Pod, dir string) (map[string]string, error) {
	paths := map[string]string{}
	// The kubelet gives a pod's configMap and secret files to its fsGroup,
	// which is how a non-root container reads a Secret mounted 0440.
	group := -1
	if psc := pod.Spec.SecurityContext; psc != nil && psc.FSGroup != nil {
		group = int(*psc.FSGroup)
	}
	for _, v := range pod.Spec.Volumes {
		target := filepath.Join(dir, "volumes", v.Name)
		switch {
		case v.ConfigMap != nil:
			if err := n.projectConfigMap(ctx, pod.Namespace, v.ConfigMap, target, group); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
			paths[v.Name] = target
		case v.Secret != nil:
			if err := n.projectSecret(ctx, pod.Namespace, v.Secret, target, group); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
			paths[v.Name] = target
		case v.EmptyDir != nil:
			// World-writable like the kubelet's emptyDir, so any user can use it.
			if err := os.MkdirAll(target, 0o777); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
			if err := os.Chmod(target, 0o777); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
			paths[v.Name] = target
		case v.PersistentVolumeClaim != nil:
			path, err := n.claimPath(ctx, pod.Namespace, v.PersistentVolumeClaim.ClaimName)
			if err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
			paths[v.Name] = path
		}
	}
	return paths, nil
}

// claimPath is the directory of the hostPath or local volume a claim is bound to.
func (n *Node) claimPath(ctx context.Context, namespace, claim string) (string, error) {
	pvc, err := n.client.CoreV1().PersistentVolumeClaims(namespace).Get(ctx, claim, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("claim %s: %w", claim, err)
	}
	if pvc.Spec.VolumeName == "" || pvc.Status.Phase != corev1.ClaimBound {
		return "", fmt.Errorf("claim %s is not bound yet", claim)
	}
	pv, err := n.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("volume %s of claim %s: %w", pvc.Spec.VolumeName, claim, err)
	}
	var path string
	switch {
	case pv.Spec.HostPath != nil:
		path = pv.Spec.HostPath.Path
	case pv.Spec.Local != nil:
		path = pv.Spec.Local.Path
	default:
		return "", fmt.Errorf("volume %s of claim %s is neither hostPath nor local: %w", pv.Name, claim, errPermanent)
	}
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("directory of volume %s: %w", pv.Name, err)
	}
	if !info.IsDir() {
		return "", fmt.Errorf("volume %s: %s is not a directory: %w", pv.Name, path, errPermanent)
	}
	return path, nil
}

func (n *Node) projectConfigMap(ctx context.Context, namespace string, src *corev1.ConfigMapVolumeSource, target string, group int) error {
	cm, err := n.client.CoreV1().ConfigMaps(namespace).Get(ctx, src.Name, metav1.GetOptions{})
	if err != nil {
		if src.Optional != nil && *src.Optional {
			return writeProjection(target, nil, nil, src.DefaultMode, group)
		}
		return fmt.Errorf("configmap %s: %w", src.Name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return writeProjection(target, data, src.Items, src.DefaultMode, group)
}

func (n *Node) projectSecret(ctx context.Context, namespace string, src *corev1.SecretVolumeSource, target string, group int) error {
	s, err := n.client.CoreV1().Secrets(namespace).Get(ctx, src.SecretName, metav1.GetOptions{})
	if err != nil {
		if src.Optional != nil && *src.Optional {
			return writeProjection(target, nil, nil, src.DefaultMode, group)
		}
		return fmt.Errorf("secret %s: %w", src.SecretName, err)
	}
	return writeProjection(target, s.Data, src.Items, src.DefaultMode, group)
}

// writeProjection writes keys as files (all of them, or the listed items at
// their paths) with the volume's modes, replacing an earlier projection.
// With group >= 0 (the pod's fsGroup) the files belong to that group.
func writeProjection(target string, data map[string][]byte, items []corev1.KeyToPath, defaultMode *int32, group int) error {
	if err := os.RemoveAll(target); err != nil {
		return fmt.Errorf("clear projection: %w", err)
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return fmt.Errorf("projection directory: %w", err)
	}
	mode := os.FileMode(0o644)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode)
	}
	if len(items) == 0 {
		for key := range data {
			items = append(items, corev1.KeyToPath{Key: key, Path: key})
		}
	}
	for _, item := range items {
		content, ok := data[item.Key]
		if !ok {
			return fmt.Errorf("key %s not found", item.Key)
		}
		rel := filepath.Clean(item.Path)
		if filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
			return fmt.Errorf("item path %q leaves the volume: %w", item.Path, errPermanent)
		}
		fileMode := mode
		if item.Mode != nil {
			fileMode = os.FileMode(*item.Mode)
		}
		path := filepath.Join(target, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("project %s: %w", item.Key, err)
		}
		if err := os.WriteFile(path, content, fileMode); err != nil {
			return fmt.Errorf("project %s: %w", item.Key, err)
		}
		if group >= 0 {
			if err := os.Lchown(path, -1, group); err != nil {
				return fmt.Errorf("project %s: give it to fsGroup %d: %w", item.Key, group, err)
			}
		}
		// WriteFile's mode is filtered by the umask; the volume's is not.
		// Chmod comes after chown, which may clear setgid-like bits.
		if err := os.Chmod(path, fileMode); err != nil {
			return fmt.Errorf("project %s: %w", item.Key, err)
		}
	}
	return nil
}

// containerMounts resolves a container's volumeMounts against the prepared
// volume paths, honouring subPath.
func containerMounts(c *corev1.Container, volumes map[string]string) ([]bindMount, error) {
	mounts := make([]bindMount, 0, len(c.VolumeMounts))
	for _, m := range c.VolumeMounts {
		source, ok := volumes[m.Name]
		if !ok {
			return nil, fmt.Errorf("volume mount %s: no such volume: %w", m.Name, errPermanent)
		}
		if m.SubPath != "" {
			rel := filepath.Clean(m.SubPath)
			if filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
				return nil, fmt.Errorf("volume mount %s: subPath %q leaves the volume: %w", m.Name, m.SubPath, errPermanent)
			}
			source = filepath.Join(source, rel)
			if _, err := os.Stat(source); os.IsNotExist(err) {
				if err := os.MkdirAll(source, 0o777); err != nil {
					return nil, fmt.Errorf("volume mount %s: subPath: %w", m.Name, err)
				}
			}
		}
		mounts = append(mounts, bindMount{source: source, target: m.MountPath, readOnly: m.ReadOnly})
	}
	return mounts, nil
}
