//go:build e2e

// Package e2e runs SpanSinks end to end on a real control plane (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler) with a local node
// that runs the collector pods as processes of the freshly built spansink
// binary: `kubectl apply` a SpanSink, send spans, read them from the
// volume's files. The cluster is the one `make run` brings up, package
// internal/devcluster; see its package localnode for what the node does
// and does not do like a kubelet. The suite needs root.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	tracingv1alpha1 "github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/internal/devcluster"
	"github.com/spansink/spansink/internal/devcluster/controlplane"
	"github.com/spansink/spansink/internal/devcluster/localnode"
)

// collectorImage is the image name the operator gives collector pods and
// the local node runs as the spansink binary built for this suite.
const collectorImage = "spansink.dev/spansink:e2e"

// inClusterImage is the image name of the in-cluster client pods of the
// service-account spec, run as test/incluster built for this suite.
const inClusterImage = "spansink.dev/incluster:e2e"

// operatorUser is the identity the operator runs as, bound to the
// ClusterRole generated from its RBAC markers (config/rbac/role.yaml), so
// that a missing permission fails here as it would in a cluster.
const operatorUser = "spansink-operator"

// suite holds what BeforeSuite starts.
var suite struct {
	root         string
	work         string
	binary       string
	telemetrygen string
	kubectl      string
	// controlPlaneBin holds the control-plane binaries.
	controlPlaneBin string
	local           *devcluster.Cluster
	k8s             client.Client
	operator        *exec.Cmd
	operatorDone    chan error
	failed          bool
	log             *os.File
	// logger writes to log; an operator started again after a spec
	// stopped it logs there too.
	logger logr.Logger
}

// localNodeVolumeSync is how often the local node projects changed
// ConfigMaps and Secrets into running pods. A kubelet does it about once a
// minute; the suite waits less for a live change.
const localNodeVolumeSync = 2 * time.Second

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "spansink e2e")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	Expect(os.Geteuid()).To(Equal(0), "the e2e suite needs root: its local node creates network namespaces, bind mounts and chroots")
	var err error
	suite.root, err = filepath.Abs("../..")
	Expect(err).NotTo(HaveOccurred())
	suite.work, err = os.MkdirTemp("", "spansink-e2e-")
	Expect(err).NotTo(HaveOccurred())
	GinkgoWriter.Printf("e2e work directory (logs, volumes): %s\n", suite.work)
	suite.log, err = os.Create(filepath.Join(suite.work, "e2e.log"))
	Expect(err).NotTo(HaveOccurred())
	log := zap.New(zap.WriteTo(suite.log), zap.UseDevMode(true))
	suite.logger = log

	suite.kubectl = os.Getenv("KUBECTL")
	if suite.kubectl == "" {
		suite.kubectl, err = exec.LookPath("kubectl")
		Expect(err).NotTo(HaveOccurred(), "kubectl is needed to apply and patch like a user; set KUBECTL")
	}

	binDir := os.Getenv("SPANSINK_CONTROL_PLANE_BIN")
	if binDir == "" {
		binDir, err = controlplane.Binaries(ctx, suite.root, os.Stderr)
		Expect(err).NotTo(HaveOccurred())
	}
	suite.controlPlaneBin = binDir
	suite.binary = filepath.Join(suite.work, "bin", "spansink")
	Expect(devcluster.BuildSpansink(ctx, suite.root, suite.binary)).To(Succeed())
	inCluster := filepath.Join(suite.work, "bin", "incluster")
	run(ctx, suite.root, []string{"CGO_ENABLED=0"}, "go", "build", "-trimpath", "-o", inCluster, "./test/incluster")
	suite.telemetrygen = filepath.Join(suite.work, "bin", "telemetrygen")
	run(ctx, suite.root, nil, "go", "build", "-C", "hack/tools/telemetrygen", "-o", suite.telemetrygen,
		"github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen")

	suite.local, err = devcluster.Start(ctx, devcluster.Options{
		VolumeSyncPeriod: localNodeVolumeSync,
		Options: controlplane.Options{
			BinaryDir:         binDir,
			WorkDir:           suite.work,
			CRDDirectoryPaths: []string{filepath.Join(suite.root, "config", "crd", "bases")},
			Logf:              func(format string, args ...any) { GinkgoWriter.Printf(format+"\n", args...) },
		},
		Images: map[string]localnode.Image{
			collectorImage: devcluster.SpansinkImage(suite.binary),
			inClusterImage: {Binary: inCluster, Path: "/incluster", Entrypoint: []string{"/incluster"}, User: 65532, Group: 65532},
		},
		Log: log,
	})
	Expect(err).NotTo(HaveOccurred())

	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(tracingv1alpha1.AddToScheme(scheme)).To(Succeed())
	suite.k8s, err = client.New(suite.local.Config, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	startOperator(ctx, log)
}, NodeTimeout(15*time.Minute))

var _ = ReportAfterEach(func(report SpecReport) {
	if report.Failed() {
		suite.failed = true
	}
})

var _ = AfterSuite(func(_ SpecContext) {
	stopOperator()
	if suite.local != nil {
		Expect(suite.local.Stop()).To(Succeed())
	}
	if suite.log != nil {
		suite.log.Close()
	}
	if suite.failed || CurrentSpecReport().Failed() {
		GinkgoWriter.Printf("keeping %s for its logs\n", suite.work)
		return
	}
	Expect(os.RemoveAll(suite.work)).To(Succeed())
}, NodeTimeout(10*time.Minute))

// startOperator runs `spansink manager` from the built binary, as the
// operator user, with the ClusterRole generated from its RBAC markers. A
// spec that stopped it (stopOperator) starts it again with this.
func startOperator(ctx context.Context, log logr.Logger) {
	kubectl("apply", "-f", filepath.Join(suite.root, "config", "rbac", "role.yaml"))
	role := readClusterRoleName(filepath.Join(suite.root, "config", "rbac", "role.yaml"))
	Expect(client.IgnoreAlreadyExists(suite.k8s.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-spansink-operator"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: operatorUser}},
	}))).To(Succeed())
	kubeconfig, err := suite.local.WriteKubeconfig(operatorUser, nil)
	Expect(err).NotTo(HaveOccurred())
	out, err := os.Create(filepath.Join(suite.work, "operator.log"))
	Expect(err).NotTo(HaveOccurred())
	suite.operator = exec.Command(suite.binary, "manager",
		"--collector-image="+collectorImage,
		"--metrics-bind-address=0",
		"--health-probe-bind-address=127.0.0.1:0",
	)
	suite.operator.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	suite.operator.Stdout, suite.operator.Stderr = out, out
	suite.operator.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	Expect(suite.operator.Start()).To(Succeed())
	suite.operatorDone = make(chan error, 1)
	go func() {
		suite.operatorDone <- suite.operator.Wait()
		out.Close()
	}()
	log.Info("operator started", "pid", suite.operator.Process.Pid)
}

// stopOperator stops the operator process and waits for it to exit; it
// does nothing when none runs.
func stopOperator() {
	if suite.operator == nil || suite.operator.Process == nil {
		return
	}
	_ = suite.operator.Process.Signal(syscall.SIGTERM)
	select {
	case <-suite.operatorDone:
	case <-time.After(30 * time.Second):
		_ = suite.operator.Process.Kill()
		<-suite.operatorDone
	}
	// Its exit has been received: a second stop must not wait for another.
	suite.operator = nil
}

// readClusterRoleName reads metadata.name from the generated role file.
func readClusterRoleName(path string) string {
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	for _, line := range strings.Split(string(data), "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "name: "); ok {
			return name
		}
	}
	Fail(fmt.Sprintf("no name in %s", path))
	return ""
}

// run runs a build step and fails the suite with its output on error.
func run(ctx context.Context, dir string, env []string, name string, args ...string) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "%s %s:\n%s", name, strings.Join(args, " "), out)
}
