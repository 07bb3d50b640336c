package localnode

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// ReasonUnsupported is the status reason and event reason of a pod the local
// node refuses to run.
const ReasonUnsupported = "UnsupportedByLocalNode"

// unsupported lists, in words, every part of pod the node cannot run
// faithfully; an empty list means it can.
func (n *Node) unsupported(pod *corev1.Pod) []string {
	var why []string
	add := func(format string, args ...any) { why = append(why, fmt.Sprintf(format, args...)) }
	spec := &pod.Spec
	if len(spec.InitContainers) > 0 {
		add("init containers are not supported")
	}
	if len(spec.EphemeralContainers) > 0 {
		add("ephemeral containers are not supported")
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		add("host namespaces (hostNetwork, hostPID, hostIPC) are not supported")
	}
	if len(spec.ReadinessGates) > 0 {
		add("readiness gates are not supported")
	}
	for _, v := range spec.Volumes {
		switch {
		case v.ConfigMap != nil, v.Secret != nil, v.PersistentVolumeClaim != nil:
		case v.Projected != nil:
			why = append(why, unsupportedProjection(&v)...)
		case v.EmptyDir != nil:
			if v.EmptyDir.Medium != corev1.StorageMediumDefault {
				add("volume %s: emptyDir medium %q is not supported", v.Name, v.EmptyDir.Medium)
			}
		default:
			add("volume %s: only configMap, secret, projected, emptyDir and persistentVolumeClaim volumes are supported", v.Name)
		}
	}
	for i := range spec.Containers {
		c := &spec.Containers[i]
		if _, ok := n.opts.Images[c.Image]; !ok {
			add("container %s: image %q is not one this node runs (it runs %s)", c.Name, c.Image, strings.Join(n.imageNames(), ", "))
			continue
		}
		if c.Lifecycle != nil {
			add("container %s: lifecycle hooks are not supported", c.Name)
		}
		if len(c.VolumeDevices) > 0 {
			add("container %s: volume devices are not supported", c.Name)
		}
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				add("container %s: host port %d is not supported", c.Name, p.HostPort)
			}
		}
		for _, probe := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
			if probe != nil && probe.HTTPGet == nil && probe.TCPSocket == nil {
				add("container %s: only httpGet and tcpSocket probes are supported", c.Name)
			}
			if probe != nil && probe.HTTPGet != nil && probe.HTTPGet.Scheme == corev1.URISchemeHTTPS {
				add("container %s: HTTPS probes are not supported", c.Name)
			}
		}
		for _, m := range c.VolumeMounts {
			if m.SubPathExpr != "" {
				add("container %s: subPathExpr is not supported", c.Name)
			}
			if m.MountPropagation != nil && *m.MountPropagation != corev1.MountPropagationNone {
				add("container %s: mount propagation is not supported", c.Name)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && !supportedFieldPath(e.ValueFrom.FieldRef.FieldPath) {
				add("container %s: env %s: fieldRef %s is not supported", c.Name, e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
			if e.ValueFrom != nil && e.ValueFrom.FileKeyRef != nil {
				add("container %s: env %s: fileKeyRef is not supported", c.Name, e.Name)
			}
		}
		id, err := n.identity(pod, c)
		if err != nil {
			add("container %s: %v", c.Name, err)
		} else if id.uid == 0 {
			add("container %s: runs as root, which a chroot cannot confine; set runAsUser or use a non-root image", c.Name)
		}
	}
	return why
}

func (n *Node) imageNames() []string {
	names := make([]string, 0, len(n.opts.Images))
	for name := range n.opts.Images {
		names = append(names, fmt.Sprintf("%q", name))
	}
	return names
}

// identity is the user a container's process runs as.
type identity struct {
	uid, gid int64
	groups   []int64
}

// identity resolves runAsUser/runAsGroup (container, then pod, then image),
// adds fsGroup and supplementalGroups, and enforces runAsNonRoot as the
// kubelet does.
func (n *Node) identity(pod *corev1.Pod, c *corev1.Container) (identity, error) {
	img := n.opts.Images[c.Image]
	id := identity{uid: img.User, gid: img.Group}
	var nonRoot *bool
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.RunAsUser != nil {
			id.uid = *psc.RunAsUser
		}
		if psc.RunAsGroup != nil {
			id.gid = *psc.RunAsGroup
		}
		nonRoot = psc.RunAsNonRoot
		if psc.FSGroup != nil {
			id.groups = append(id.groups, *psc.FSGroup)
		}
		id.groups = append(id.groups, psc.SupplementalGroups...)
	}
	if csc := c.SecurityContext; csc != nil {
		if csc.RunAsUser != nil {
			id.uid = *csc.RunAsUser
		}
		if csc.RunAsGroup != nil {
			id.gid = *csc.RunAsGroup
		}
		if csc.RunAsNonRoot != nil {
			nonRoot = csc.RunAsNonRoot
		}
		if csc.Privileged != nil && *csc.Privileged {
			return id, fmt.Errorf("privileged containers are not supported")
		}
	}
	if nonRoot != nil && *nonRoot && id.uid == 0 {
		return id, fmt.Errorf("container has runAsNonRoot and its user is root")
	}
	return id, nil
}

// readOnlyRoot reports the container's readOnlyRootFilesystem.
func readOnlyRoot(c *corev1.Container) bool {
	return c.SecurityContext != nil && c.SecurityContext.ReadOnlyRootFilesystem != nil && *c.SecurityContext.ReadOnlyRootFilesystem
}
