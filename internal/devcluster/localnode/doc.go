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
//     names do not resolve. The one exception is the `kubernetes` Service
//     in `default`, the API server's address for pods (kubeapi.go): its
//     cluster IP (10.0.0.1, package controlplane) is an address of each
//     pod's loopback device, and the node listens there, inside the pod's
//     namespace, on its port 443 and forwards every connection to the API
//     server the node talks to. The API server's certificate names that
//     IP, so an in-cluster client verifies it against the ca.crt it mounts.
//   - Filesystem: each container is chrooted into a directory that holds the
//     image's binary at its entrypoint path, /dev/null, /dev/zero,
//     /dev/random, /dev/urandom and a /proc mount; volumes are bind-mounted at
//     their mountPath (subPath and readOnly honoured) and
//     readOnlyRootFilesystem is a read-only bind mount of that directory. So
//     the command, args and config files a pod carries are used unchanged: no
//     path in them is rewritten.
//   - Volumes: configMap, secret and projected in the kubelet's
//     atomic-writer layout (the files in a ..<timestamp> directory, ..data
//     linking to it, one link per key into ..data; with an fsGroup the files
//     belong to it and the group may read them, as the kubelet gives them),
//     refreshed while the pod runs: every Options.VolumeSyncPeriod (default
//     one minute, plus up to half of it again as jitter) each ConfigMap and
//     Secret is read again and, only when its content changed, a new
//     version replaces the old with one rename of ..data, in the directory
//     the pod has mounted; an optional one that is gone projects as empty,
//     a required one that cannot be read keeps its files. The version
//     replaced is kept until the next update, which the kubelet does not
//     do. There is no watch of the objects: a change takes up to one and a
//     half periods, where a kubelet's cache adds its own delay. A subPath
//     mount of such a volume is not refreshed, as on a kubelet.
//   - Projected volumes take serviceAccountToken, configMap, secret and
//     downwardAPI sources, so the kube-api-access-* volume the API server's
//     ServiceAccount admission plugin adds to a pod that does not set
//     automountServiceAccountToken: false works as in a cluster (token,
//     ca.crt from kube-root-ca.crt, namespace, mounted at
//     /var/run/secrets/kubernetes.io/serviceaccount). A token comes from
//     the TokenRequest API for the pod's service account, with the source's
//     audience (none: the API server's) and expirationSeconds (default
//     3600, at least 600), bound to the pod (its name and uid), so that it
//     stops working when the pod is gone. It is kept per pod, account,
//     audience and lifetime and asked for again at the first sync after
//     80% of its lifetime or a day, the kubelet's rule, without the
//     kubelet's jitter of up to ten seconds. Its file has the volume's
//     defaultMode, or 0600 when the pod has an fsGroup or one runAsUser for
//     all its containers, and then belongs to that user, as on a kubelet.
//     downwardAPI items take the fields the API server allows in volumes
//     (name, namespace, uid, labels, annotations) and resourceFieldRef
//     (cpu, memory, ephemeral-storage), and follow label and annotation
//     changes at each sync. clusterTrustBundle and podCertificate sources
//     are refused: this cluster serves no ClusterTrustBundles and signs no
//     pod certificates.
//   - Also emptyDir (a directory; medium Memory refused), and
//     persistentVolumeClaim bound to a hostPath or local PersistentVolume
//     (its directory). Other types, the downwardAPI volume among them, are
//     refused.
//   - Environment: as the kubelet builds it, with the `kubernetes`
//     Service's KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT and
//     docker-link-style KUBERNETES_PORT_* variables in every container, so
//     that rest.InClusterConfig works. The link variables of the pod's own
//     namespace's Services (enableServiceLinks) are not set: their cluster
//     IPs do not route here.
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
