package controllers

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/controllers/manifests"
	"github.com/spansink/spansink/sink/config"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var _ = Describe("SpanSink children", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
	})

	// The cache holds only objects with the operator's managed-by label
	// (CacheOptions), so most foreign objects are invisible to it and are
	// found through the uncached reader when the create is refused; one
	// carrying the label is found in the cache. Both must end as a conflict.
	DescribeTable("leaves a foreign object under a child's name untouched and reports it",
		func(foreign func(ns string) client.Object, wantConflict string, blocksPod bool) {
			obj := foreign(ns)
			Expect(k8sClient.Create(ctx, obj)).To(Succeed())
			version := obj.GetResourceVersion()
			Expect(k8sClient.Create(ctx, newSink(ns, "clash"))).To(Succeed())

			Eventually(func(g Gomega) {
				got := getSink(g, ctx, ns, "clash")
				g.Expect(condition(got, v1alpha1.ConditionDegraded)).To(And(
					HaveField("Status", metav1.ConditionTrue),
					HaveField("Reason", v1alpha1.ReasonChildConflict),
					HaveField("Message", ContainSubstring(wantConflict+" already exists and is not controlled by this SpanSink"))))
				// It waits on a person: kstatus reads Failed, not InProgress.
				g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation), "the pass judged this generation")
				g.Expect(condition(got, v1alpha1.ConditionStalled)).To(And(
					HaveField("Status", metav1.ConditionTrue), HaveField("Reason", v1alpha1.ReasonChildConflict)))
				g.Expect(condition(got, v1alpha1.ConditionReconciling)).To(HaveField("Status", metav1.ConditionFalse))
			}).Should(Succeed())

			// The failure is announced once as a Warning Event naming the object.
			Eventually(func(g Gomega) {
				var warnings []string
				for _, e := range eventsAbout(g, ctx, ns, "clash") {
					if e.Type == corev1.EventTypeWarning && e.Reason == v1alpha1.ReasonChildConflict {
						warnings = append(warnings, e.Note)
					}
				}
				g.Expect(warnings).To(ContainElement(ContainSubstring(wantConflict)))
			}).Should(Succeed())

			// Retries keep finding it and never write to it.
			Consistently(func(g Gomega) {
				live := obj.DeepCopyObject().(client.Object)
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), live)).To(Succeed())
				g.Expect(live.GetResourceVersion()).To(Equal(version), "the foreign object was written to")
				g.Expect(live.GetOwnerReferences()).To(BeEmpty())
				if blocksPod {
					err := k8sClient.Get(ctx, key(ns, "clash-collector"), &appsv1.Deployment{})
					g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "no pod may be rolled onto someone else's object")
				}
			}, 2*time.Second).Should(Succeed())
		},
		Entry("a Deployment", func(ns string) client.Object { return foreignDeployment(ns, "clash-collector") },
			"Deployment clash-collector", false),
		Entry("a Service", func(ns string) client.Object {
			return &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "clash-collector"},
				Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "web", Port: 80}}},
			}
		}, "Service clash-collector", false),
		Entry("a PersistentVolumeClaim", func(ns string) client.Object {
			return &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "clash-data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}
		}, "PersistentVolumeClaim clash-data", true),
		Entry("a ServiceAccount", func(ns string) client.Object {
			return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "clash-collector"}}
		}, "ServiceAccount clash-collector", true),
		Entry("a ConfigMap carrying the operator's labels (so in the cache) but no owner", func(ns string) client.Object {
			return &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "clash-collector", Labels: map[string]string{
					manifests.LabelManagedBy: manifests.ManagedByValue, manifests.LabelInstance: "clash",
				}},
				Data: map[string]string{"owner": "someone else"},
			}
		}, "ConfigMap clash-collector", true),
	)

	It("keeps kubectl rollout restart's annotation when it updates the pod template, then writes nothing", func() {
		sink := newSink(ns, "restart")
		sink.Spec.PodAnnotations = map[string]string{"example.com/team": "tracing"}
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		waitForCollector(ctx, ns, "restart")

		// What `kubectl rollout restart` does.
		const restartedAt = "kubectl.kubernetes.io/restartedAt"
		Eventually(func(g Gomega) {
			deploy := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, key(ns, "restart-collector"), deploy)).To(Succeed())
			deploy.Spec.Template.Annotations[restartedAt] = "2026-05-01T10:00:00Z"
			g.Expect(k8sClient.Update(ctx, deploy)).To(Succeed())
		}).Should(Succeed())

		// A change that rewrites the pod template (a new config hash: the
		// storage format needs a restart), and the removal of a pod
		// annotation the operator had set.
		updateSink(ctx, ns, "restart", func(s *v1alpha1.SpanSink) {
			s.Spec.Storage.Format = v1alpha1.FormatOTLPJSON
			s.Spec.PodAnnotations = nil
		})
		Eventually(func(g Gomega) {
			cm := &corev1.ConfigMap{}
			g.Expect(k8sClient.Get(ctx, key(ns, "restart-collector"), cm)).To(Succeed())
			cfg, err := config.Parse([]byte(cm.Data[config.FileName]))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(cfg.Storage.Format).To(Equal(config.FormatOTLPJSON))
			deploy := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, key(ns, "restart-collector"), deploy)).To(Succeed())
			annotations := deploy.Spec.Template.Annotations
			g.Expect(annotations).To(HaveKeyWithValue(manifests.ConfigHashAnnotation, restartHashOf(cm.Data[config.FileName])))
			g.Expect(annotations).To(HaveKeyWithValue(restartedAt, "2026-05-01T10:00:00Z"))
			g.Expect(annotations).NotTo(HaveKey("example.com/team"), "a pod annotation removed from the spec stays on the pod")
		}).Should(Succeed())

		var writes atomic.Int32
		resync := &SpanSinkReconciler{Client: countingClient(&writes), CollectorImage: testImage}
		Eventually(func(g Gomega) {
			// The manager may still be writing status when the first pass reads.
			writes.Store(0)
			_, err := resync.Reconcile(ctx, ctrl.Request{NamespacedName: key(ns, "restart")})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(writes.Load()).To(BeZero(), "a pass after the merge must not write")
		}).Should(Succeed())
	})

	It("updates the Deployment when the nodeSelector is removed, and says so in an Event", func() {
		sink := newSink(ns, "nodes")
		sink.Spec.NodeSelector = map[string]v1alpha1.LabelValue{"kubernetes.io/os": "linux"}
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		Eventually(func(g Gomega) {
			deploy := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, key(ns, "nodes-collector"), deploy)).To(Succeed())
			g.Expect(deploy.Spec.Template.Spec.NodeSelector).To(Equal(map[string]string{"kubernetes.io/os": "linux"}))
		}).Should(Succeed())

		// The desired Deployment then sets no nodeSelector at all, which a
		// comparison of set fields alone cannot tell from "unchanged"; the
		// spec hash can.
		updateSink(ctx, ns, "nodes", func(s *v1alpha1.SpanSink) { s.Spec.NodeSelector = nil })
		Eventually(func(g Gomega) {
			deploy := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, key(ns, "nodes-collector"), deploy)).To(Succeed())
			g.Expect(deploy.Spec.Template.Spec.NodeSelector).To(BeEmpty())
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			var updates []string
			for _, e := range eventsAbout(g, ctx, ns, "nodes") {
				if e.Type == corev1.EventTypeNormal && e.Reason == "Updated" {
					updates = append(updates, e.Note)
				}
			}
			g.Expect(updates).To(ContainElement("Updated Deployment nodes-collector"))
			g.Expect(strings.Join(updates, "\n")).NotTo(ContainSubstring("ConfigMap"), "the config did not change")
		}).Should(Succeed())
	})

	DescribeTable("gives the collector a grace period that covers the drain, whatever the flush interval",
		func(flush *metav1.Duration, explicit *int64, wantGrace int64, wantShutdown time.Duration) {
			sink := newSink(ns, "grace")
			sink.Spec.Batch.FlushInterval = flush
			sink.Spec.TerminationGracePeriodSeconds = explicit
			Expect(k8sClient.Create(ctx, sink)).To(Succeed())
			Eventually(func(g Gomega) {
				deploy := &appsv1.Deployment{}
				g.Expect(k8sClient.Get(ctx, key(ns, "grace-collector"), deploy)).To(Succeed())
				g.Expect(deploy.Spec.Template.Spec.TerminationGracePeriodSeconds).To(HaveValue(Equal(wantGrace)))
				cm := &corev1.ConfigMap{}
				g.Expect(k8sClient.Get(ctx, key(ns, "grace-collector"), cm)).To(Succeed())
				cfg, err := config.Parse([]byte(cm.Data[config.FileName]))
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(cfg.ShutdownTimeout.Std()).To(Equal(wantShutdown), "the collector must give up before the kubelet kills it")
			}).Should(Succeed())
		},
		Entry("default flush", nil, nil, int64(60), 55*time.Second),
		Entry("longest flush: the stop flushes at once, and the flush interval is live", &metav1.Duration{Duration: time.Hour}, nil, int64(60), 55*time.Second),
		Entry("the smallest grace the CRD allows", nil, ptr.To[int64](10), int64(10), 5*time.Second),
	)
})
