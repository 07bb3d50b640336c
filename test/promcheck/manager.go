package promcheck

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/spansink/spansink/test/collectorproc"
)

var (
	managerOnce    sync.Mutex
	managerCatalog *Catalog
)

// repoRoot is the checkout this file is in, for config/.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// ManagerCatalog returns the catalog of a real `spansink manager` process:
// the binary (collectorproc builds it) run against envtest's API server and
// etcd with the SpanSink CRD, given config/samples' SpanSink to reconcile,
// and scraped once its controller has reconciled, so that controller-
// runtime's reconcile and work queue series of the spansink controller are
// in it. It serves its metrics over plain HTTP here (--metrics-secure=false):
// the series are the same as over HTTPS, and the test is not about
// authentication (controllers/manager's tests are). It needs
// KUBEBUILDER_ASSETS; without it the test is skipped, or fails in CI.
func ManagerCatalog(tb testing.TB) Catalog {
	tb.Helper()
	managerOnce.Lock()
	defer managerOnce.Unlock()
	if managerCatalog == nil {
		if os.Getenv("KUBEBUILDER_ASSETS") == "" {
			if os.Getenv("CI") == "true" {
				tb.Fatal("KUBEBUILDER_ASSETS is not set (make test sets it)")
			}
			tb.Skip(`KUBEBUILDER_ASSETS is not set: export KUBEBUILDER_ASSETS="$(hack/control-plane.sh etcd kube-apiserver | tail -n1)"`)
		}
		c, err := scrapeReconcilingManager(tb)
		if err != nil {
			tb.Fatal(err)
		}
		managerCatalog = &c
	}
	return *managerCatalog
}

var spanSinkResource = schema.GroupVersionResource{Group: "tracing.spansink.dev", Version: "v1alpha1", Resource: "spansinks"}

func scrapeReconcilingManager(tb testing.TB) (Catalog, error) {
	tb.Helper()
	bin := collectorproc.Binary(tb)
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		return Catalog{}, fmt.Errorf("start envtest: %w", err)
	}
	tb.Cleanup(func() {
		if err := env.Stop(); err != nil {
			tb.Errorf("stop envtest: %v", err)
		}
	})
	admin, err := env.AddUser(envtest.User{Name: "promcheck-manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return Catalog{}, err
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return Catalog{}, err
	}
	work := tb.TempDir()
	kubeconfigFile := filepath.Join(work, "kubeconfig")
	if err := os.WriteFile(kubeconfigFile, kubeconfig, 0o600); err != nil {
		return Catalog{}, err
	}
	metricsAddr, err := freeLoopbackAddress()
	if err != nil {
		return Catalog{}, err
	}
	logPath := filepath.Join(work, "manager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return Catalog{}, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "manager", "--metrics-bind-address", metricsAddr, "--metrics-secure=false",
		"--health-probe-bind-address", "127.0.0.1:0", "--collector-image", "spansink:promcheck")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfigFile)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return Catalog{}, fmt.Errorf("start spansink manager: %w", err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	fail := func(err error) (Catalog, error) {
		return Catalog{}, fmt.Errorf("%w\nmanager log:\n%s", err, logTail(logPath))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fail(err)
	}
	if err := createSampleSpanSink(ctx, client); err != nil {
		return fail(err)
	}
	url := "http://" + metricsAddr + "/metrics"
	for {
		c, err := Scrape(url, nil)
		if err == nil && reconciled(c, "spansink") {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return fail(fmt.Errorf("the manager's metrics never showed a reconcile of the spansink controller (last scrape: %v)", err))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func createSampleSpanSink(ctx context.Context, client dynamic.Interface) error {
	raw, err := os.ReadFile(filepath.Join(repoRoot(), "config", "samples", "tracing_v1alpha1_spansink.yaml"))
	if err != nil {
		return err
	}
	sink := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(raw, &sink.Object); err != nil {
		return fmt.Errorf("read the sample SpanSink: %w", err)
	}
	if _, err := client.Resource(spanSinkResource).Namespace("default").Create(ctx, sink, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create the sample SpanSink: %w", err)
	}
	return nil
}

// reconciled reports whether controller-runtime counted a reconcile of the
// controller, whatever its result.
func reconciled(c Catalog, controller string) bool {
	family, ok := c.Families["controller_runtime_reconcile_total"]
	if !ok {
		return false
	}
	for _, m := range family.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "controller" && l.GetValue() == controller && m.GetCounter().GetValue() > 0 {
				return true
			}
		}
	}
	return false
}
