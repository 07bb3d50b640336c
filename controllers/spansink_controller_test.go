package controllers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

var _ = Describe("SpanSink controller", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
	})

	It("accepts the sample in config/samples and builds its collector", func() {
		data, err := os.ReadFile(filepath.Join("..", "config", "samples", "tracing_v1alpha1_spansink.yaml"))
		Expect(err).NotTo(HaveOccurred())
		sample := &v1alpha1.SpanSink{}
		Expect(yaml.UnmarshalStrict(data, sample)).To(Succeed())
		sample.Namespace = ns
		Expect(k8sClient.Create(ctx, sample)).To(Succeed())
		Eventually(func(g Gomega) {
			cm := &corev1.ConfigMap{}
			g.Expect(k8sClient.Get(ctx, key(ns, sample.Name+"-collector"), cm)).To(Succeed())
			cfg, err := config.Parse([]byte(cm.Data[config.FileName]))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(cfg.Batch.Size).To(Equal(500))
			g.Expect(cfg.Storage.Rotation.MaxSizeBytes).To(BeEquivalentTo(256 << 20))
			g.Expect(cfg.Storage.Rotation.Compress).To(Equal(config.CompressionZstd))
		}).Should(Succeed())
	})

	It("fills in the CRD defaults", func() {
		Expect(k8sClient.Create(ctx, newSink(ns, "defaults"))).To(Succeed())
		got := getSink(Default, ctx, ns, "defaults")
		spec := got.Spec
		Expect(spec.Batch.Size).To(BeEquivalentTo(config.DefaultBatchSize))
		Expect(spec.Batch.FlushInterval).To(HaveValue(Equal(metav1.Duration{Duration: config.DefaultFlushInterval})))
		Expect(spec.Batch.MaxQueuedSpans).To(BeEquivalentTo(config.DefaultMaxQueuedSpans))
		Expect(spec.Delivery.Mode).To(Equal(v1alpha1.DeliveryBatched))
		Expect(spec.Storage.Path).To(Equal(config.DefaultPath))
		Expect(spec.Storage.Format).To(Equal(v1alpha1.FormatDBGPT))
		Expect(spec.Storage.Rotation.Daily).To(HaveValue(BeTrue()))
		Expect(spec.Storage.Rotation.MaxSize.Value()).To(BeEquivalentTo(config.DefaultMaxSizeBytes))
		Expect(spec.Storage.Rotation.Compress).To(Equal(v1alpha1.CompressionNone))
		Expect(spec.Storage.Volume.Size.String()).To(Equal("1Gi"))
		Expect(spec.Storage.Volume.ReclaimPolicy).To(Equal(v1alpha1.ReclaimRetain))
		Expect(spec.TerminationGracePeriodSeconds).To(BeNil(), "the grace period is the operator's default, not the CRD's")
	})

	It("creates every child with owner references and the rendered config", func() {
		sink := newSink(ns, "traces")
		sink.Spec.Batch.Size = 50
		sink.Spec.Batch.FlushInterval = &metav1.Duration{Duration: 2 * time.Second}
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		name := "traces-collector"

		cm := &corev1.ConfigMap{}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(ns, name), cm)).To(Succeed())
		}).Should(Succeed())
		expectControlledBy(Default, cm, sink)
		rendered := cm.Data[config.FileName]
		cfg, err := config.Parse([]byte(rendered))
		Expect(err).NotTo(HaveOccurred(), "the collector must accept the operator's config")
		Expect(cfg.Batch.Size).To(Equal(50))
		Expect(cfg.Batch.FlushInterval.Std()).To(Equal(2 * time.Second))
		Expect(cfg.Storage.Dir).To(Equal("/var/lib/spansink"))
		Expect(cfg.Storage.Path).To(Equal("spans.jsonl"))

		sa := &corev1.ServiceAccount{}
		Expect(k8sClient.Get(ctx, key(ns, name), sa)).To(Succeed())
		expectControlledBy(Default, sa, sink)
		Expect(sa.AutomountServiceAccountToken).To(HaveValue(BeFalse()))

		svc := &corev1.Service{}
		Eventually(func(g Gomega) { g.Expect(k8sClient.Get(ctx, key(ns, name), svc)).To(Succeed()) }).Should(Succeed())
		expectControlledBy(Default, svc, sink)
		Expect(svc.Spec.Ports).To(HaveLen(3))
		Expect(svc.Spec.Ports[0].Name).To(Equal("otlp-grpc"))
		Expect(svc.Spec.Ports[0].Port).To(BeEquivalentTo(4317))
		Expect(svc.Spec.Ports[1].Port).To(BeEquivalentTo(4318))
		Expect(svc.Spec.Ports[2].Port).To(BeEquivalentTo(8888))
		Expect(svc.Spec.Selector).To(Equal(map[string]string{"app.kubernetes.io/name": "spansink", "app.kubernetes.io/instance": "traces"}))

		pvc := &corev1.PersistentVolumeClaim{}
		Expect(k8sClient.Get(ctx, key(ns, "traces-data"), pvc)).To(Succeed())
		Expect(pvc.OwnerReferences).To(BeEmpty(), "under the default Retain policy the claim outlives the SpanSink")
		Expect(pvc.Labels).To(HaveKeyWithValue("app.kubernetes.io/instance", "traces"))
		Expect(pvc.Spec.Resources.Requests.Storage().String()).To(Equal("1Gi"))
		Expect(pvc.Spec.AccessModes).To(ConsistOf(corev1.ReadWriteOnce))

		deploy := &appsv1.Deployment{}
		Eventually(func(g Gomega) { g.Expect(k8sClient.Get(ctx, key(ns, name), deploy)).To(Succeed()) }).Should(Succeed())
		expectControlledBy(Default, deploy, sink)
		Expect(deploy.Spec.Replicas).To(HaveValue(BeEquivalentTo(1)))
		Expect(deploy.Spec.Strategy.Type).To(Equal(appsv1.RecreateDeploymentStrategyType))
		tmpl := deploy.Spec.Template
		Expect(tmpl.Annotations).To(HaveKeyWithValue(manifests.ConfigHashAnnotation, restartHashOf(rendered)))
		pod := tmpl.Spec
		Expect(pod.ServiceAccountName).To(Equal(name))
		Expect(pod.TerminationGracePeriodSeconds).To(HaveValue(BeEquivalentTo(60)))
		Expect(pod.SecurityContext.RunAsNonRoot).To(HaveValue(BeTrue()))
		Expect(pod.SecurityContext.FSGroup).To(HaveValue(BeEquivalentTo(65532)))
		Expect(pod.SecurityContext.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
		c := pod.Containers[0]
		Expect(c.Image).To(Equal(testImage))
		Expect(c.Args).To(Equal([]string{"collector", "--config", "/etc/spansink/collector.yaml"}))
		Expect(c.SecurityContext.AllowPrivilegeEscalation).To(HaveValue(BeFalse()))
		Expect(c.SecurityContext.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()))
		Expect(c.SecurityContext.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")))
		Expect(c.LivenessProbe.HTTPGet.Path).To(Equal("/healthz"))
		Expect(c.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
		Expect(c.VolumeMounts).To(ContainElement(corev1.VolumeMount{Name: "data", MountPath: "/var/lib/spansink"}))
		Expect(pod.Volumes).To(ContainElement(HaveField("VolumeSource.PersistentVolumeClaim.ClaimName", "traces-data")))

		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "traces")
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
			g.Expect(got.Status.ConfigHash).To(Equal(sha256Hex(rendered)))
			g.Expect(got.Status.VolumeClaimName).To(Equal("traces-data"))
			g.Expect(condition(got, v1alpha1.ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))
			g.Expect(condition(got, v1alpha1.ConditionProgressing)).To(HaveField("Status", metav1.ConditionTrue))
			g.Expect(condition(got, v1alpha1.ConditionReady)).To(HaveField("Status", metav1.ConditionFalse))
		}).Should(Succeed())

		// Making the children of a new SpanSink is what was asked: no Event.
		Consistently(func(g Gomega) {
			for _, e := range eventsAbout(g, ctx, ns, "traces") {
				g.Expect(e.Reason).NotTo(Equal("Created"), e.Note)
			}
		}).WithTimeout(time.Second).Should(Succeed())

		// A child made again is news, told in one Event.
		Expect(k8sClient.Delete(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "traces-collector"}})).To(Succeed())
		Expect(k8sClient.Delete(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "traces-collector"}})).To(Succeed())
		Eventually(func(g Gomega) {
			var notes []string
			for _, e := range eventsAbout(g, ctx, ns, "traces") {
				if e.Reason == "Created" {
					notes = append(notes, e.Note)
				}
			}
			g.Expect(notes).To(Or(
				ConsistOf("Created ServiceAccount traces-collector, Service traces-collector"),
				// The two deletions may reach the operator in two passes.
				ConsistOf("Created ServiceAccount traces-collector", "Created Service traces-collector")))
		}).Should(Succeed())
	})

	It("reports Ready with the endpoints once the Deployment is available, and rolls the pod when the storage format changes", func() {
		sink := newSink(ns, "ready")
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		waitForCollector(ctx, ns, "ready")
		markAvailable(ctx, ns, "ready-collector")

		var firstHash string
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "ready")
			g.Expect(condition(got, v1alpha1.ConditionReady)).To(And(
				HaveField("Status", metav1.ConditionTrue), HaveField("Reason", v1alpha1.ReasonAvailable)))
			g.Expect(condition(got, v1alpha1.ConditionProgressing)).To(HaveField("Status", metav1.ConditionFalse))
			g.Expect(got.Status.ReadyReplicas).To(BeEquivalentTo(1))
			g.Expect(got.Status.Endpoints).To(Equal(v1alpha1.Endpoints{
				OTLPGRPC: fmt.Sprintf("http://ready-collector.%s.svc:4317", ns),
				OTLPHTTP: fmt.Sprintf("http://ready-collector.%s.svc:4318", ns),
			}))
			firstHash = got.Status.ConfigHash
			g.Expect(firstHash).NotTo(BeEmpty())
		}).Should(Succeed())

		// The format is fixed while the file is open: a restart setting.
		updateSink(ctx, ns, "ready", func(s *v1alpha1.SpanSink) {
			s.Spec.Storage.Format = v1alpha1.FormatOTLPJSON
		})

		var newHash string
		Eventually(func(g Gomega) {
			cm := &corev1.ConfigMap{}
			g.Expect(k8sClient.Get(ctx, key(ns, "ready-collector"), cm)).To(Succeed())
			cfg, err := config.Parse([]byte(cm.Data[config.FileName]))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(cfg.Storage.Format).To(Equal(config.FormatOTLPJSON))
			newHash = sha256Hex(cm.Data[config.FileName])
			g.Expect(newHash).NotTo(Equal(firstHash))

			deploy := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, key(ns, "ready-collector"), deploy)).To(Succeed())
			g.Expect(deploy.Spec.Template.Annotations).To(HaveKeyWithValue(manifests.ConfigHashAnnotation, restartHashOf(cm.Data[config.FileName])))
		}).Should(Succeed())

		// The Deployment has a new generation its controller has not seen yet.
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "ready")
			g.Expect(got.Status.ConfigHash).To(Equal(newHash))
			g.Expect(condition(got, v1alpha1.ConditionProgressing)).To(And(
				HaveField("Status", metav1.ConditionTrue), HaveField("Reason", v1alpha1.ReasonRollingOut)))
			// What kstatus reads: in progress, nothing stalled.
			g.Expect(condition(got, v1alpha1.ConditionReconciling)).To(And(
				HaveField("Status", metav1.ConditionTrue), HaveField("Reason", v1alpha1.ReasonRollingOut)))
			g.Expect(condition(got, v1alpha1.ConditionStalled)).To(HaveField("Status", metav1.ConditionFalse))
		}).Should(Succeed())
		markAvailable(ctx, ns, "ready-collector")
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "ready")
			g.Expect(condition(got, v1alpha1.ConditionProgressing)).To(HaveField("Status", metav1.ConditionFalse))
			g.Expect(condition(got, v1alpha1.ConditionReady)).To(HaveField("Status", metav1.ConditionTrue))
		}).Should(Succeed())
	})

	It("never overwrites an object it does not control, and reports the conflict", func() {
		foreign := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "clash-collector"},
			Data:       map[string]string{"owner": "someone else"},
		}
		Expect(k8sClient.Create(ctx, foreign)).To(Succeed())
		Expect(k8sClient.Create(ctx, newSink(ns, "clash"))).To(Succeed())

		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "clash")
			g.Expect(condition(got, v1alpha1.ConditionDegraded)).To(And(
				HaveField("Status", metav1.ConditionTrue),
				HaveField("Reason", v1alpha1.ReasonChildConflict),
				HaveField("Message", ContainSubstring("ConfigMap clash-collector"))))
			g.Expect(condition(got, v1alpha1.ConditionReady)).To(HaveField("Status", metav1.ConditionFalse))
			// It waits on a person: kstatus reads Failed, not InProgress.
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation), "the pass judged this generation")
			g.Expect(condition(got, v1alpha1.ConditionStalled)).To(And(
				HaveField("Status", metav1.ConditionTrue), HaveField("Reason", v1alpha1.ReasonChildConflict)))
			g.Expect(condition(got, v1alpha1.ConditionReconciling)).To(HaveField("Status", metav1.ConditionFalse))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			cm := &corev1.ConfigMap{}
			g.Expect(k8sClient.Get(ctx, key(ns, "clash-collector"), cm)).To(Succeed())
			g.Expect(cm.Data).To(Equal(map[string]string{"owner": "someone else"}))
			g.Expect(cm.OwnerReferences).To(BeEmpty())
			err := k8sClient.Get(ctx, key(ns, "clash-collector"), &appsv1.Deployment{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "no pod may be rolled onto someone else's config")
		}, 2*time.Second).Should(Succeed())

		// Once the way is clear, the SpanSink recovers by itself.
		Expect(k8sClient.Delete(ctx, foreign)).To(Succeed())
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "clash")
			g.Expect(condition(got, v1alpha1.ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
			g.Expect(k8sClient.Get(ctx, key(ns, "clash-collector"), &appsv1.Deployment{})).To(Succeed())
		}).Should(Succeed())
	})

	DescribeTable("deletion keeps or removes the claim as reclaimPolicy says",
		func(policy v1alpha1.ReclaimPolicy, claimOwned bool) {
			sink := newSink(ns, "gone")
			sink.Spec.Storage.Volume.ReclaimPolicy = policy
			Expect(k8sClient.Create(ctx, sink)).To(Succeed())

			pvc := &corev1.PersistentVolumeClaim{}
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, key(ns, "gone-data"), pvc)).To(Succeed())
				g.Expect(k8sClient.Get(ctx, key(ns, "gone-collector"), &appsv1.Deployment{})).To(Succeed())
			}).Should(Succeed())
			if claimOwned {
				expectControlledBy(Default, pvc, sink)
			} else {
				Expect(pvc.OwnerReferences).To(BeEmpty())
			}
			// envtest runs no garbage collector: what deletion removes is
			// exactly what carries the SpanSink's owner reference.
			for _, child := range []client.Object{&corev1.ConfigMap{}, &corev1.Service{}, &corev1.ServiceAccount{}, &appsv1.Deployment{}} {
				Expect(k8sClient.Get(ctx, key(ns, "gone-collector"), child)).To(Succeed())
				expectControlledBy(Default, child, sink)
			}

			Expect(k8sClient.Delete(ctx, sink)).To(Succeed())
			Eventually(func() bool {
				return apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "gone"), &v1alpha1.SpanSink{}))
			}).Should(BeTrue())
			collectGarbage(ctx, ns, sink.UID)
			claim := &corev1.PersistentVolumeClaim{}
			claimErr := k8sClient.Get(ctx, key(ns, "gone-data"), claim)
			if claimOwned {
				// The claim's protection finalizer may hold it in Terminating.
				gone := apierrors.IsNotFound(claimErr) || (claimErr == nil && !claim.DeletionTimestamp.IsZero())
				Expect(gone).To(BeTrue(), "the claim should go with the SpanSink, got %v", claimErr)
			} else {
				Expect(claimErr).NotTo(HaveOccurred(), "the claim should outlive the SpanSink")
				Expect(claim.DeletionTimestamp.IsZero()).To(BeTrue())
			}

			if policy == v1alpha1.ReclaimRetain {
				// A SpanSink created again under the same name takes the
				// retained claim back instead of reporting a conflict.
				again := newSink(ns, "gone")
				Expect(k8sClient.Create(ctx, again)).To(Succeed())
				Eventually(func(g Gomega) {
					// A pass over the old SpanSink that was under way when it
					// was deleted may still have made a child for it; a
					// cluster's garbage collector keeps removing such orphans,
					// and so does this loop.
					collectGarbage(ctx, ns, sink.UID)
					got := getSink(g, ctx, ns, "gone")
					g.Expect(got.Status.VolumeClaimName).To(Equal("gone-data"))
					g.Expect(condition(got, v1alpha1.ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))
				}).Should(Succeed())
			}
		},
		Entry("Retain keeps the claim out of the SpanSink's ownership", v1alpha1.ReclaimRetain, false),
		Entry("Delete makes the SpanSink the claim's controller", v1alpha1.ReclaimDelete, true),
	)

	It("moves the claim's owner reference when reclaimPolicy changes, and reports a claim that cannot grow", func() {
		sink := newSink(ns, "policy")
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(ns, "policy-data"), &corev1.PersistentVolumeClaim{})).To(Succeed())
		}).Should(Succeed())
		updateSink(ctx, ns, "policy", func(s *v1alpha1.SpanSink) {
			s.Spec.Storage.Volume.ReclaimPolicy = v1alpha1.ReclaimDelete
			s.Spec.Storage.Volume.Size = ptr.To(resource.MustParse("3Gi"))
		})
		Eventually(func(g Gomega) {
			pvc := &corev1.PersistentVolumeClaim{}
			g.Expect(k8sClient.Get(ctx, key(ns, "policy-data"), pvc)).To(Succeed())
			expectControlledBy(g, pvc, sink)
			// envtest binds no volumes, and only a bound claim may grow: the
			// API server refuses, and the SpanSink says so.
			g.Expect(pvc.Spec.Resources.Requests.Storage().String()).To(Equal("1Gi"))
			got := getSink(g, ctx, ns, "policy")
			g.Expect(condition(got, v1alpha1.ConditionDegraded)).To(And(
				HaveField("Status", metav1.ConditionTrue), HaveField("Reason", v1alpha1.ReasonVolumeResizeRefused)))
			g.Expect(got.Status.VolumeClaimName).To(Equal("policy-data"))
		}).Should(Succeed())
	})

	// Each entry reaches a steady state by another route. The pod
	// readiness check and the claim binding check read pods, claims,
	// StorageClasses and Events on every pass while the collector is not
	// available; what they find must turn into a write only when it changed.
	DescribeTable("makes no write when it reconciles an unchanged SpanSink",
		func(prepare func(sink *v1alpha1.SpanSink), play func(sink *v1alpha1.SpanSink), steady func(g Gomega, got *v1alpha1.SpanSink)) {
			sink := newSink(ns, "steady")
			sink.Spec.NodeSelector = map[string]v1alpha1.LabelValue{"kubernetes.io/os": "linux"}
			sink.Spec.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}
			prepare(sink)
			Expect(k8sClient.Create(ctx, sink)).To(Succeed())
			waitForCollector(ctx, ns, "steady")
			play(sink)
			Eventually(func(g Gomega) { steady(g, getSink(g, ctx, ns, "steady")) }).Should(Succeed())

			// A second reconciler on a client that counts writes runs a full pass
			// against the live objects the first one converged.
			var writes atomic.Int32
			counting := countingClient(&writes)
			resync := &SpanSinkReconciler{Client: counting, CollectorImage: testImage}
			req := ctrl.Request{NamespacedName: key(ns, "steady")}
			_, err := resync.Reconcile(ctx, req)
			Expect(err).NotTo(HaveOccurred())
			Expect(writes.Load()).To(BeZero(), "a pass over an unchanged SpanSink must not write")

			// The counter does see writes: a pass with another default image has
			// to update the Deployment.
			// The manager may put its image back between this pass's read and
			// write; the pass is then refused with a conflict and tried again.
			changed := &SpanSinkReconciler{Client: counting, CollectorImage: "ghcr.io/spansink/spansink:other"}
			Eventually(func() error {
				_, err := changed.Reconcile(ctx, req)
				return err
			}).Should(Succeed())
			Expect(writes.Load()).To(BeNumerically(">", 0))
		},
		Entry("Ready",
			func(*v1alpha1.SpanSink) {},
			func(*v1alpha1.SpanSink) { markAvailable(ctx, ns, "steady-collector") },
			func(g Gomega, got *v1alpha1.SpanSink) {
				g.Expect(condition(got, v1alpha1.ConditionReady)).To(HaveField("Status", metav1.ConditionTrue))
			}),
		Entry("waiting for its claim to bind",
			func(sink *v1alpha1.SpanSink) {
				newStorageClass(ctx, "spansink-test-steady-slow")
				sink.Spec.Storage.Volume.StorageClassName = ptr.To("spansink-test-steady-slow")
			},
			func(*v1alpha1.SpanSink) {},
			func(g Gomega, got *v1alpha1.SpanSink) {
				g.Expect(condition(got, v1alpha1.ConditionProgressing)).To(HaveField("Reason", v1alpha1.ReasonClaimPending))
				g.Expect(condition(got, v1alpha1.ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))
			}),
		Entry("with a claim that cannot bind",
			func(sink *v1alpha1.SpanSink) {
				sink.Spec.Storage.Volume.StorageClassName = ptr.To("spansink-test-steady-no-such-class")
			},
			func(*v1alpha1.SpanSink) {},
			func(g Gomega, got *v1alpha1.SpanSink) {
				g.Expect(condition(got, v1alpha1.ConditionDegraded)).To(HaveField("Reason", v1alpha1.ReasonClaimUnbindable))
			}),
		Entry("with a collector that cannot write its volume",
			func(*v1alpha1.SpanSink) {},
			func(sink *v1alpha1.SpanSink) {
				pod := newCollectorPod(ctx, sink, "steady-collector-abc")
				started := time.Now().Add(-time.Minute)
				setCollectorPod(ctx, pod, false, started, started.Add(time.Second))
				setReadyReplicas(ctx, ns, "steady-collector", 0)
			},
			func(g Gomega, got *v1alpha1.SpanSink) {
				g.Expect(condition(got, v1alpha1.ConditionDegraded)).To(HaveField("Reason", v1alpha1.ReasonVolumeUnwritable))
			}),
	)

	It("reports an existing claim that does not exist, and mounts it once it does", func() {
		sink := newSink(ns, "byo")
		sink.Spec.Storage.Volume.ExistingClaimName = "team-spans"
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "byo")
			g.Expect(condition(got, v1alpha1.ConditionDegraded)).To(HaveField("Reason", v1alpha1.ReasonExistingClaimNotFound))
		}).Should(Succeed())
		Expect(apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "byo-data"), &corev1.PersistentVolumeClaim{}))).To(BeTrue())

		claim := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "team-spans"},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("5Gi")}},
			},
		}
		Expect(k8sClient.Create(ctx, claim)).To(Succeed())
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "byo")
			g.Expect(condition(got, v1alpha1.ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))
			g.Expect(got.Status.VolumeClaimName).To(Equal("team-spans"))
			deploy := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, key(ns, "byo-collector"), deploy)).To(Succeed())
			g.Expect(deploy.Spec.Template.Spec.Volumes).To(ContainElement(HaveField("VolumeSource.PersistentVolumeClaim.ClaimName", "team-spans")))
		}).Should(Succeed())
		Expect(claim.OwnerReferences).To(BeEmpty())
	})
})

var _ = Describe("SpanSink validation by the API server", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
	})

	DescribeTable("refuses an invalid SpanSink with a message that says why",
		func(name string, spec map[string]any, wantMessage string) {
			err := k8sClient.Create(ctx, rawSink(ns, name, spec))
			Expect(err).To(HaveOccurred())
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
			Expect(err.Error()).To(ContainSubstring(wantMessage))
		},
		Entry("batch size zero", "s", map[string]any{"batch": map[string]any{"size": 0}}, "spec.batch.size: Invalid value: 0: spec.batch.size in body should be greater than or equal to 1"),
		Entry("batch size too large", "s", map[string]any{"batch": map[string]any{"size": 1000001, "maxQueuedSpans": 2000000}}, "should be less than or equal to 1000000"),
		Entry("flush interval too short", "s", map[string]any{"batch": map[string]any{"flushInterval": "5ms"}}, "batch.flushInterval must be a duration such as 5s or 250ms, from 10ms to 1h"),
		Entry("flush interval too long", "s", map[string]any{"batch": map[string]any{"flushInterval": "2h"}}, "batch.flushInterval must be a duration such as 5s or 250ms, from 10ms to 1h"),
		Entry("flush interval not a duration", "s", map[string]any{"batch": map[string]any{"flushInterval": "soon"}}, "batch.flushInterval must be a duration such as 5s or 250ms, from 10ms to 1h"),
		Entry("queue smaller than a batch", "s", map[string]any{"batch": map[string]any{"size": 5000, "maxQueuedSpans": 100}}, "batch.maxQueuedSpans (default 100000) must be at least batch.size"),
		Entry("batch larger than the default queue", "s", map[string]any{"batch": map[string]any{"size": 200000}}, "batch.maxQueuedSpans (default 100000) must be at least batch.size, so that a full batch fits in the queue: raise batch.maxQueuedSpans to batch.size or more"),
		Entry("grace period too short to drain", "s", map[string]any{"terminationGracePeriodSeconds": 1}, "terminationGracePeriodSeconds must be at least 10"),
		Entry("grace period longer than a day", "s", map[string]any{"terminationGracePeriodSeconds": 86401}, "should be less than or equal to 86400"),
		Entry("delivery mode", "s", map[string]any{"delivery": map[string]any{"mode": "Sometimes"}}, `spec.delivery.mode: Unsupported value: "Sometimes"`),
		Entry("absolute path", "s", map[string]any{"storage": map[string]any{"path": "/etc/spans.jsonl"}}, "storage.path must be relative to the volume root"),
		Entry("path escapes the volume", "s", map[string]any{"storage": map[string]any{"path": "a/../../b.jsonl"}}, "storage.path must not contain a '..' segment"),
		Entry("path names a directory", "s", map[string]any{"storage": map[string]any{"path": "spans/"}}, "storage.path must name a file, not a directory"),
		Entry("path with a compression suffix", "s", map[string]any{"storage": map[string]any{"path": "traces/spans.GZ"}}, "storage.path must not end in .gz or .zst"),
		Entry("format", "s", map[string]any{"storage": map[string]any{"format": "csv"}}, `spec.storage.format: Unsupported value: "csv"`),
		Entry("dbgpt records", "s", map[string]any{"storage": map[string]any{"dbgpt": map[string]any{"records": "pairs"}}}, `spec.storage.dbgpt.records: Unsupported value: "pairs"`),
		Entry("dbgpt options of otlp-json", "s", map[string]any{"storage": map[string]any{"format": "otlp-json", "dbgpt": map[string]any{"records": "startEnd"}}},
			"storage.dbgpt applies only to storage.format dbgpt: remove storage.dbgpt or set storage.format to dbgpt"),
		Entry("compression", "s", map[string]any{"storage": map[string]any{"rotation": map[string]any{"compress": "lz4"}}}, `Unsupported value: "lz4"`),
		Entry("negative max size", "s", map[string]any{"storage": map[string]any{"rotation": map[string]any{"maxSize": "-1Mi"}}}, "storage.rotation.maxSize must not be negative"),
		Entry("max age in days", "s", map[string]any{"storage": map[string]any{"rotation": map[string]any{"maxAge": "7d"}}}, "storage.rotation.maxAge must be a duration such as 168h"),
		Entry("zero volume", "s", map[string]any{"storage": map[string]any{"volume": map[string]any{"size": "0"}}}, "storage.volume.size must be positive"),
		Entry("existing claim with a class", "s", map[string]any{"storage": map[string]any{"volume": map[string]any{"existingClaimName": "mine", "storageClassName": "fast"}}}, "leave them out when existingClaimName is set"),
		Entry("reclaim policy", "s", map[string]any{"storage": map[string]any{"volume": map[string]any{"reclaimPolicy": "Recycle"}}}, `Unsupported value: "Recycle"`),
		Entry("pod labels that break the selector", "s", map[string]any{"podLabels": map[string]any{"app.kubernetes.io/instance": "other"}}, "podLabels must not set app.kubernetes.io/name or app.kubernetes.io/instance"),
		Entry("name that cannot name a Service", "my.sink", map[string]any{}, "a SpanSink's name must be a DNS label"),
	)

	DescribeTable("refuses changes to what a bound volume cannot change",
		func(volume map[string]any, change func(vol map[string]any), wantMessage string) {
			sink := rawSink(ns, "vol", map[string]any{"storage": map[string]any{"volume": volume}})
			Expect(k8sClient.Create(ctx, sink)).To(Succeed())
			change(sink.Object["spec"].(map[string]any)["storage"].(map[string]any)["volume"].(map[string]any))
			err := k8sClient.Update(ctx, sink)
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring(wantMessage))
		},
		Entry("storage class", map[string]any{"storageClassName": "standard"},
			func(v map[string]any) { v["storageClassName"] = "fast" }, "storage.volume.storageClassName cannot be changed"),
		Entry("storage class added later", map[string]any{},
			func(v map[string]any) { v["storageClassName"] = "fast" }, "storage.volume.storageClassName cannot be changed"),
		Entry("access modes", map[string]any{"accessModes": []any{"ReadWriteOnce"}},
			func(v map[string]any) { v["accessModes"] = []any{"ReadWriteMany"} }, "storage.volume.accessModes cannot be changed"),
		Entry("existing claim", map[string]any{},
			func(v map[string]any) { v["existingClaimName"] = "mine" }, "storage.volume.existingClaimName cannot be set, changed or removed"),
		Entry("shrinking", map[string]any{"size": "2Gi"},
			func(v map[string]any) { v["size"] = "1536Mi" }, "storage.volume.size can only grow"),
	)

	It("takes storage.dbgpt.records with the dbgpt format, defaults it to finished, and refuses a later switch to otlp-json beside it", func() {
		defaulted := rawSink(ns, "finished", map[string]any{"storage": map[string]any{"dbgpt": map[string]any{}}})
		Expect(k8sClient.Create(ctx, defaulted)).To(Succeed())
		Expect(getSink(Default, ctx, ns, "finished").Spec.Storage.DBGPT).To(HaveValue(HaveField("Records", v1alpha1.DBGPTRecordsFinished)))

		pairs := rawSink(ns, "pairs", map[string]any{"storage": map[string]any{"dbgpt": map[string]any{"records": "startEnd"}}})
		Expect(k8sClient.Create(ctx, pairs)).To(Succeed())
		Eventually(func(g Gomega) {
			cm := &corev1.ConfigMap{}
			g.Expect(k8sClient.Get(ctx, key(ns, "pairs-collector"), cm)).To(Succeed())
			cfg, err := config.Parse([]byte(cm.Data[config.FileName]))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(cfg.Storage.DBGPT.Records).To(Equal(config.DBGPTRecordsStartEnd))
		}).Should(Succeed())

		// A merge patch, so that the controller's status writes cannot
		// make the change fail on a stale resourceVersion instead.
		err := k8sClient.Patch(ctx, pairs, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"storage":{"format":"otlp-json"}}}`)))
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("storage.dbgpt applies only to storage.format dbgpt"))
	})

	It("lets the volume grow", func() {
		sink := rawSink(ns, "grow", map[string]any{"storage": map[string]any{"volume": map[string]any{"size": "2Gi"}}})
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		sink.Object["spec"].(map[string]any)["storage"].(map[string]any)["volume"].(map[string]any)["size"] = "4Gi"
		Expect(k8sClient.Update(ctx, sink)).To(Succeed())
	})
})
