package localnode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Crash back-off, the kubelet's: 10s doubling up to 5m, forgotten after a
// container ran for 10m.
const (
	backoffInitial = 10 * time.Second
	backoffMax     = 5 * time.Minute
	backoffReset   = 10 * time.Minute
)

// containerRunner runs one container of a pod as a process, restarting it
// per the pod's restartPolicy.
type containerRunner struct {
	pod    *podRunner
	spec   corev1.Container
	image  Image
	mounts []bindMount
	done   chan struct{}
	stopCh chan struct{}
	// shortened wakes a kill in progress when a later stop request
	// shortens the grace period (a force deletion after a graceful one).
	shortened chan struct{}

	mu        sync.Mutex
	stopGrace time.Duration
	stopping  bool
	state     corev1.ContainerState
	lastState corev1.ContainerState
	restarts  int32
	ready     bool
	started   bool
	runID     string
	logFile   string
	// pid is the running process's, 0 while none runs.
	pid int
}

func newContainerRunner(p *podRunner, index int, mounts []bindMount) *containerRunner {
	spec := p.pod.Spec.Containers[index]
	return &containerRunner{
		pod:       p,
		spec:      spec,
		image:     p.node.opts.Images[spec.Image],
		mounts:    mounts,
		done:      make(chan struct{}),
		stopCh:    make(chan struct{}),
		shortened: make(chan struct{}, 1),
		state:     corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}},
	}
}

// requestStop makes the supervisor stop the process (SIGTERM, SIGKILL after
// grace) and not restart it. A later, shorter grace period still applies.
func (c *containerRunner) requestStop(grace time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		if grace < c.stopGrace {
			c.stopGrace = grace
			select {
			case c.shortened <- struct{}{}:
			default: // a wake-up is already pending; it reads the new grace
			}
		}
		return
	}
	c.stopping, c.stopGrace = true, grace
	close(c.stopCh)
}

func (c *containerRunner) grace() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopGrace
}

func (c *containerRunner) currentPID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pid
}

func (c *containerRunner) currentLogPath() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.logFile
}

// setState records a new state and asks for a status report.
func (c *containerRunner) setState(update func()) {
	c.mu.Lock()
	update()
	c.mu.Unlock()
	c.pod.notify()
}

// supervise runs the container until it is stopped or, per restartPolicy,
// not to be restarted.
func (c *containerRunner) supervise() {
	defer close(c.done)
	pod := c.pod.current()
	failures := 0
	for {
		select {
		case <-c.stopCh:
			return
		default:
		}
		began := time.Now()
		exitCode, err := c.runOnce(pod)
		if err != nil {
			c.pod.node.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: container %s: %v", c.spec.Name, err)
			c.setState(func() {
				c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerError", Message: err.Error()}}
			})
		}
		select {
		case <-c.stopCh:
			return
		default:
		}
		restart := pod.Spec.RestartPolicy == corev1.RestartPolicyAlways ||
			(pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure && (err != nil || exitCode != 0))
		if !restart {
			<-c.stopCh
			return
		}
		if time.Since(began) > backoffReset {
			failures = 0
		}
		delay := backoffInitial << min(failures, 5)
		delay = min(delay, backoffMax)
		failures++
		c.pod.node.recorder.Eventf(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s", c.spec.Name)
		c.setState(func() {
			if c.state.Terminated != nil {
				c.lastState = c.state
			}
			c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
				Reason:  "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", delay, c.spec.Name, pod.Name),
			}}
		})
		select {
		case <-c.stopCh:
			return
		case <-time.After(delay):
		}
		c.setState(func() { c.restarts++ })
	}
}

// runOnce builds the container's root, starts its process, runs its probes
// and waits for it to exit, be killed by a failed probe, or be stopped.
func (c *containerRunner) runOnce(pod *corev1.Pod) (int, error) {
	node := c.pod.node
	c.mu.Lock()
	runID := fmt.Sprintf("%s-%s-%d", pod.UID, c.spec.Name, c.restarts)
	c.runID = runID
	logDir := filepath.Join(node.opts.StateDir, "logs", fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID), c.spec.Name)
	c.logFile = filepath.Join(logDir, fmt.Sprintf("%d.log", c.restarts))
	logFile := c.logFile
	c.mu.Unlock()

	id, err := node.identity(pod, &c.spec)
	if err != nil {
		return 0, err
	}
	podIP := c.pod.net.ip.String()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	env, err := node.environment(ctx, pod, &c.spec, podIP, c.pod.serviceEnv)
	cancel()
	if err != nil {
		return 0, err
	}
	root, err := buildRootfs(filepath.Join(c.pod.dir, "containers", c.spec.Name), c.image, readOnlyRoot(&c.spec), c.mounts)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err := root.teardown(); err != nil {
			node.log.Error(err, "remove container root", "pod", pod.Namespace+"/"+pod.Name, "container", c.spec.Name)
		}
	}()
	argv, err := c.commandLine(env, root)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return 0, fmt.Errorf("log directory: %w", err)
	}
	out, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("container log: %w", err)
	}
	defer out.Close()

	groups := make([]uint32, 0, len(id.groups))
	for _, g := range id.groups {
		groups = append(groups, uint32(g))
	}
	workDir := c.spec.WorkingDir
	if workDir == "" {
		workDir = "/"
	}
	cmd := &exec.Cmd{
		Path:   argv[0],
		Args:   argv,
		Env:    env,
		Dir:    workDir,
		Stdout: out,
		Stderr: out,
		SysProcAttr: &syscall.SysProcAttr{
			Chroot:     root.dir,
			Credential: &syscall.Credential{Uid: uint32(id.uid), Gid: uint32(id.gid), Groups: groups},
			Setpgid:    true,
			// If the node dies, its containers die with it rather than
			// outliving the test that started them.
			Pdeathsig: syscall.SIGKILL,
		},
	}
	if err := c.pod.net.start(cmd); err != nil {
		return 0, fmt.Errorf("start %s: %w", strings.Join(argv, " "), err)
	}
	startedAt := metav1.Now()
	node.recorder.Eventf(pod, corev1.EventTypeNormal, "Started", "Started container %s", c.spec.Name)
	c.setState(func() {
		c.pid = cmd.Process.Pid
		c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: startedAt}}
		c.ready = false
		c.started = c.spec.StartupProbe == nil
	})
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	probeCtx, stopProbes := context.WithCancel(context.Background())
	killed := make(chan string, 1)
	c.startProbes(probeCtx, pod, podIP, killed)

	var waitErr error
	var killReason string
	select {
	case waitErr = <-exited:
	case killReason = <-killed:
		node.recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Container %s %s, will be restarted", c.spec.Name, killReason)
		waitErr = c.kill(cmd, exited, c.podGrace(pod))
	case <-c.stopCh:
		node.recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Stopping container %s", c.spec.Name)
		waitErr = c.kill(cmd, exited, c.grace())
	}
	stopProbes()
	c.mu.Lock()
	c.pid = 0
	c.mu.Unlock()
	code := exitCode(cmd, waitErr)
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	c.setState(func() {
		c.ready = false
		c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode:    int32(code),
			Reason:      reason,
			StartedAt:   startedAt,
			FinishedAt:  metav1.Now(),
			ContainerID: "localnode://" + runID,
		}}
	})
	return code, nil
}

// podGrace is the pod's terminationGracePeriodSeconds, used when a failed
// probe kills a container.
func (c *containerRunner) podGrace(pod *corev1.Pod) time.Duration {
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

// kill sends SIGTERM to the process, waits up to grace (or a shorter one
// a later stop request sets), then SIGKILLs its whole process group.
func (c *containerRunner) kill(cmd *exec.Cmd, exited <-chan error, grace time.Duration) error {
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		c.pod.node.log.Error(err, "signal container", "container", c.spec.Name)
	}
	deadline := time.Now().Add(grace)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	for {
		select {
		case err := <-exited:
			return err
		case <-c.shortened:
			if sooner := time.Now().Add(c.grace()); sooner.Before(deadline) {
				deadline = sooner
				timer.Reset(time.Until(deadline))
			}
		case <-timer.C:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			return <-exited
		}
	}
}

// exitCode is the process's exit status, 128+signal when a signal ended it,
// as container runtimes report it.
func exitCode(cmd *exec.Cmd, waitErr error) int {
	if cmd.ProcessState == nil {
		return 128
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return cmd.ProcessState.ExitCode()
}

// commandLine resolves the container's argv as the runtime would: command
// (else the image's entrypoint), args (else, without a command, the image's
// cmd), $(VAR) expanded, the executable found in the image's PATH when
// not absolute.
func (c *containerRunner) commandLine(env []string, root *rootfs) ([]string, error) {
	values := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		values[k] = v
	}
	lookup := func(name string) (string, bool) { v, ok := values[name]; return v, ok }
	command, args := c.spec.Command, c.spec.Args
	if len(command) == 0 {
		command = c.image.Entrypoint
		if len(args) == 0 {
			args = c.image.Cmd
		}
	}
	var argv []string
	for _, s := range append(append([]string{}, command...), args...) {
		argv = append(argv, expand(s, lookup))
	}
	if len(argv) == 0 {
		return nil, errors.New("no command: the container sets none and the image has no entrypoint")
	}
	if !strings.Contains(argv[0], "/") {
		for _, dir := range filepath.SplitList(values["PATH"]) {
			candidate := path.Join("/", dir, argv[0])
			if info, err := os.Stat(root.path(candidate)); err == nil && !info.IsDir() {
				argv[0] = candidate
				break
			}
		}
	}
	if info, err := os.Stat(root.path(argv[0])); err != nil || info.IsDir() {
		return nil, fmt.Errorf("executable %q not found in image %s", argv[0], c.spec.Image)
	}
	return argv, nil
}
