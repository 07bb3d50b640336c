package controllers

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/controllers/manifests"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// monitoringCRDs are the Prometheus Operator's CRDs as `make manifests`
// generates them from the pinned module.
var monitoringCRDs = filepath.Join("..", "test", "crds", "monitoring.coreos.com")

// The suite starts without the Prometheus Operator's CRDs; this container
// installs them while the manager runs, so it is Ordered: the first spec
// needs them absent, the later ones present.
var _ = Describe("spec.monitoring", Ordered, func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
	})

	monitored := func(name string) *v1alpha1.SpanSink {
		sink := newSink(ns, name)
		sink.Spec.Monitoring.PodMonitor = v1alpha1.PodMonitorSpec{
			Enabled: true, Interval: &metav1.Duration{Duration: 30 * time.Second},
			Labels: map[string]v1alpha1.LabelValue{"release": "kube-prometheus-stack"},
		}
		sink.Spec.Monitoring.Rules = v1alpha1.RulesSpec{Enabled: true, SilentAfter: &metav1.Duration{Duration: time.Hour}}
		return sink
	}

	It("says PrometheusOperatorNotInstalled without the CRDs, runs on, and creates the children once the CRDs are installed, without a restart", func() {
		sink := monitored("watched")
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "watched")
			g.Expect(condition(got, v1alpha1.ConditionMonitoringReady)).To(And(
				HaveField("Status", metav1.ConditionFalse),
				HaveField("Reason", v1alpha1.ReasonPrometheusOperatorNotInstalled),
				HaveField("Message", ContainSubstring("podmonitors.monitoring.coreos.com, prometheusrules.monitoring.coreos.com"))))
			g.Expect(condition(got, v1alpha1.ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))
		}).Should(Succeed())
		markAvailable(ctx, ns, "watched-collector")
		Eventually(func(g Gomega) {
			g.Expect(condition(getSink(g, ctx, ns, "watched"), v1alpha1.ConditionReady)).To(HaveField("Status", metav1.ConditionTrue))
		}).Should(Succeed())

		By("installing the Prometheus Operator's CRDs while the manager runs")
		_, err := envtest.InstallCRDs(restCfg, envtest.CRDInstallOptions{Paths: []string{monitoringCRDs}, ErrorIfPathMissing: true})
		Expect(err).NotTo(HaveOccurred())

		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "watched")
			g.Expect(condition(got, v1alpha1.ConditionMonitoringReady)).To(And(
				HaveField("Status", metav1.ConditionTrue), HaveField("Reason", v1alpha1.ReasonMonitoringCreated)))
			monitor := &monitoringv1.PodMonitor{}
			g.Expect(k8sClient.Get(ctx, key(ns, "watched-collector"), monitor)).To(Succeed())
			expectControlledBy(g, monitor, got)
			g.Expect(monitor.Spec).To(Equal(manifests.PodMonitor(got).Spec))
			g.Expect(monitor.Labels).To(HaveKeyWithValue("release", "kube-prometheus-stack"))
			rule := &monitoringv1.PrometheusRule{}
			g.Expect(k8sClient.Get(ctx, key(ns, "watched-collector"), rule)).To(Succeed())
			expectControlledBy(g, rule, got)
			g.Expect(rule.Spec).To(Equal(manifests.PrometheusRule(got).Spec))
		}).Should(Succeed())

		By("putting back a PodMonitor deleted as soon as it exists: the watch started with it")
		deletePodMonitorExpectingItBack(ctx, ns, "watched-collector")
	})

	It("puts back a child someone deletes or edits, makes no write on a resync, and deletes the children when monitoring is turned off", func() {
		sink := monitored("cycle")
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		rule := &monitoringv1.PrometheusRule{}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(ns, "cycle-collector"), rule)).To(Succeed())
			g.Expect(k8sClient.Get(ctx, key(ns, "cycle-collector"), &monitoringv1.PodMonitor{})).To(Succeed())
		}).Should(Succeed())

		// An available SpanSink has nothing to look at again later, so
		// nothing requeues it but a watch: what follows is the work of the
		// watches on the monitoring kinds.
		markAvailable(ctx, ns, "cycle-collector")
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "cycle")
			g.Expect(condition(got, v1alpha1.ConditionReady)).To(HaveField("Status", metav1.ConditionTrue))
			g.Expect(condition(got, v1alpha1.ConditionMonitoringReady)).To(HaveField("Status", metav1.ConditionTrue))
		}).Should(Succeed())
		Expect(k8sClient.Get(ctx, key(ns, "cycle-collector"), rule)).To(Succeed())

		By("an edit of the rules is undone through the watch on PrometheusRules")
		rule.Spec.Groups[0].Rules = rule.Spec.Groups[0].Rules[:1]
		Expect(k8sClient.Update(ctx, rule)).To(Succeed())
		Eventually(func(g Gomega) {
			got := &monitoringv1.PrometheusRule{}
			g.Expect(k8sClient.Get(ctx, key(ns, "cycle-collector"), got)).To(Succeed())
			g.Expect(got.Spec).To(Equal(manifests.PrometheusRule(getSink(g, ctx, ns, "cycle")).Spec))
		}).Should(Succeed())

		By("a deleted PodMonitor is created again")
		deletePodMonitorExpectingItBack(ctx, ns, "cycle-collector")

		By("a new scrape interval updates the PodMonitor")
		updateSink(ctx, ns, "cycle", func(s *v1alpha1.SpanSink) {
			s.Spec.Monitoring.PodMonitor.Interval = &metav1.Duration{Duration: time.Minute}
		})
		Eventually(func(g Gomega) {
			got := &monitoringv1.PodMonitor{}
			g.Expect(k8sClient.Get(ctx, key(ns, "cycle-collector"), got)).To(Succeed())
			g.Expect(got.Spec.PodMetricsEndpoints[0].Interval).To(Equal(monitoringv1.Duration("1m")))
		}).Should(Succeed())

		By("a pass over the converged SpanSink writes nothing")
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "cycle")
			g.Expect(condition(got, v1alpha1.ConditionMonitoringReady)).To(HaveField("Status", metav1.ConditionTrue))
			// The operator's own pass over the interval change has written
			// its status too; until then a pass would rightly patch it.
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
		}).Should(Succeed())
		var writes atomic.Int32
		resync := &SpanSinkReconciler{Client: countingClient(&writes), CollectorImage: testImage}
		_, err := resync.Reconcile(ctx, ctrl.Request{NamespacedName: key(ns, "cycle")})
		Expect(err).NotTo(HaveOccurred())
		Expect(writes.Load()).To(BeZero(), "a pass over an unchanged SpanSink with monitoring must not write")

		By("turning the rules off deletes the PrometheusRule and keeps the PodMonitor")
		updateSink(ctx, ns, "cycle", func(s *v1alpha1.SpanSink) { s.Spec.Monitoring.Rules.Enabled = false })
		Eventually(func(g Gomega) {
			err := k8sClient.Get(ctx, key(ns, "cycle-collector"), &monitoringv1.PrometheusRule{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "got %v", err)
			g.Expect(k8sClient.Get(ctx, key(ns, "cycle-collector"), &monitoringv1.PodMonitor{})).To(Succeed())
			g.Expect(condition(getSink(g, ctx, ns, "cycle"), v1alpha1.ConditionMonitoringReady)).To(And(
				HaveField("Status", metav1.ConditionTrue), HaveField("Message", "The PodMonitor is in place")))
		}).Should(Succeed())

		By("removing spec.monitoring deletes the PodMonitor and the condition")
		updateSink(ctx, ns, "cycle", func(s *v1alpha1.SpanSink) { s.Spec.Monitoring = v1alpha1.MonitoringSpec{} })
		Eventually(func(g Gomega) {
			err := k8sClient.Get(ctx, key(ns, "cycle-collector"), &monitoringv1.PodMonitor{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "got %v", err)
			g.Expect(condition(getSink(g, ctx, ns, "cycle"), v1alpha1.ConditionMonitoringReady)).To(BeNil())
		}).Should(Succeed())
	})

	// The API server checks config/prometheus against the CRDs' schemas.
	It("accepts config/prometheus, the operator's own ServiceMonitor and rules", func() {
		for _, file := range []string{"monitor.yaml", "prometheus_rule.yaml"} {
			data, err := os.ReadFile(filepath.Join("..", "config", "prometheus", file))
			Expect(err).NotTo(HaveOccurred())
			obj := &unstructured.Unstructured{}
			Expect(yaml.Unmarshal(data, &obj.Object)).To(Succeed())
			obj.SetNamespace(ns)
			Expect(k8sClient.Create(ctx, obj)).To(Succeed(), "%s", file)
		}
	})

	It("leaves a PodMonitor it does not control alone and says so", func() {
		foreign := &monitoringv1.PodMonitor{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "taken-collector"},
			Spec:       monitoringv1.PodMonitorSpec{PodMetricsEndpoints: []monitoringv1.PodMetricsEndpoint{{Path: "/other"}}},
		}
		Expect(k8sClient.Create(ctx, foreign)).To(Succeed())
		Expect(k8sClient.Create(ctx, monitored("taken"))).To(Succeed())
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "taken")
			g.Expect(condition(got, v1alpha1.ConditionMonitoringReady)).To(And(
				HaveField("Status", metav1.ConditionFalse), HaveField("Reason", v1alpha1.ReasonChildConflict),
				HaveField("Message", ContainSubstring("PodMonitor taken-collector"))))
			g.Expect(k8sClient.Get(ctx, key(ns, "taken-collector"), &monitoringv1.PrometheusRule{})).To(Succeed())
		}).Should(Succeed())
		live := &monitoringv1.PodMonitor{}
		Expect(k8sClient.Get(ctx, key(ns, "taken-collector"), live)).To(Succeed())
		Expect(live.Spec.PodMetricsEndpoints[0].Path).To(Equal("/other"))
		Expect(live.OwnerReferences).To(BeEmpty())
	})
})

var _ = Describe("spec.monitoring validation", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
	})

	DescribeTable("refuses an invalid spec.monitoring with a message that says why",
		func(monitoring v1alpha1.MonitoringSpec, want string) {
			sink := newSink(ns, "bad")
			sink.Spec.Monitoring = monitoring
			err := k8sClient.Create(ctx, sink)
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
			Expect(err.Error()).To(ContainSubstring(want))
		},
		Entry("a scrape interval below a second",
			v1alpha1.MonitoringSpec{PodMonitor: v1alpha1.PodMonitorSpec{Enabled: true, Interval: &metav1.Duration{Duration: 500 * time.Millisecond}}},
			"monitoring.podMonitor.interval must be a whole number of seconds such as 30s or 1m, from 1s to 1h"),
		Entry("a label key that is no label name",
			v1alpha1.MonitoringSpec{Rules: v1alpha1.RulesSpec{Enabled: true, Labels: map[string]v1alpha1.LabelValue{"not a key": "x"}}},
			"monitoring.rules.labels keys must be label names"),
		Entry("prometheusFrom without the PodMonitor",
			v1alpha1.MonitoringSpec{PodMonitor: v1alpha1.PodMonitorSpec{PrometheusFrom: []v1alpha1.PrometheusPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "monitoring"}}}}}},
			"monitoring.podMonitor.prometheusFrom admits a Prometheus only for the PodMonitor"),
		Entry("a prometheusFrom entry that selects nothing",
			v1alpha1.MonitoringSpec{PodMonitor: v1alpha1.PodMonitorSpec{Enabled: true, PrometheusFrom: []v1alpha1.PrometheusPeer{{}}}},
			"monitoring.podMonitor.prometheusFrom entries must set namespaceSelector, podSelector or both"),
		Entry("a volume threshold above 99%",
			v1alpha1.MonitoringSpec{Rules: v1alpha1.RulesSpec{Enabled: true, VolumeFullPercent: 100}},
			"spec.monitoring.rules.volumeFullPercent"),
		Entry("a silence shorter than the rate window",
			v1alpha1.MonitoringSpec{Rules: v1alpha1.RulesSpec{Enabled: true, SilentAfter: &metav1.Duration{Duration: time.Minute}}},
			"monitoring.rules.silentAfter must be a whole number of seconds such as 30m or 2h, from 5m to 168h"),
		Entry("an upload lag with a fraction of a second",
			v1alpha1.MonitoringSpec{Rules: v1alpha1.RulesSpec{Enabled: true, UploadLag: &metav1.Duration{Duration: 90*time.Second + time.Millisecond}}},
			"monitoring.rules.uploadLag must be a whole number of seconds"),
	)
})

// deletePodMonitorExpectingItBack deletes the PodMonitor name and waits
// until the operator has created it anew.
func deletePodMonitorExpectingItBack(ctx context.Context, ns, name string) {
	GinkgoHelper()
	monitor := &monitoringv1.PodMonitor{}
	Expect(k8sClient.Get(ctx, key(ns, name), monitor)).To(Succeed())
	Expect(k8sClient.Delete(ctx, monitor)).To(Succeed())
	Eventually(func(g Gomega) {
		got := &monitoringv1.PodMonitor{}
		g.Expect(k8sClient.Get(ctx, key(ns, name), got)).To(Succeed())
		g.Expect(got.UID).NotTo(Equal(monitor.UID))
	}).Should(Succeed())
}
