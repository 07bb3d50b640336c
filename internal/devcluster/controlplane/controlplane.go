// Package controlplane starts a real Kubernetes control plane on this
// machine, for `make run` and the e2e suite: etcd and kube-apiserver through
// controller-runtime's envtest, plus kube-controller-manager and
// kube-scheduler as processes of their own, all built from the Go module
// proxy by hack/control-plane.sh.
//
// envtest alone proves what is written to the API server; with the controller
// manager and the scheduler, Deployments become ReplicaSets and Pods, Pods are
// bound to a node, claims bind to volumes and garbage collection follows owner
// references. Package devcluster adds package localnode, which runs the bound
// pods, to make a small cluster without Docker or kind.
//
// Pods are admitted as in a cluster: the ServiceAccount admission plugin is
// on, so a pod that does not opt out gets a kube-api-access volume; the API
// server issues bound tokens (TokenRequest) signed with a key of this
// package's; the controller manager publishes the serving CA as the
// kube-root-ca.crt ConfigMap of every namespace; and the serving
// certificate names the `kubernetes` Service's cluster IP
// (KubernetesServiceIP) and kubernetes.default.svc, so that a pod's
// in-cluster client verifies it.
package controlplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Components are the control-plane binaries this package runs, in the order
// hack/control-plane.sh is asked to build them.
var Components = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}

// Options configure a Cluster.
type Options struct {
	// BinaryDir holds etcd, kube-apiserver, kube-controller-manager and
	// kube-scheduler, as printed by hack/control-plane.sh.
	BinaryDir string
	// WorkDir receives kubeconfigs, certificates and the component logs; it
	// must exist. Stop leaves it in place so that logs survive a failed run.
	// The API server's serving certificates and token signing key live in
	// a temporary directory of their own, which Stop removes.
	WorkDir string
	// CRDDirectoryPaths are installed once the API server is up.
	CRDDirectoryPaths []string
	// Logf receives progress messages; nil discards them.
	Logf func(format string, args ...any)
}

// Cluster is a running control plane.
type Cluster struct {
	// Env is the envtest environment that runs etcd and kube-apiserver.
	Env *envtest.Environment
	// Config is a system:masters client configuration.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file for Config, for kubectl.
	Kubeconfig string

	opts       Options
	components []*component
	logs       []io.Closer
	// certDir holds the API server's certificates and signing key; Stop
	// removes it.
	certDir string
	// envStarted is set once Env.Start has been called: a Start that fails
	// after etcd and the API server are up (the CRDs, the default
	// namespace) leaves them running, and only Env.Stop ends them.
	envStarted bool
}

// Start brings up etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler and waits until each reports healthy. On error everything
// already started is stopped again.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	for _, name := range Components {
		if _, statErr := os.Stat(filepath.Join(opts.BinaryDir, name)); statErr != nil {
			return nil, fmt.Errorf("control-plane binary %s: %w (build it with hack/control-plane.sh %s)", name, statErr, strings.Join(Components, " "))
		}
	}
	c := &Cluster{opts: opts}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Stop())
		}
	}()

	c.Env = &envtest.Environment{
		BinaryAssetsDirectory: opts.BinaryDir,
		CRDDirectoryPaths:     opts.CRDDirectoryPaths,
		ErrorIfCRDPathMissing: len(opts.CRDDirectoryPaths) > 0,
	}
	apiServer := c.Env.ControlPlane.GetAPIServer()
	// Certificates of our own, so that the serving certificate also names
	// the `kubernetes` Service's cluster IP, which pods dial (see certs.go).
	if c.certDir, err = os.MkdirTemp("", "spansink-apiserver-certs-"); err != nil {
		return nil, fmt.Errorf("API server certificate directory: %w", err)
	}
	if apiServer.SecureServing.CA, err = writeAPIServerCerts(c.certDir); err != nil {
		return nil, err
	}
	apiServer.CertDir = c.certDir
	apiServer.Configure().Set("service-cluster-ip-range", ServiceCIDR)
	// Tokens from the TokenRequest API, which the local node asks for a
	// pod's projected service-account token, are signed with this key and
	// verified with it (a private key file serves for both). envtest's
	// issuer (https://127.0.0.1:<port>/) stays, and the audiences default
	// to it.
	apiServer.Configure().Set("service-account-signing-key-file", filepath.Join(c.certDir, serviceAccountKey))
	apiServer.Configure().Set("service-account-key-file", filepath.Join(c.certDir, serviceAccountKey))
	// envtest turns the ServiceAccount admission plugin off because it runs no
	// controller that creates the default account. We run that controller, and
	// want pods admitted as in a real cluster (a token volume is added unless
	// the pod or its account opts out), so it stays on.
	apiServer.Configure().Set("disable-admission-plugins", "")
	apiLog, err := logFile(opts.WorkDir, "kube-apiserver.log")
	if err != nil {
		return nil, err
	}
	c.logs = append(c.logs, apiLog)
	apiServer.Out, apiServer.Err = apiLog, apiLog
	opts.Logf("starting etcd and kube-apiserver")
	c.envStarted = true
	if c.Config, err = c.Env.Start(); err != nil {
		return nil, fmt.Errorf("start etcd and kube-apiserver: %w", err)
	}

	if c.Kubeconfig, err = c.WriteKubeconfig("admin", []string{"system:masters"}); err != nil {
		return nil, err
	}
	controllerKubeconfig, err := c.WriteKubeconfig("kube-controller-manager", []string{"system:masters"})
	if err != nil {
		return nil, err
	}
	schedulerKubeconfig, err := c.WriteKubeconfig("system:kube-scheduler", nil)
	if err != nil {
		return nil, err
	}

	kcm, err := c.startComponent(ctx, "kube-controller-manager", func(port int, certDir string) []string {
		return []string{
			"--kubeconfig=" + controllerKubeconfig,
			"--authentication-kubeconfig=" + controllerKubeconfig,
			"--authorization-kubeconfig=" + controllerKubeconfig,
			// The legacy token controller fills Secrets of type
			// kubernetes.io/service-account-token, which nothing here uses:
			// pods get bound tokens from the TokenRequest API instead.
			"--controllers=*,-serviceaccount-token",
			// One identity for every controller, the admin's kubeconfig.
			"--use-service-account-credentials=false",
			// The root CA publisher puts this in the kube-root-ca.crt
			// ConfigMap of every namespace, which pods mount as ca.crt to
			// verify the API server. Without the flag it would publish the
			// kubeconfig's CA, the same file today; set it so that it stays
			// the serving CA.
			"--root-ca-file=" + filepath.Join(c.certDir, certificateAuthority),
			"--leader-elect=false",
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(port),
			"--cert-dir=" + certDir,
		}
	})
	if err != nil {
		return nil, err
	}
	c.components = append(c.components, kcm)

	sched, err := c.startComponent(ctx, "kube-scheduler", func(port int, certDir string) []string {
		return []string{
			"--kubeconfig=" + schedulerKubeconfig,
			"--authentication-kubeconfig=" + schedulerKubeconfig,
			"--authorization-kubeconfig=" + schedulerKubeconfig,
			"--leader-elect=false",
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(port),
			"--cert-dir=" + certDir,
		}
	})
	if err != nil {
		return nil, err
	}
	c.components = append(c.components, sched)
	return c, nil
}

// Stop terminates the controller manager, the scheduler, the API server and
// etcd, in that order.
func (c *Cluster) Stop() error {
	var errs []error
	for i := len(c.components) - 1; i >= 0; i-- {
		errs = append(errs, c.components[i].stop())
	}
	c.components = nil
	if c.envStarted {
		if err := c.Env.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop etcd and kube-apiserver: %w", err))
		}
		c.envStarted, c.Config = false, nil
	}
	for _, l := range c.logs {
		l.Close()
	}
	c.logs = nil
	if c.certDir != "" {
		if err := os.RemoveAll(c.certDir); err != nil {
			errs = append(errs, fmt.Errorf("remove API server certificates: %w", err))
		}
		c.certDir = ""
	}
	return errors.Join(errs...)
}

// AddUser returns a client configuration for a user in the given groups,
// authenticated by a client certificate the API server trusts.
func (c *Cluster) AddUser(name string, groups []string) (*rest.Config, error) {
	user, err := c.Env.AddUser(envtest.User{Name: name, Groups: groups}, &rest.Config{QPS: 100, Burst: 200})
	if err != nil {
		return nil, fmt.Errorf("add user %s: %w", name, err)
	}
	return user.Config(), nil
}

// LogPath is where a component's output goes: kube-apiserver,
// kube-controller-manager or kube-scheduler.
func (c *Cluster) LogPath(component string) string {
	return filepath.Join(c.opts.WorkDir, component+".log")
}

// WriteKubeconfig provisions a user in the given groups and writes a
// kubeconfig for it into the work directory, for kubectl or a process.
func (c *Cluster) WriteKubeconfig(name string, groups []string) (string, error) {
	user, err := c.Env.AddUser(envtest.User{Name: name, Groups: groups}, &rest.Config{QPS: 100, Burst: 200})
	if err != nil {
		return "", fmt.Errorf("add user %s: %w", name, err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", fmt.Errorf("kubeconfig for %s: %w", name, err)
	}
	path := filepath.Join(c.opts.WorkDir, strings.ReplaceAll(name, ":", "-")+".kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return "", fmt.Errorf("write kubeconfig for %s: %w", name, err)
	}
	return path, nil
}

// component is one control-plane process that this package started.
type component struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startComponent runs a binary with the flags args returns for a free port
// and waits until its /healthz answers ok.
func (c *Cluster) startComponent(ctx context.Context, name string, args func(port int, certDir string) []string) (*component, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	certDir := filepath.Join(c.opts.WorkDir, name+"-certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	out, err := logFile(c.opts.WorkDir, name+".log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(c.opts.BinaryDir, name), args(port, certDir)...)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that a terminal's Ctrl-C reaches only us
	// and we stop it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	c.opts.Logf("starting %s", name)
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	comp := &component{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		comp.err = cmd.Wait()
		out.Close()
		close(comp.done)
	}()
	if err := comp.waitHealthy(ctx, port); err != nil {
		return nil, errors.Join(fmt.Errorf("%w (log: %s)", err, c.LogPath(name)), comp.stop())
	}
	return comp, nil
}

// waitHealthy polls the component's /healthz until it answers 200.
func (comp *component) waitHealthy(ctx context.Context, port int) error {
	client := &http.Client{
		Timeout: 2 * time.Second,
		// The component serves a self-signed certificate of its own.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/healthz", port)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("%s health check: %w", comp.name, err)
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-comp.done:
			return fmt.Errorf("%s exited before it became healthy: %v", comp.name, comp.err)
		case <-ctx.Done():
			return fmt.Errorf("%s not healthy at %s: %w", comp.name, url, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and, if the process has not exited after ten seconds,
// SIGKILL.
func (comp *component) stop() error {
	select {
	case <-comp.done:
		return nil
	default:
	}
	if err := comp.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop %s: %w", comp.name, err)
	}
	select {
	case <-comp.done:
	case <-time.After(10 * time.Second):
		if err := comp.cmd.Process.Kill(); err != nil {
			return fmt.Errorf("kill %s: %w", comp.name, err)
		}
		<-comp.done
	}
	return nil
}

// freePort asks the kernel for a free port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logFile opens dir/name for a component's output, appending so that a
// restart in the same directory keeps the earlier run's lines.
func logFile(dir, name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log for %s: %w", name, err)
	}
	return f, nil
}
