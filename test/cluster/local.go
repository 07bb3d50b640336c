package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/spansink/spansink/test/localnode"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// SpansinkImage describes the spansink container image to the local node
// as the project's Dockerfile builds it: the binary at
// /usr/local/bin/spansink as the entrypoint, run as distroless's nonroot
// user (65532). Keep the two in step.
func SpansinkImage(binary string) localnode.Image {
	return localnode.Image{
		Binary:     binary,
		Path:       "/usr/local/bin/spansink",
		Entrypoint: []string{"/usr/local/bin/spansink"},
		User:       65532,
		Group:      65532,
		Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	}
}

// LocalOptions configure a control plane with one local node.
type LocalOptions struct {
	Options
	// NodeName is the local node's name; default "spansink-local".
	NodeName string
	// Images are what the node runs, by image name.
	Images map[string]localnode.Image
	// Log receives the node's, provisioner's and proxy's logs.
	Log logr.Logger
	// VolumeSyncPeriod is how often the node projects changed ConfigMaps
	// and Secrets into running pods; zero is the kubelet's minute.
	VolumeSyncPeriod time.Duration
}

// Local is a control plane with a local node that runs pods as processes,
// a hostPath volume provisioner (the default StorageClass) and a service
// proxy standing in for kube-proxy.
type Local struct {
	*Cluster
	Node        *localnode.Node
	Provisioner *localnode.Provisioner
	Proxy       *localnode.ServiceProxy
	// VolumeDir holds the provisioned volumes' directories.
	VolumeDir string

	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
}

// StartLocal starts the control plane, then the node, the provisioner and
// the proxy. Its state (logs, pod roots, volumes) lives under opts.WorkDir.
func StartLocal(ctx context.Context, opts LocalOptions) (_ *Local, err error) {
	if opts.NodeName == "" {
		opts.NodeName = "spansink-local"
	}
	c, err := Start(ctx, opts.Options)
	if err != nil {
		return nil, err
	}
	l := &Local{Cluster: c, VolumeDir: filepath.Join(opts.WorkDir, "volumes")}
	defer func() {
		if err != nil {
			err = errors.Join(err, l.Stop())
		}
	}()
	nodeConfig, err := c.AddUser("system:node:"+opts.NodeName, []string{"system:masters"})
	if err != nil {
		return nil, err
	}
	stateDir := filepath.Join(opts.WorkDir, "node")
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("node state directory: %w", err)
	}
	if l.Node, err = localnode.New(nodeConfig, localnode.Options{
		Name: opts.NodeName, Images: opts.Images, StateDir: stateDir, Log: opts.Log.WithName("localnode"),
		VolumeSyncPeriod: opts.VolumeSyncPeriod,
	}); err != nil {
		return nil, err
	}
	if l.Provisioner, err = localnode.NewProvisioner(nodeConfig, l.VolumeDir, opts.NodeName, opts.Log); err != nil {
		return nil, err
	}
	if l.Proxy, err = localnode.NewServiceProxy(nodeConfig, opts.Log); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.run(runCtx, "local node", l.Node.Run)
	l.run(runCtx, "volume provisioner", l.Provisioner.Run)
	l.run(runCtx, "service proxy", l.Proxy.Run)
	if err := l.waitUsable(ctx, opts.NodeName); err != nil {
		return nil, err
	}
	opts.Logf("local node %s running, pods get IPs from %s", opts.NodeName, l.Node.PodCIDR())
	return l, nil
}

// waitUsable waits until the Node reports Ready and the default
// StorageClass exists, so that what is applied next is scheduled and
// provisioned, and reports the first failure of a component instead.
func (l *Local) waitUsable(ctx context.Context, nodeName string) error {
	client, err := kubernetes.NewForConfig(l.Config)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		l.mu.Lock()
		failed := errors.Join(l.errs...)
		l.mu.Unlock()
		if failed != nil {
			return failed
		}
		node, nodeErr := client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		_, classErr := client.StorageV1().StorageClasses().Get(ctx, localnode.StorageClassName, metav1.GetOptions{})
		if nodeErr == nil && classErr == nil && nodeReady(node) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("local node %s not ready with storage class %s: %w (node: %v, class: %v)",
				nodeName, localnode.StorageClassName, ctx.Err(), nodeErr, classErr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (l *Local) run(ctx context.Context, name string, fn func(context.Context) error) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if err := fn(ctx); err != nil {
			l.mu.Lock()
			l.errs = append(l.errs, fmt.Errorf("%s: %w", name, err))
			l.mu.Unlock()
		}
	}()
}

// Stop stops the node (and so its pods, gracefully), the provisioner and
// the proxy, then the control plane.
func (l *Local) Stop() error {
	if l.cancel != nil {
		l.cancel()
		l.wg.Wait()
		l.cancel = nil
	}
	l.mu.Lock()
	errs := append([]error{}, l.errs...)
	l.mu.Unlock()
	return errors.Join(append(errs, l.Cluster.Stop())...)
}
