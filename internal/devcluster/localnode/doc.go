// Package localnode is a kubelet for development and tests only (`make run`
// and the e2e suite, through package devcluster): it registers one Node with
// the API server and runs the pods bound to it as local processes, so that an
// operator's Deployments really run on a machine without Docker or kind.
//
// It runs only pods whose every container uses an image it was given (an
// image is a locally built static binary plus the entrypoint and user the
// real image would have) and only the features it can run faithfully. Any
// other pod is refused: it stays Pending with reason UnsupportedByLocalNode,
// a message that names what is missing, and a Warning event. Nothing is faked.
//
// What each pod gets, and how close it is to a real kubelet:
//
//   - Network: its own network namespace with a veth pair and an IP from the
//     node's pod CIDR, reported as status.podIP. The containers listen on
//     their real ports; probes and clients reach them at podIP:port, as in a
//     cluster. An address of the pod CIDR that no pod holds is unreachable
//     (a route of type unreachable), so a stale endpoint fails at once and
//     never leaves the machine. There is no kube-proxy: Service cluster IPs are reachable only
//     through the optional ServiceProxy in this package, and cluster DNS
//     names do not resolve.
//   - Filesystem: each container is chrooted into a directory that holds the
//     image's binary at its entrypoint path, /dev/null, /dev/zero,
//     /dev/random, /dev/urandom and a /proc mount; volumes are bind-mounted at
//     their mountPath (subPath and readOnly honoured) and
//     readOnlyRootFilesystem is a read-only bind mount of that directory. So
//     the command, args and config files a pod carries are used unchanged: no
//     path in them is rewritten.
//   - Volumes: configMap and secret in the kubelet's atomic-writer layout
//     (the files in a ..<timestamp> directory, ..data linking to it, one
//     link per key into ..data; the files belong to the pod's fsGroup, as
//     the kubelet gives them), refreshed while the pod runs: every
//     Options.VolumeSyncPeriod (default one minute, plus up to half of it
//     again as jitter) each ConfigMap and Secret is read again and, only
//     when its content changed, a new version replaces the old with one
//     rename of ..data, in the directory the pod has mounted; an optional
//     one that is gone projects as empty, a required one that cannot be read
//     keeps its files. The version replaced is kept until the next update,
//     which the kubelet does not do. There is no watch of the objects: a
//     change takes up to one and a half periods, where a kubelet's cache
//     adds its own delay. A subPath mount of such a volume is not refreshed,
//     as on a kubelet. Also emptyDir (a directory; medium Memory refused),
//     and persistentVolumeClaim bound to a hostPath or local
//     PersistentVolume (its directory). Other types, including the projected
//     service-account token, are refused.
//   - Hostname: hostname and subdomain are accepted, since they only name
//     the pod in cluster DNS, which does not exist here; the process sees
//     the host's hostname (no UTS namespace, below).
//   - Identity: the process runs as runAsUser/runAsGroup (from the container,
//     else the pod, else the image's user), with fsGroup and
//     supplementalGroups as supplementary groups. runAsNonRoot is enforced.
//     Pods that would run as root are refused, because root in a chroot still
//     holds every capability of the host. Capabilities, seccomp and AppArmor
//     profiles are not applied; a non-root process holds no capabilities
//     anyway. No PID, UTS or IPC namespace, and no cgroup limits: resources
//     are reported to the scheduler but not enforced.
//   - Lifecycle: restartPolicy with the kubelet's crash back-off (10s doubling
//     to 5m), httpGet and tcpSocket probes (startup, liveness, readiness) on
//     podIP, Ready/ContainersReady/Initialized/PodReadyToStartContainers
//     conditions and container states. Deletion sends SIGTERM, then SIGKILL
//     after the pod's grace period, and removes the pod object once its
//     processes are gone. Init containers, sidecars, lifecycle hooks, exec
//     and gRPC probes are refused.
//   - Node: Ready with a heartbeat Lease; capacity is what the options say.
//     There is no kubelet API, so `kubectl logs` and `exec` do not work;
//     container output goes to files under the node's state directory
//     (see Node.LogPath).
//
// The node needs root: network namespaces, bind mounts, chroot and setuid.
package localnode
