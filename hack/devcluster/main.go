// Command devcluster is what `make run` runs. With a kubeconfig whose
// cluster answers, it installs the SpanSink CRD there and runs the operator
// against it. Otherwise, as root, it brings up a whole local cluster
// (package internal/devcluster, driven from local.go): the control plane
// with kube-controller-manager and kube-scheduler, a local node that runs
// collector pods as processes of a freshly built spansink binary, a volume
// provisioner and a service proxy; then the operator and the sample
// SpanSink, and prints how to send spans and where they land. Without root it falls back to an API server alone
// (etcd and kube-apiserver built by hack/control-plane.sh), where SpanSinks
// get their objects but no pod runs. Everything stops on Ctrl-C.
//
// Usage: go run ./hack/devcluster [manager flags...]
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spansink/spansink/cmd/manager"
	"github.com/spansink/spansink/internal/devcluster/controlplane"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// crdDir is where `make manifests` writes the CRD, relative to the checkout.
var crdDir = filepath.Join("config", "crd", "bases")

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster:", err)
		os.Exit(1)
	}
}

func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[devcluster] "+format+"\n", args...)
}

func run(managerArgs []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, where, err := reachableCluster()
	if err == nil {
		say("the current kubeconfig reaches a cluster at %s (%s)", cfg.Host, where)
		if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{crdDir}, ErrorIfPathMissing: true}); err != nil {
			return fmt.Errorf("install the SpanSink CRD: %w", err)
		}
		say("SpanSink CRD installed; starting the operator (Ctrl-C stops it)")
		return runManager(ctx, managerArgs)
	}
	say("no reachable cluster in the current kubeconfig (%v)", err)
	if os.Geteuid() == 0 {
		return runLocal(ctx, managerArgs)
	}
	say("not running as root, so no local node: it needs root for network namespaces, bind mounts and chroots")
	say("starting an API server alone instead: SpanSinks get their objects, but no collector pod runs and no span is stored")
	say("for the whole thing (collector pods, OTLP endpoints on localhost, span files), run `sudo make run`")
	return runAPIServerOnly(ctx, managerArgs)
}

// runAPIServerOnly runs the operator against etcd and kube-apiserver alone.
func runAPIServerOnly(ctx context.Context, managerArgs []string) error {
	assets, err := controlPlaneBinaries(ctx)
	if err != nil {
		return err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{crdDir},
		ErrorIfCRDPathMissing: true,
	}
	// Stopped also when Start fails: it may fail after etcd and the API
	// server are up (installing the CRD), and leaves them running.
	_, startErr := env.Start()
	defer func() {
		say("stopping the embedded control plane")
		if err := env.Stop(); err != nil {
			say("stop the embedded control plane: %v", err)
		}
	}()
	if startErr != nil {
		return fmt.Errorf("start the embedded control plane: %w", startErr)
	}

	kubeconfig, err := writeKubeconfig(env)
	if err != nil {
		return err
	}
	say("embedded control plane is up with the SpanSink CRD installed")
	say("it runs no scheduler or kubelet: SpanSinks get their Deployment, Service, ConfigMap, claim and ServiceAccount, but no pods start")
	say("its state lives only as long as this process")
	fmt.Print(nextSteps(kubeconfig))
	if err := os.Setenv("KUBECONFIG", kubeconfig); err != nil {
		return fmt.Errorf("set KUBECONFIG: %w", err)
	}
	say("starting the operator (Ctrl-C stops it and the control plane)")
	return runManager(ctx, managerArgs)
}

// nextSteps is what to type in another shell to use the embedded control
// plane. config/samples is a kustomization, so it is applied with -k: -f
// would send kustomization.yaml itself to the API server, which refuses it.
func nextSteps(kubeconfig string) string {
	return fmt.Sprintf("\nIn another shell:\n\n    export KUBECONFIG=%s\n    kubectl apply -k config/samples\n    kubectl get spansinks,deploy,svc,cm,pvc\n\n", kubeconfig)
}

// reachableCluster loads the kubeconfig kubectl would use and asks the
// server for its version, so a stale kubeconfig does not count.
func reachableCluster() (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
	cfg, err := loader.ClientConfig()
	if err != nil {
		return nil, "", err
	}
	probe := rest.CopyConfig(cfg)
	probe.Timeout = 5 * time.Second
	client, err := discovery.NewDiscoveryClientForConfig(probe)
	if err != nil {
		return nil, "", err
	}
	if _, err := client.ServerVersion(); err != nil {
		return nil, "", fmt.Errorf("%s does not answer: %w", cfg.Host, err)
	}
	where := "KUBECONFIG"
	if os.Getenv("KUBECONFIG") == "" {
		where = rules.GetDefaultFilename()
	}
	return cfg, where, nil
}

// controlPlaneBinaries returns the directory with etcd and kube-apiserver:
// $KUBEBUILDER_ASSETS if set, else what hack/control-plane.sh builds (once;
// later runs find them in its cache).
func controlPlaneBinaries(ctx context.Context) (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	say("building or locating etcd and kube-apiserver with hack/control-plane.sh (the first build takes several minutes)")
	root, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	return controlplane.Binaries(ctx, root, os.Stderr, "etcd", "kube-apiserver")
}

// writeKubeconfig gives kubectl an admin user on the embedded control plane.
func writeKubeconfig(env *envtest.Environment) (string, error) {
	user, err := env.AddUser(envtest.User{Name: "spansink-dev", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("add an admin user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", fmt.Errorf("render kubeconfig: %w", err)
	}
	return saveKubeconfig(data)
}

// saveKubeconfig writes a kubeconfig to the one place both modes use, so
// that `export KUBECONFIG=...` stays the same from run to run.
func saveKubeconfig(data []byte) (string, error) {
	dir, err := cacheDir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "devcluster", "kubeconfig")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create kubeconfig directory: %w", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return "", fmt.Errorf("write kubeconfig: %w", err)
	}
	return path, nil
}

// cacheDir is the cache hack/control-plane.sh uses too.
func cacheDir() (string, error) {
	if dir := os.Getenv("SPANSINK_CACHE_DIR"); dir != "" {
		return dir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find a cache directory (set SPANSINK_CACHE_DIR): %w", err)
	}
	return filepath.Join(base, "spansink"), nil
}

func runManager(ctx context.Context, args []string) error {
	cmd := manager.NewCommand()
	cmd.SetArgs(args)
	return cmd.ExecuteContext(ctx)
}
