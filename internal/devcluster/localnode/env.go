package localnode

import (
	"context"
	"fmt"
	"math"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// supportedFieldPath reports whether the downward API path can be resolved.
func supportedFieldPath(path string) bool {
	switch path {
	case "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
		"spec.serviceAccountName", "status.hostIP", "status.podIP", "status.podIPs", "status.hostIPs":
		return true
	}
	return strings.HasPrefix(path, "metadata.labels['") || strings.HasPrefix(path, "metadata.annotations['")
}

// environment builds a container's environment as the kubelet does: the
// image's variables, HOSTNAME, then envFrom and env in order, with $(VAR)
// references to earlier variables and to the service variables expanded,
// then the service variables (services) the container does not define.
// Those are the `kubernetes` Service's, which the kubelet sets in every
// pod; the link variables of the pod's own namespace's Services are not
// set, since their cluster IPs do not route here.
func (n *Node) environment(ctx context.Context, pod *corev1.Pod, c *corev1.Container, podIP string, services []corev1.EnvVar) ([]string, error) {
	img := n.opts.Images[c.Image]
	values := map[string]string{}
	var order []string
	set := func(name, value string) {
		if _, ok := values[name]; !ok {
			order = append(order, name)
		}
		values[name] = value
	}
	for _, kv := range img.Env {
		name, value, _ := strings.Cut(kv, "=")
		set(name, value)
	}
	set("HOSTNAME", pod.Name)
	declared := map[string]bool{}
	serviceValues := make(map[string]string, len(services))
	for _, e := range services {
		serviceValues[e.Name] = e.Value
	}
	for _, from := range c.EnvFrom {
		data, err := n.envSource(ctx, pod.Namespace, from)
		if err != nil {
			return nil, err
		}
		for k, v := range data {
			set(from.Prefix+k, v)
			declared[from.Prefix+k] = true
		}
	}
	lookup := func(name string) (string, bool) {
		if !declared[name] {
			if v, ok := serviceValues[name]; ok {
				return v, true
			}
		}
		v, ok := values[name]
		return v, ok
	}
	for _, e := range c.Env {
		declared[e.Name] = true
		if e.ValueFrom == nil {
			set(e.Name, expand(e.Value, lookup))
			continue
		}
		v, err := n.envValueFrom(ctx, pod, c, e, podIP)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		set(e.Name, v)
	}
	for _, e := range services {
		if !declared[e.Name] {
			set(e.Name, e.Value)
		}
	}
	env := make([]string, 0, len(order))
	for _, name := range order {
		env = append(env, name+"="+values[name])
	}
	return env, nil
}

// envSource reads a whole ConfigMap or Secret for envFrom.
func (n *Node) envSource(ctx context.Context, namespace string, from corev1.EnvFromSource) (map[string]string, error) {
	data := map[string]string{}
	switch {
	case from.ConfigMapRef != nil:
		cm, err := n.client.CoreV1().ConfigMaps(namespace).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
		if err != nil {
			if from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional {
				return data, nil
			}
			return nil, fmt.Errorf("envFrom configmap %s: %w", from.ConfigMapRef.Name, err)
		}
		for k, v := range cm.Data {
			data[k] = v
		}
	case from.SecretRef != nil:
		s, err := n.client.CoreV1().Secrets(namespace).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
		if err != nil {
			if from.SecretRef.Optional != nil && *from.SecretRef.Optional {
				return data, nil
			}
			return nil, fmt.Errorf("envFrom secret %s: %w", from.SecretRef.Name, err)
		}
		for k, v := range s.Data {
			data[k] = string(v)
		}
	}
	return data, nil
}

// envValueFrom resolves one env valueFrom source.
func (n *Node) envValueFrom(ctx context.Context, pod *corev1.Pod, c *corev1.Container, e corev1.EnvVar, podIP string) (string, error) {
	src := e.ValueFrom
	switch {
	case src.FieldRef != nil:
		return fieldValue(pod, src.FieldRef.FieldPath, podIP, n.network.gateway.String())
	case src.ResourceFieldRef != nil:
		return n.resourceValue(c, src.ResourceFieldRef)
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		cm, err := n.client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err == nil {
			if v, ok := cm.Data[ref.Key]; ok {
				return v, nil
			}
			err = fmt.Errorf("key %s not found in configmap %s", ref.Key, ref.Name)
		}
		if ref.Optional != nil && *ref.Optional {
			return "", nil
		}
		return "", err
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		s, err := n.client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err == nil {
			if v, ok := s.Data[ref.Key]; ok {
				return string(v), nil
			}
			err = fmt.Errorf("key %s not found in secret %s", ref.Key, ref.Name)
		}
		if ref.Optional != nil && *ref.Optional {
			return "", nil
		}
		return "", err
	}
	return "", fmt.Errorf("unsupported valueFrom")
}

// fieldValue resolves a downward API field path.
func fieldValue(pod *corev1.Pod, path, podIP, hostIP string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs":
		return hostIP, nil
	case "status.podIP", "status.podIPs":
		return podIP, nil
	}
	for prefix, m := range map[string]map[string]string{"metadata.labels['": pod.Labels, "metadata.annotations['": pod.Annotations} {
		if key, ok := strings.CutPrefix(path, prefix); ok {
			return m[strings.TrimSuffix(key, "']")], nil
		}
	}
	return "", fmt.Errorf("field path %s is not supported", path)
}

// supportedResource reports whether resourceValue can resolve a
// resourceFieldRef's resource (hugepages are not).
func supportedResource(resource string) bool {
	switch resource {
	case "limits.cpu", "requests.cpu", "limits.memory", "requests.memory", "limits.ephemeral-storage", "requests.ephemeral-storage":
		return true
	}
	return false
}

// resourceValue resolves a resourceFieldRef; an unset limit is the node's
// allocatable amount, as on a real node.
func (n *Node) resourceValue(c *corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	var q resource.Quantity
	if !supportedResource(ref.Resource) {
		return "", fmt.Errorf("resource %s is not supported", ref.Resource)
	}
	kind, name, _ := strings.Cut(ref.Resource, ".")
	list := c.Resources.Limits
	if kind == "requests" {
		list = c.Resources.Requests
	}
	if v, ok := list[corev1.ResourceName(name)]; ok {
		q = v
	} else if kind == "limits" {
		switch name {
		case "cpu":
			q = n.opts.CPU
		case "memory":
			q = n.opts.Memory
		default:
			q = resource.MustParse("100Gi")
		}
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if name == "cpu" {
		return fmt.Sprint(int64(math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue())))), nil
	}
	return fmt.Sprint(int64(math.Ceil(float64(q.Value()) / float64(divisor.Value())))), nil
}

// expand replaces $(NAME) with defined variables and $$ with $, leaving
// unknown references as they are, like the kubelet.
func expand(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteByte(s[i])
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
