package localnode

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// A projected volume merges sources into one directory in the same
// atomic-writer layout as a configMap or secret volume: serviceAccountToken,
// configMap, secret and downwardAPI sources. That covers the kube-api-access
// volume the ServiceAccount admission plugin adds to every pod that does not
// opt out (a token, kube-root-ca.crt's ca.crt and the namespace). The
// clusterTrustBundle and podCertificate sources are refused (see admit.go):
// they need API groups and a signer this cluster does not serve.

// unsupportedProjection says, in words, what of a projected volume the node
// cannot project faithfully.
func unsupportedProjection(v *corev1.Volume) []string {
	var why []string
	for i, src := range v.Projected.Sources {
		switch {
		case src.ServiceAccountToken != nil, src.ConfigMap != nil, src.Secret != nil:
		case src.DownwardAPI != nil:
			for _, item := range src.DownwardAPI.Items {
				if item.FieldRef != nil && !supportedVolumeFieldPath(item.FieldRef.FieldPath) {
					why = append(why, fmt.Sprintf("volume %s: downwardAPI item %s: fieldRef %s is not supported in a volume", v.Name, item.Path, item.FieldRef.FieldPath))
				}
				if item.ResourceFieldRef != nil && !supportedResource(item.ResourceFieldRef.Resource) {
					why = append(why, fmt.Sprintf("volume %s: downwardAPI item %s: resource %s is not supported", v.Name, item.Path, item.ResourceFieldRef.Resource))
				}
			}
		case src.ClusterTrustBundle != nil:
			why = append(why, fmt.Sprintf("volume %s: projected source %d: clusterTrustBundle sources are not supported (the node serves no ClusterTrustBundles)", v.Name, i))
		case src.PodCertificate != nil:
			why = append(why, fmt.Sprintf("volume %s: projected source %d: podCertificate sources are not supported (the node issues no pod certificates)", v.Name, i))
		default:
			why = append(why, fmt.Sprintf("volume %s: projected source %d is of a kind the node does not know", v.Name, i))
		}
	}
	return why
}

// supportedVolumeFieldPath reports whether a downwardAPI volume item's
// fieldRef can be projected: the API server admits only these in volumes,
// all read from the pod object the node follows.
func supportedVolumeFieldPath(path string) bool {
	switch path {
	case "metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels", "metadata.annotations":
		return true
	}
	return strings.HasPrefix(path, "metadata.labels['") || strings.HasPrefix(path, "metadata.annotations['")
}

// projectedFiles is what a projected volume holds now, by path: the files
// of every source, with the volume's defaultMode unless an item sets its
// own. Tokens follow the kubelet's ownership: mode 0600 when the pod has an
// fsGroup or one user for all its containers, and that user owns them.
func (n *Node) projectedFiles(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) (map[string]projectedFile, error) {
	src := v.Projected
	mode := os.FileMode(0o644)
	if src.DefaultMode != nil {
		mode = os.FileMode(*src.DefaultMode).Perm()
	}
	files := map[string]projectedFile{}
	add := func(more map[string]projectedFile) {
		for path, f := range more {
			files[path] = f
		}
	}
	for i := range src.Sources {
		s := &src.Sources[i]
		switch {
		case s.ServiceAccountToken != nil:
			token, err := n.tokens.token(ctx, pod, s.ServiceAccountToken)
			if err != nil {
				return nil, err
			}
			path, err := projectionPath(s.ServiceAccountToken.Path)
			if err != nil {
				return nil, err
			}
			f := projectedFile{content: []byte(token), mode: mode, owner: -1}
			user, hasUser := fsUser(pod)
			if hasUser || fsGroup(pod) >= 0 {
				f.mode = 0o600
			}
			if hasUser {
				f.owner = int(user)
			}
			files[path] = f
		case s.ConfigMap != nil:
			optional := ptr.Deref(s.ConfigMap.Optional, false)
			data, err := n.configMapData(ctx, pod.Namespace, s.ConfigMap.Name, optional)
			if err != nil {
				return nil, err
			}
			more, err := projection(data, s.ConfigMap.Items, ptr.To(int32(mode)), optional)
			if err != nil {
				return nil, fmt.Errorf("configmap %s: %w", s.ConfigMap.Name, err)
			}
			add(more)
		case s.Secret != nil:
			optional := ptr.Deref(s.Secret.Optional, false)
			data, err := n.secretData(ctx, pod.Namespace, s.Secret.Name, optional)
			if err != nil {
				return nil, err
			}
			more, err := projection(data, s.Secret.Items, ptr.To(int32(mode)), optional)
			if err != nil {
				return nil, fmt.Errorf("secret %s: %w", s.Secret.Name, err)
			}
			add(more)
		case s.DownwardAPI != nil:
			more, err := n.downwardAPIFiles(pod, s.DownwardAPI.Items, mode)
			if err != nil {
				return nil, err
			}
			add(more)
		default:
			return nil, fmt.Errorf("projected source %d: not supported: %w", i, errPermanent)
		}
	}
	return files, nil
}

// configMapData is a ConfigMap's keys, nil for an optional one that does
// not exist.
func (n *Node) configMapData(ctx context.Context, namespace, name string, optional bool) (map[string][]byte, error) {
	cm, err := n.client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("configmap %s: %w", name, err)
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return data, nil
}

// secretData is a Secret's keys, nil for an optional one that does not exist.
func (n *Node) secretData(ctx context.Context, namespace, name string, optional bool) (map[string][]byte, error) {
	s, err := n.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	return s.Data, nil
}

// downwardAPIFiles renders downwardAPI items from the pod as the node last
// saw it, so that a label or annotation changed while the pod runs reaches
// the file at the next volume sync, as on a kubelet.
func (n *Node) downwardAPIFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, mode os.FileMode) (map[string]projectedFile, error) {
	files := make(map[string]projectedFile, len(items))
	for _, item := range items {
		path, err := projectionPath(item.Path)
		if err != nil {
			return nil, err
		}
		var value string
		switch {
		case item.FieldRef != nil:
			if value, err = volumeFieldValue(pod, item.FieldRef.FieldPath); err != nil {
				return nil, fmt.Errorf("downwardAPI item %s: %w", item.Path, err)
			}
		case item.ResourceFieldRef != nil:
			c := containerNamed(pod, item.ResourceFieldRef.ContainerName)
			if c == nil {
				return nil, fmt.Errorf("downwardAPI item %s: no container %q: %w", item.Path, item.ResourceFieldRef.ContainerName, errPermanent)
			}
			if value, err = n.resourceValue(c, item.ResourceFieldRef); err != nil {
				return nil, fmt.Errorf("downwardAPI item %s: %w", item.Path, err)
			}
		default:
			return nil, fmt.Errorf("downwardAPI item %s names neither a field nor a resource: %w", item.Path, errPermanent)
		}
		f := projectedFile{content: []byte(value), mode: mode, owner: -1}
		if item.Mode != nil {
			f.mode = os.FileMode(*item.Mode).Perm()
		}
		files[path] = f
	}
	return files, nil
}

// volumeFieldValue is a downwardAPI volume item's content. The whole
// labels or annotations are one key="value" line each, sorted by key, the
// value quoted as Go quotes it: the kubelet's format.
func volumeFieldValue(pod *corev1.Pod, path string) (string, error) {
	switch path {
	case "metadata.labels":
		return formatMetadataMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMetadataMap(pod.Annotations), nil
	}
	if !supportedVolumeFieldPath(path) {
		return "", fmt.Errorf("field path %s is not supported in a volume: %w", path, errPermanent)
	}
	return fieldValue(pod, path, "", "")
}

func formatMetadataMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lines := make([]string, len(keys))
	for i, k := range keys {
		lines[i] = fmt.Sprintf("%s=%q", k, m[k])
	}
	return strings.Join(lines, "\n")
}

func containerNamed(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	return nil
}

// fsUser is the user the kubelet gives a pod's token files: the one every
// container runs as, when each sets it (in its own or the pod's security
// context). It does not look at the image's user, which the kubelet does
// not know either.
func fsUser(pod *corev1.Pod) (int64, bool) {
	var user *int64
	for i := range pod.Spec.Containers {
		var u *int64
		if psc := pod.Spec.SecurityContext; psc != nil {
			u = psc.RunAsUser
		}
		if csc := pod.Spec.Containers[i].SecurityContext; csc != nil && csc.RunAsUser != nil {
			u = csc.RunAsUser
		}
		if u == nil || (user != nil && *user != *u) {
			return 0, false
		}
		user = u
	}
	if user == nil {
		return 0, false
	}
	return *user, true
}
