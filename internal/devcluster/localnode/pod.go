package localnode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
)

// stopKind says why a pod stops.
type stopKind int

const (
	stopNone stopKind = iota
	// stopDelete: the pod has a deletion timestamp; when its processes are
	// gone, the node deletes the object, as the kubelet does.
	stopDelete
	// stopShutdown: the node is going away; the pod object stays.
	stopShutdown
	// stopForced: the object is already gone from the API server.
	stopForced
)

func (k stopKind) String() string {
	return [...]string{"none", "deleted", "node shutdown", "forced"}[k]
}

// retryInterval is how soon volume and sandbox set-up is retried.
const retryInterval = 2 * time.Second

// podRunner runs one pod: its volumes, network namespace and containers,
// and reports its status.
type podRunner struct {
	node *Node
	uid  types.UID
	dir  string

	changed chan struct{}
	stopped chan struct{}

	mu         sync.Mutex
	pod        *corev1.Pod
	stop       stopKind
	stopGrace  time.Duration
	refused    string
	waiting    string // reason while the pod's sandbox or volumes are not ready
	waitingMsg string
	net        *podNetwork
	apiForward *apiServerForwarder
	// serviceEnv is the `kubernetes` Service's variables, which every
	// container gets.
	serviceEnv   []corev1.EnvVar
	containers   []*containerRunner
	startTime    metav1.Time
	lastStatus   *corev1.PodStatus
	lastEventMsg string
}

func newPodRunner(n *Node, pod *corev1.Pod) *podRunner {
	return &podRunner{
		node:      n,
		uid:       pod.UID,
		dir:       filepath.Join(n.opts.StateDir, "pods", string(pod.UID)),
		pod:       pod,
		changed:   make(chan struct{}, 1),
		stopped:   make(chan struct{}),
		startTime: metav1.Now(),
		waiting:   "ContainerCreating",
	}
}

// update takes a newer version of the pod; a deletion timestamp starts the
// graceful stop.
func (p *podRunner) update(pod *corev1.Pod) {
	p.mu.Lock()
	p.pod = pod
	p.mu.Unlock()
	if pod.DeletionTimestamp != nil {
		p.requestStop(stopDelete, p.gracePeriod())
	}
}

// gracePeriod is the pod's deletion grace period, else its spec's, else 30s.
func (p *podRunner) gracePeriod() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pod.DeletionGracePeriodSeconds != nil {
		return time.Duration(*p.pod.DeletionGracePeriodSeconds) * time.Second
	}
	if p.pod.Spec.TerminationGracePeriodSeconds != nil {
		return time.Duration(*p.pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

// requestStop starts stopping the pod; the first request decides the grace
// period, except that a forced stop always wins.
func (p *podRunner) requestStop(kind stopKind, grace time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.stop == stopNone:
		p.stop, p.stopGrace = kind, grace
		close(p.stopped)
	case kind == stopForced:
		p.stop, p.stopGrace = kind, 0
	default:
		return
	}
	for _, c := range p.containers {
		c.requestStop(p.stopGrace)
	}
}

// notify asks the status loop to report the pod's status again.
func (p *podRunner) notify() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

func (p *podRunner) current() *corev1.Pod {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pod
}

func (p *podRunner) pid(container string) int {
	for _, c := range p.containers {
		if c.spec.Name == container {
			return c.currentPID()
		}
	}
	return 0
}

func (p *podRunner) logPath(container string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.containers {
		if c.spec.Name == container {
			return c.currentLogPath()
		}
	}
	return ""
}

// run is the pod's whole life on the node.
func (p *podRunner) run(ctx context.Context) {
	pod := p.current()
	log := p.node.log.WithValues("pod", pod.Namespace+"/"+pod.Name)
	volumesSynced := make(chan struct{})
	if why := p.node.unsupported(pod); len(why) > 0 {
		p.refuse(strings.Join(why, "; "))
		close(volumesSynced)
	} else if p.setUp(ctx) {
		p.startContainers()
		go func() {
			defer close(volumesSynced)
			p.syncVolumes(ctx)
		}()
	} else {
		close(volumesSynced)
	}
	p.reportStatus()

	for done := false; !done; {
		select {
		case <-p.changed:
			p.reportStatus()
		case <-p.stopped:
			done = true
		}
	}
	// No refresh may write into the volumes tearDown removes.
	<-volumesSynced
	p.tearDown()

	p.mu.Lock()
	kind := p.stop
	p.mu.Unlock()
	if kind == stopDelete {
		p.reportStatus()
		p.node.deletePodObject(context.Background(), pod.Namespace, pod.Name, pod.UID)
	}
	log.Info("pod stopped", "reason", kind)
}

// refuse records why the pod cannot run here; it stays Pending.
func (p *podRunner) refuse(why string) {
	pod := p.current()
	p.mu.Lock()
	p.refused = why
	p.mu.Unlock()
	p.node.log.Info("refusing pod", "pod", pod.Namespace+"/"+pod.Name, "why", why)
	p.node.recorder.Event(pod, corev1.EventTypeWarning, ReasonUnsupported, "the local node cannot run this pod faithfully: "+why)
}

// setUp prepares volumes and the network namespace, retrying what may
// succeed later (a ConfigMap not created yet, a claim not bound yet), and
// reports false when the pod was refused or stopped meanwhile.
func (p *podRunner) setUp(ctx context.Context) bool {
	for {
		err := p.trySetUp(ctx)
		if err == nil {
			return true
		}
		if errors.Is(err, errPermanent) {
			p.refuse(err.Error())
			return false
		}
		p.mu.Lock()
		repeated := p.lastEventMsg == err.Error()
		p.lastEventMsg = err.Error()
		p.waitingMsg = err.Error()
		p.mu.Unlock()
		if !repeated {
			p.node.recorder.Event(p.current(), corev1.EventTypeWarning, "FailedMount", err.Error())
			p.reportStatus()
		}
		select {
		case <-p.stopped:
			return false
		case <-ctx.Done():
			return false
		case <-time.After(retryInterval):
		}
	}
}

func (p *podRunner) trySetUp(ctx context.Context) error {
	pod := p.current()
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return fmt.Errorf("pod directory: %w", err)
	}
	volumes, err := p.node.prepareVolumes(ctx, pod, p.dir)
	if err != nil {
		return err
	}
	mounts := make([][]bindMount, len(pod.Spec.Containers))
	for i := range pod.Spec.Containers {
		if mounts[i], err = containerMounts(&pod.Spec.Containers[i], volumes); err != nil {
			return err
		}
	}
	apiService, err := p.node.kubernetesService(ctx)
	if err != nil {
		return err
	}
	netw, err := p.node.network.setup()
	if err != nil {
		return fmt.Errorf("pod sandbox: %w", err)
	}
	log := p.node.log.WithValues("pod", pod.Namespace+"/"+pod.Name)
	forward, err := netw.forwardAPIServer(apiService, p.node.apiServer, func(err error) { log.Error(err, "forward to the API server") })
	if err != nil {
		return errors.Join(fmt.Errorf("pod sandbox: %w", err), netw.teardown())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.net = netw
	p.apiForward = forward
	p.serviceEnv = serviceEnv(apiService)
	p.waiting, p.waitingMsg = "", ""
	for i := range pod.Spec.Containers {
		p.containers = append(p.containers, newContainerRunner(p, i, mounts[i]))
	}
	return nil
}

// startContainers starts each container's supervisor; a stop requested
// meanwhile reaches them through requestStop.
func (p *podRunner) startContainers() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.containers {
		if p.stop != stopNone {
			c.requestStop(p.stopGrace)
		}
		go c.supervise()
	}
}

// tearDown waits for every container to stop, then removes the sandbox.
func (p *podRunner) tearDown() {
	p.mu.Lock()
	// A forced stop may still change the grace period under the lock.
	containers, grace := p.containers, p.stopGrace
	p.mu.Unlock()
	pod := p.current()
	if len(containers) > 0 {
		p.node.recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Stopping pod with grace period %s", grace)
	}
	for _, c := range containers {
		<-c.done
	}
	if p.apiForward != nil {
		p.apiForward.close()
	}
	p.node.tokens.forget(p.uid)
	if p.net != nil {
		if err := p.net.teardown(); err != nil {
			p.node.log.Error(err, "remove pod network", "pod", pod.Namespace+"/"+pod.Name)
		}
	}
	// Projected volumes go with the pod; claims are not under p.dir.
	if remaining, err := mountsBelow(p.dir); err == nil && len(remaining) == 0 {
		if err := os.RemoveAll(p.dir); err != nil {
			p.node.log.Error(err, "remove pod directory", "pod", pod.Namespace+"/"+pod.Name)
		}
	}
}

// reportStatus writes the pod's status when it differs from what was last
// written.
func (p *podRunner) reportStatus() {
	p.mu.Lock()
	if p.stop == stopForced {
		p.mu.Unlock()
		return
	}
	pod := p.pod
	p.mu.Unlock()
	status := p.computeStatus(pod.Status)
	p.mu.Lock()
	unchanged := p.lastStatus != nil && equality.Semantic.DeepEqual(*p.lastStatus, status)
	p.mu.Unlock()
	if unchanged {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pods := p.node.client.CoreV1().Pods(pod.Namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		latest, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if latest.UID != pod.UID {
			return apierrors.NewNotFound(corev1.Resource("pods"), pod.Name)
		}
		latest.Status = p.computeStatus(latest.Status)
		_, err = pods.UpdateStatus(ctx, latest, metav1.UpdateOptions{})
		return err
	})
	switch {
	case err == nil:
		p.mu.Lock()
		p.lastStatus = &status
		p.mu.Unlock()
	case apierrors.IsNotFound(err):
	default:
		p.node.log.Error(err, "update pod status", "pod", pod.Namespace+"/"+pod.Name)
	}
}
