package localnode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
)

// Image is what the node runs for a container image name: a static binary
// built on this machine, placed where the real image has it, with the
// image's entrypoint, user and environment.
type Image struct {
	// Binary is the host path of the executable, built with CGO_ENABLED=0 so
	// that it runs in an otherwise empty root directory.
	Binary string
	// Path is where the binary lives inside the image, e.g. "/spansink".
	Path string
	// Files are more executables of the image: the host path of each by
	// its absolute path inside the image.
	Files map[string]string
	// Entrypoint is the image's ENTRYPOINT, used when a container sets no command.
	Entrypoint []string
	// Cmd is the image's CMD, used when a container sets neither command nor args.
	Cmd []string
	// User and Group are the image's USER (distroless nonroot: 65532).
	User, Group int64
	// Env is the image's environment, as "NAME=value".
	Env []string
}

// Options configure a Node.
type Options struct {
	// Name is the Node's name.
	Name string
	// Images maps a container image name, exactly as pods spell it, to what runs it.
	Images map[string]Image
	// StateDir holds pod root directories, projected volumes and container
	// logs. It must exist and be empty of another node's state.
	StateDir string
	// CPU, Memory and Pods are the capacity reported to the scheduler; zero
	// values take the machine's CPUs, 8Gi and 32 pods.
	CPU, Memory resource.Quantity
	Pods        int64
	// VolumeSyncPeriod is how often the configMap, secret and projected
	// volumes of a running pod are read again and, when their content
	// changed, replaced by the kubelet's atomic ..data swap; each wait is
	// this period plus up to half of it again (jitter). A service-account
	// token due for refresh is replaced at the next sync. Zero takes the
	// kubelet's default, one minute.
	VolumeSyncPeriod time.Duration
	// Log receives the node's structured logs.
	Log logr.Logger
}

// Node is a running local node.
type Node struct {
	opts     Options
	client   kubernetes.Interface
	recorder record.EventRecorder
	network  *network
	imageIDs map[string]string
	log      logr.Logger
	// apiServer is the host:port of the API server the node talks to,
	// where a pod's connections to the `kubernetes` Service go.
	apiServer string
	// tokens hands out the pods' service-account tokens.
	tokens *tokenManager

	mu   sync.Mutex
	pods map[types.UID]*podRunner
	wg   sync.WaitGroup
}

// heartbeat timings, those of a kubelet: a 40s lease renewed every 10s.
const (
	leaseDuration       = 40 * time.Second
	leaseRenewInterval  = 10 * time.Second
	nodeStatusFrequency = time.Minute
)

// New checks the options and reserves a pod network for the node. Run
// starts it.
func New(cfg *rest.Config, opts Options) (*Node, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the local node needs root: it creates network namespaces, bind mounts and chroots, and runs containers as their users")
	}
	if opts.Name == "" {
		return nil, errors.New("local node: a node name is required")
	}
	if len(opts.Images) == 0 {
		return nil, errors.New("local node: at least one image is required")
	}
	if opts.CPU.IsZero() {
		opts.CPU = *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI)
	}
	if opts.Memory.IsZero() {
		opts.Memory = resource.MustParse("8Gi")
	}
	if opts.Pods == 0 {
		opts.Pods = 32
	}
	switch {
	case opts.VolumeSyncPeriod < 0:
		return nil, fmt.Errorf("local node: the volume sync period must not be negative, got %s", opts.VolumeSyncPeriod)
	case opts.VolumeSyncPeriod == 0:
		opts.VolumeSyncPeriod = defaultVolumeSyncPeriod
	}
	imageIDs := map[string]string{}
	for name, img := range opts.Images {
		id, err := fileDigest(img.Binary)
		if err != nil {
			return nil, fmt.Errorf("local node image %s: %w", name, err)
		}
		if img.Path == "" || !filepath.IsAbs(img.Path) {
			return nil, fmt.Errorf("local node image %s: the binary's path inside the image must be absolute, got %q", name, img.Path)
		}
		for inImage, host := range img.Files {
			if !filepath.IsAbs(inImage) || inImage == img.Path {
				return nil, fmt.Errorf("local node image %s: a file's path inside the image must be absolute and not the binary's, got %q", name, inImage)
			}
			if _, err := os.Stat(host); err != nil {
				return nil, fmt.Errorf("local node image %s: file %s: %w", name, inImage, err)
			}
		}
		imageIDs[name] = id
	}
	// The containers run as unprivileged users and must reach their root
	// directories under the state directory.
	if err := os.Chmod(opts.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("local node state directory: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("local node client: %w", err)
	}
	server, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("local node: API server address: %w", err)
	}
	apiServer := server.Host
	if server.Port() == "" {
		port := "443"
		if server.Scheme == "http" {
			port = "80"
		}
		apiServer = net.JoinHostPort(server.Hostname(), port)
	}
	netw, err := acquireNetwork(opts.Log)
	if err != nil {
		return nil, err
	}
	n := &Node{
		opts:      opts,
		client:    client,
		network:   netw,
		imageIDs:  imageIDs,
		log:       opts.Log.WithValues("node", opts.Name),
		apiServer: apiServer,
		pods:      map[types.UID]*podRunner{},
	}
	n.tokens = newTokenManager(clock.RealClock{}, n.tokenRequester)
	return n, nil
}

// PodCIDR is the range pod IPs come from.
func (n *Node) PodCIDR() string { return n.network.cidr() }

// LogPath is the file that holds the current output of a pod's container,
// empty when the node has not started it.
func (n *Node) LogPath(podUID types.UID, container string) string {
	n.mu.Lock()
	p := n.pods[podUID]
	n.mu.Unlock()
	if p == nil {
		return ""
	}
	return p.logPath(container)
}

// VolumePath is the host directory that holds a running pod's configMap,
// secret or projected volume (the one bind-mounted into its containers),
// empty when the node does not run the pod: for tests that check what the
// node projected, a token file among them.
func (n *Node) VolumePath(podUID types.UID, volume string) string {
	n.mu.Lock()
	p := n.pods[podUID]
	n.mu.Unlock()
	if p == nil {
		return ""
	}
	for _, v := range p.current().Spec.Volumes {
		if v.Name == volume && projectsFiles(&v) {
			return volumeDir(p.dir, volume)
		}
	}
	return ""
}

// ContainerPID is the host process id of a pod's running container, 0
// when it does not run: for tests that kill a process as a crash or an
// out-of-memory kill would, which the node then handles as the kubelet
// does (restart with back-off, readiness from the probes).
func (n *Node) ContainerPID(podUID types.UID, container string) int {
	n.mu.Lock()
	p := n.pods[podUID]
	n.mu.Unlock()
	if p == nil {
		return 0
	}
	return p.pid(container)
}

// Run registers the node, keeps its heartbeat and runs the pods bound to it
// until ctx is done. It then stops every pod (SIGTERM, SIGKILL after the
// grace period), deletes the Node object and releases the pod network.
func (n *Node) Run(ctx context.Context) error {
	defer n.network.release()
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: n.client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	n.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: n.opts.Name})

	if err := n.register(ctx); err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactoryWithOptions(n.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", n.opts.Name).String()
		}))
	podInformer := factory.Core().V1().Pods().Informer()
	if _, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { n.podChanged(ctx, obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { n.podChanged(ctx, obj.(*corev1.Pod)) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				n.podGone(pod.UID)
			}
		},
	}); err != nil {
		return fmt.Errorf("watch pods of node %s: %w", n.opts.Name, err)
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	n.log.Info("local node running", "podCIDR", n.network.cidr())

	lease := time.NewTicker(leaseRenewInterval)
	defer lease.Stop()
	status := time.NewTicker(nodeStatusFrequency)
	defer status.Stop()
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-lease.C:
			if err := n.renewLease(ctx); err != nil && ctx.Err() == nil {
				n.log.Error(err, "renew node lease")
			}
		case <-status.C:
			if err := n.updateNodeStatus(ctx); err != nil && ctx.Err() == nil {
				n.log.Error(err, "update node status")
			}
		}
	}
	factory.Shutdown()
	return n.shutdown()
}

// shutdown stops every pod and removes the Node, whose pods the control
// plane then garbage-collects.
func (n *Node) shutdown() error {
	n.mu.Lock()
	for _, p := range n.pods {
		p.requestStop(stopShutdown, p.gracePeriod())
	}
	n.mu.Unlock()
	n.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := n.client.CoreV1().Nodes().Delete(ctx, n.opts.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete node %s: %w", n.opts.Name, err)
	}
	return nil
}

// podChanged starts a runner for a pod new to the node and passes every
// later version of the pod to it.
func (n *Node) podChanged(ctx context.Context, pod *corev1.Pod) {
	n.mu.Lock()
	defer n.mu.Unlock()
	p, ok := n.pods[pod.UID]
	if !ok {
		if pod.DeletionTimestamp != nil && pod.Status.Phase == "" {
			// Deleted before the node ever saw it: nothing runs, so it can go.
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				n.deletePodObject(context.Background(), pod.Namespace, pod.Name, pod.UID)
			}()
			return
		}
		p = newPodRunner(n, pod)
		n.pods[pod.UID] = p
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			p.run(ctx)
			n.mu.Lock()
			delete(n.pods, pod.UID)
			n.mu.Unlock()
		}()
		return
	}
	p.update(pod)
}

// podGone handles a pod removed from the API server without the node's
// part (a forced deletion): its processes are killed at once.
func (n *Node) podGone(uid types.UID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p, ok := n.pods[uid]; ok {
		p.requestStop(stopForced, 0)
	}
}

// deletePodObject removes a pod whose processes have all exited, as the
// kubelet does once a terminating pod is cleaned up.
func (n *Node) deletePodObject(ctx context.Context, namespace, name string, uid types.UID) {
	err := n.client.CoreV1().Pods(namespace).Delete(ctx, name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		n.log.Error(err, "delete terminated pod", "pod", namespace+"/"+name)
	}
}

// register creates or refreshes the Node object, its status and its lease.
func (n *Node) register(ctx context.Context) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: n.opts.Name,
			Labels: map[string]string{
				corev1.LabelHostname:   n.opts.Name,
				corev1.LabelOSStable:   runtime.GOOS,
				corev1.LabelArchStable: runtime.GOARCH,
			},
		},
		Spec: corev1.NodeSpec{PodCIDR: n.network.cidr(), PodCIDRs: []string{n.network.cidr()}},
	}
	_, err := n.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register node %s: %w", n.opts.Name, err)
	}
	if err := n.updateNodeStatus(ctx); err != nil {
		return err
	}
	return n.renewLease(ctx)
}

// updateNodeStatus reports the node Ready with its capacity, retrying when
// a controller (node lifecycle, TTL) changed the Node meanwhile.
func (n *Node) updateNodeStatus(ctx context.Context) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error { return n.tryUpdateNodeStatus(ctx) })
}

func (n *Node) tryUpdateNodeStatus(ctx context.Context) error {
	node, err := n.client.CoreV1().Nodes().Get(ctx, n.opts.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get node %s: %w", n.opts.Name, err)
	}
	now := metav1.Now()
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              n.opts.CPU,
		corev1.ResourceMemory:           n.opts.Memory,
		corev1.ResourcePods:             *resource.NewQuantity(n.opts.Pods, resource.DecimalSI),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	condition := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		c := corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
		for _, old := range node.Status.Conditions {
			if old.Type == t && old.Status == s {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
		return c
	}
	node.Status.Capacity = capacity
	node.Status.Allocatable = capacity
	node.Status.Phase = corev1.NodeRunning
	node.Status.Conditions = []corev1.NodeCondition{
		condition(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "local node is running pods as processes (test only)"),
		condition(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "not measured by the local node"),
		condition(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "not measured by the local node"),
		condition(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "not measured by the local node"),
	}
	node.Status.Addresses = []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: n.network.gateway.String()},
		{Type: corev1.NodeHostName, Address: n.opts.Name},
	}
	node.Status.NodeInfo = corev1.NodeSystemInfo{
		OperatingSystem:         runtime.GOOS,
		Architecture:            runtime.GOARCH,
		OSImage:                 "spansink local node (test only)",
		KubeletVersion:          "v1.37.2",
		ContainerRuntimeVersion: "localnode://processes",
	}
	if _, err := n.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update status of node %s: %w", n.opts.Name, err)
	}
	return nil
}

// renewLease keeps the node's heartbeat Lease fresh, which the node
// lifecycle controller reads to decide that the node is alive.
func (n *Node) renewLease(ctx context.Context) error {
	leases := n.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	lease, err := leases.Get(ctx, n.opts.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node, err := n.client.CoreV1().Nodes().Get(ctx, n.opts.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("get node %s: %w", n.opts.Name, err)
		}
		lease = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{
				Name:      n.opts.Name,
				Namespace: corev1.NamespaceNodeLease,
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID,
				}},
			},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(n.opts.Name),
				LeaseDurationSeconds: ptr.To(int32(leaseDuration / time.Second)),
				RenewTime:            &now,
			},
		}
		if _, err := leases.Create(ctx, lease, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create lease of node %s: %w", n.opts.Name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get lease of node %s: %w", n.opts.Name, err)
	}
	lease.Spec.RenewTime = &now
	if _, err := leases.Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("renew lease of node %s: %w", n.opts.Name, err)
	}
	return nil
}

// fileDigest names an image by its binary's content, as a registry digest would.
func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("open binary: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash binary %s: %w", path, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
