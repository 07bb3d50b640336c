// Package devcluster is the small Kubernetes cluster `make run` brings up on
// this machine, and the e2e suite runs on: the control plane of package
// controlplane with one node of package localnode, which runs pods as local
// processes, its hostPath volume provisioner (the default StorageClass) and
// its service proxy standing in for kube-proxy. It needs no Docker or kind,
// but root (see package localnode), and is for development and tests only.
package devcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/spansink/spansink/cmd/collector"
	"github.com/spansink/spansink/internal/devcluster/controlplane"
	"github.com/spansink/spansink/internal/devcluster/localnode"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// SpansinkImage describes the spansink container image to the local node
// as the project's Dockerfile builds it: the binary at
// /usr/local/bin/spansink as the entrypoint, the collector's own binary
// (which BuildSpansink puts beside binary) next to it, run as distroless's
// nonroot user (65532). Keep the two in step.
func SpansinkImage(binary string) localnode.Image {
	return localnode.Image{
		Binary:     binary,
		Path:       "/usr/local/bin/spansink",
		Files:      map[string]string{"/usr/local/bin/" + collector.BinaryName: collectorBinary(binary)},
		Entrypoint: []string{"/usr/local/bin/spansink"},
		User:       65532,
		Group:      65532,
		Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	}
}

// Options configure a control plane with one local node.
type Options struct {
	controlplane.Options
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

// Cluster is a control plane with a local node that runs pods as processes,
// a hostPath volume provisioner (the default StorageClass) and a service
// proxy standing in for kube-proxy.
type Cluster struct {
	*controlplane.Cluster
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

// Start starts the control plane, then the node, the provisioner and the
// proxy. Its state (logs, pod roots, volumes) lives under opts.WorkDir.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if opts.NodeName == "" {
		opts.NodeName = "spansink-local"
	}
	cp, err := controlplane.Start(ctx, opts.Options)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Cluster: cp, VolumeDir: filepath.Join(opts.WorkDir, "volumes")}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Stop())
		}
	}()
	nodeConfig, err := cp.AddUser("system:node:"+opts.NodeName, []string{"system:masters"})
	if err != nil {
		return nil, err
	}
	stateDir := filepath.Join(opts.WorkDir, "node")
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("node state directory: %w", err)
	}
	if c.Node, err = localnode.New(nodeConfig, localnode.Options{
		Name: opts.NodeName, Images: opts.Images, StateDir: stateDir, Log: opts.Log.WithName("localnode"),
		VolumeSyncPeriod: opts.VolumeSyncPeriod,
	}); err != nil {
		return nil, err
	}
	if c.Provisioner, err = localnode.NewProvisioner(nodeConfig, c.VolumeDir, opts.NodeName, opts.Log); err != nil {
		return nil, err
	}
	if c.Proxy, err = localnode.NewServiceProxy(nodeConfig, opts.Log); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.run(runCtx, "local node", c.Node.Run)
	c.run(runCtx, "volume provisioner", c.Provisioner.Run)
	c.run(runCtx, "service proxy", c.Proxy.Run)
	if err := c.waitUsable(ctx, opts.NodeName); err != nil {
		return nil, err
	}
	opts.Logf("local node %s running, pods get IPs from %s", opts.NodeName, c.Node.PodCIDR())
	return c, nil
}

// waitUsable waits until the Node reports Ready and the default
// StorageClass exists, so that what is applied next is scheduled and
// provisioned, and reports the first failure of a component instead.
func (c *Cluster) waitUsable(ctx context.Context, nodeName string) error {
	client, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		c.mu.Lock()
		failed := errors.Join(c.errs...)
		c.mu.Unlock()
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

func (c *Cluster) run(ctx context.Context, name string, fn func(context.Context) error) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := fn(ctx); err != nil {
			c.mu.Lock()
			c.errs = append(c.errs, fmt.Errorf("%s: %w", name, err))
			c.mu.Unlock()
		}
	}()
}

// Stop stops the node (and so its pods, gracefully), the provisioner and
// the proxy, then the control plane.
func (c *Cluster) Stop() error {
	if c.cancel != nil {
		c.cancel()
		c.wg.Wait()
		c.cancel = nil
	}
	c.mu.Lock()
	errs := append([]error{}, c.errs...)
	c.mu.Unlock()
	return errors.Join(append(errs, c.Cluster.Stop())...)
}
