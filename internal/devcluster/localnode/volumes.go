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
	"k8s.io/utils/ptr"
)

// errPermanent marks a volume problem that waiting will not fix.
var errPermanent = errors.New("cannot be run by the local node")

// prepareVolumes makes every volume of pod available as a host path:
// configMaps, secrets and projected volumes written as files under dir, emptyDirs as
// directories, claims as their PersistentVolume's directory.
func (n *Node) prepareVolumes(ctx context.Context, pod *corev1.Pod, dir string) (map[string]string, error) {
	paths := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		target := volumeDir(dir, v.Name)
		switch {
		case projectsFiles(&v):
			if _, err := n.projectVolume(ctx, pod, &v, target); err != nil {
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

// volumeDir is where a pod whose directory is podDir has a volume.
func volumeDir(podDir, volume string) string {
	return filepath.Join(podDir, "volumes", volume)
}

// fsGroup is the group the kubelet gives a pod's configMap and secret files,
// which is how a non-root container reads a Secret mounted 0440; -1 when the
// pod sets none.
func fsGroup(pod *corev1.Pod) int {
	if psc := pod.Spec.SecurityContext; psc != nil && psc.FSGroup != nil {
		return int(*psc.FSGroup)
	}
	return -1
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

// projectVolume reads the sources of a configMap, secret or projected
// volume and projects them into target, writing only when the content
// changed; it reports whether it wrote. An optional ConfigMap or Secret that
// does not exist projects as empty, as on a kubelet.
func (n *Node) projectVolume(ctx context.Context, pod *corev1.Pod, v *corev1.Volume, target string) (bool, error) {
	files, err := n.volumeFiles(ctx, pod, v)
	if err != nil {
		return false, err
	}
	return writeProjection(target, files, fsGroup(pod))
}

// projectsFiles reports whether a volume is one the node writes files for
// (and refreshes while the pod runs).
func projectsFiles(v *corev1.Volume) bool {
	return v.ConfigMap != nil || v.Secret != nil || v.Projected != nil
}

// volumeFiles is what a configMap, secret or projected volume holds now.
func (n *Node) volumeFiles(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) (map[string]projectedFile, error) {
	switch {
	case v.ConfigMap != nil:
		src := v.ConfigMap
		optional := ptr.Deref(src.Optional, false)
		data, err := n.configMapData(ctx, pod.Namespace, src.Name, optional)
		if err != nil {
			return nil, err
		}
		files, err := projection(data, src.Items, src.DefaultMode, optional)
		if err != nil {
			return nil, fmt.Errorf("configmap %s: %w", src.Name, err)
		}
		return files, nil
	case v.Secret != nil:
		src := v.Secret
		optional := ptr.Deref(src.Optional, false)
		data, err := n.secretData(ctx, pod.Namespace, src.SecretName, optional)
		if err != nil {
			return nil, err
		}
		files, err := projection(data, src.Items, src.DefaultMode, optional)
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", src.SecretName, err)
		}
		return files, nil
	case v.Projected != nil:
		return n.projectedFiles(ctx, pod, v)
	default:
		return nil, fmt.Errorf("volume %s is neither a configMap, a secret nor a projected volume", v.Name)
	}
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
