//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tracingv1alpha1 "github.com/spansink/spansink/api/v1alpha1"
)

// chartRelease is the release the spec installs; named spansink, its
// objects have config/default's names.
const chartRelease = "spansink"

// managerLease is the Lease the manager holds with --leader-elect
// (controllers/manager's leaderElectionID).
const managerLease = "spansink-operator.tracing.spansink.dev"

// The spec stops the suite's operator, the host process every other spec
// relies on, so that the chart's manager is the only one: Serial keeps any
// other spec from running meanwhile, and the operator is started again
// when the spec ends, however it ends.
var _ = Describe("the Helm chart", Serial, func() {
	It("runs the operator as the chart's own pod, under its service account and RBAC, which makes the sample Ready; helm uninstall removes it", func(ctx SpecContext) {
		stopOperator()
		DeferCleanup(func(ctx SpecContext) { startOperator(ctx, suite.logger) })

		// The release's namespace enforces the restricted Pod Security
		// Standard, which charts/spansink's README asks for.
		releaseNS := newNamespace(ctx, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
		repository, tag, _ := strings.Cut(collectorImage, ":")
		// The suite's control plane installed the CRD from config/crd
		// before any release, as `make install` would: the chart is told
		// to leave it alone, as its README says for that case.
		helm("install", chartRelease, filepath.Join(suite.root, "charts", "spansink"),
			"--namespace", releaseNS,
			"--set", "image.repository="+repository, "--set", "image.tag="+tag,
			"--set", "crds.install=false")
		DeferCleanup(func() {
			_, _ = helmErr("uninstall", chartRelease, "--namespace", releaseNS, "--ignore-not-found", "--wait")
		})

		By("the manager runs as the chart's pod on the local node")
		deploymentName := chartRelease + "-controller-manager"
		Eventually(func(g Gomega) {
			d := &appsv1.Deployment{}
			g.Expect(suite.k8s.Get(ctx, client.ObjectKey{Namespace: releaseNS, Name: deploymentName}, d)).To(Succeed())
			g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
			g.Expect(d.Status.AvailableReplicas).To(Equal(int32(1)))
		}).WithContext(ctx).WithTimeout(3*time.Minute).WithPolling(time.Second).Should(Succeed(), func() string {
			return describe(ctx, releaseNS)
		})
		pods := &corev1.PodList{}
		Expect(suite.k8s.List(ctx, pods, client.InNamespace(releaseNS),
			client.MatchingLabels{"app.kubernetes.io/name": "spansink-operator", "control-plane": "controller-manager"})).To(Succeed())
		Expect(pods.Items).To(HaveLen(1))
		managerPod := pods.Items[0]
		Expect(managerPod.Spec.ServiceAccountName).To(Equal(chartRelease + "-controller-manager"))
		Expect(managerPod.Spec.NodeName).NotTo(BeEmpty())
		Expect(managerPod.Spec.Containers[0].Image).To(Equal(collectorImage))
		Expect(isReady(&managerPod)).To(BeTrue())

		// Only the pod's manager elects a leader (the suite's runs without
		// --leader-elect), and only the chart's Role lets the chart's
		// service account hold a Lease in this namespace: a held Lease is
		// the pod's manager talking to the API server as that account.
		By("the manager holds its Lease in the release's namespace")
		Eventually(func(g Gomega) {
			lease := &coordinationv1.Lease{}
			g.Expect(suite.k8s.Get(ctx, client.ObjectKey{Namespace: releaseNS, Name: managerLease}, lease)).To(Succeed())
			g.Expect(lease.Spec.HolderIdentity).NotTo(BeNil())
			g.Expect(*lease.Spec.HolderIdentity).NotTo(BeEmpty())
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed(), func() string {
			return describe(ctx, releaseNS)
		})

		By("the sample SpanSink becomes Ready with no other operator running")
		sampleNS := newNamespace(ctx, nil)
		applySample(sampleNS)
		waitReady(ctx, sampleNS, sampleName)

		By("the manager in the container logs JSON lines")
		logPath := suite.local.Node.LogPath(managerPod.UID, "manager")
		Expect(logPath).NotTo(BeEmpty())
		logged, err := os.ReadFile(logPath)
		Expect(err).NotTo(HaveOccurred())
		lines := strings.Split(strings.TrimSpace(string(logged)), "\n")
		Expect(len(lines)).To(BeNumerically(">", 3), "the manager logged:\n%s", logged)
		for _, line := range lines {
			var entry map[string]any
			Expect(json.Unmarshal([]byte(line), &entry)).To(Succeed(), "not a JSON log line: %s", line)
			Expect(entry).To(HaveKey("level"))
			Expect(entry).To(HaveKey("msg"))
		}

		By("helm uninstall removes the operator and its RBAC, and keeps the SpanSink")
		helm("uninstall", chartRelease, "--namespace", releaseNS, "--wait")
		namespaced := []struct {
			obj  client.Object
			name string
		}{
			{&appsv1.Deployment{}, deploymentName},
			{&corev1.ServiceAccount{}, chartRelease + "-controller-manager"},
			{&corev1.Service{}, chartRelease + "-controller-manager-metrics"},
			{&rbacv1.Role{}, chartRelease + "-leader-election-role"},
			{&rbacv1.RoleBinding{}, chartRelease + "-leader-election-rolebinding"},
		}
		Eventually(func(g Gomega) {
			for _, o := range namespaced {
				err := suite.k8s.Get(ctx, client.ObjectKey{Namespace: releaseNS, Name: o.name}, o.obj)
				g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%T %s: %v", o.obj, o.name, err)
			}
			for _, name := range []string{"manager-role", "metrics-auth-role", "metrics-reader", "editor-role", "viewer-role"} {
				err := suite.k8s.Get(ctx, client.ObjectKey{Name: chartRelease + "-" + name}, &rbacv1.ClusterRole{})
				g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "ClusterRole %s-%s: %v", chartRelease, name, err)
			}
			for _, name := range []string{"manager-rolebinding", "metrics-auth-rolebinding"} {
				err := suite.k8s.Get(ctx, client.ObjectKey{Name: chartRelease + "-" + name}, &rbacv1.ClusterRoleBinding{})
				g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "ClusterRoleBinding %s-%s: %v", chartRelease, name, err)
			}
			// The node stops the manager's process before its pod is gone.
			left := &corev1.PodList{}
			g.Expect(suite.k8s.List(ctx, left, client.InNamespace(releaseNS))).To(Succeed())
			g.Expect(left.Items).To(BeEmpty())
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed(), func() string {
			return describe(ctx, releaseNS)
		})
		Expect(suite.k8s.Get(ctx, client.ObjectKey{Namespace: sampleNS, Name: sampleName}, &tracingv1alpha1.SpanSink{})).To(Succeed())
	})
})

// helm runs the real helm against the test cluster, as a user would, and
// returns its standard output.
func helm(args ...string) string {
	GinkgoHelper()
	out, err := helmErr(args...)
	Expect(err).NotTo(HaveOccurred())
	return out
}

func helmErr(args ...string) (string, error) {
	cmd := exec.Command(helmBinary(), append([]string{"--kubeconfig", suite.local.Kubeconfig}, args...)...)
	// helm keeps repositories, plugins and a cache under these: the suite's
	// work directory, not the user's.
	home := filepath.Join(suite.work, "helm")
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// helmBinary is $SPANSINK_HELM (`make e2e` sets it), else what
// hack/helm.sh builds or has cached.
func helmBinary() string {
	GinkgoHelper()
	if path := os.Getenv("SPANSINK_HELM"); path != "" {
		return path
	}
	cmd := exec.Command(filepath.Join(suite.root, "hack", "helm.sh"))
	cmd.Stderr = GinkgoWriter
	out, err := cmd.Output()
	Expect(err).NotTo(HaveOccurred(), "hack/helm.sh")
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}
