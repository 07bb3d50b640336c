package controllers

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/controllers/manifests"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var _ = Describe("A collector that cannot write its volume", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
	})

	// setPod plays the kubelet, which envtest does not run: the collector
	// pod runs since started, and its Ready condition last changed at
	// transition.
	setPod := func(pod *corev1.Pod, ready bool, started, transition time.Time) {
		readyStatus := corev1.ConditionFalse
		if ready {
			readyStatus = corev1.ConditionTrue
		}
		pod.Status = corev1.PodStatus{
			Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{
				Type: corev1.PodReady, Status: readyStatus, LastTransitionTime: metav1.NewTime(transition),
			}},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: "collector", Ready: ready, Image: testImage, ImageID: testImage,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}},
			}},
		}
		Expect(k8sClient.Status().Update(ctx, pod)).To(Succeed())
	}
	// setReadyReplicas plays the Deployment controller, whose status
	// change on a pod's readiness is what makes the operator look.
	setReadyReplicas := func(name string, ready int32) {
		Eventually(func(g Gomega) {
			deploy := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, key(ns, name), deploy)).To(Succeed())
			deploy.Status.ObservedGeneration = deploy.Generation
			deploy.Status.Replicas, deploy.Status.UpdatedReplicas = 1, 1
			deploy.Status.ReadyReplicas, deploy.Status.AvailableReplicas = ready, ready
			g.Expect(k8sClient.Status().Update(ctx, deploy)).To(Succeed())
		}).Should(Succeed())
	}
	newPod := func(sink *v1alpha1.SpanSink, name string) *corev1.Pod {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: manifests.Labels(sink)},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "collector", Image: testImage}}},
		}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		return pod
	}
	degraded := func(name string) *metav1.Condition {
		got := &v1alpha1.SpanSink{}
		Expect(k8sClient.Get(ctx, key(ns, name), got)).To(Succeed())
		return condition(got, v1alpha1.ConditionDegraded)
	}

	It("is reported as Degraded with the volume as the cause, and clears when the collector is ready again", func() {
		sink := newSink(ns, "full")
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(ns, "full-collector"), &appsv1.Deployment{})).To(Succeed())
		}).Should(Succeed())
		pod := newPod(sink, "full-collector-abc")
		started := time.Now().Add(-time.Minute)
		setPod(pod, true, started, started.Add(time.Second))
		setReadyReplicas("full-collector", 1)
		Eventually(func(g Gomega) {
			g.Expect(degraded("full")).To(HaveField("Status", metav1.ConditionFalse))
		}).Should(Succeed())

		// The volume fills up: the collector turns not ready.
		setPod(pod, false, started, time.Now())
		setReadyReplicas("full-collector", 0)
		Eventually(func(g Gomega) {
			c := degraded("full")
			g.Expect(c).To(And(HaveField("Status", metav1.ConditionTrue), HaveField("Reason", v1alpha1.ReasonVolumeUnwritable)))
			g.Expect(c.Message).To(And(ContainSubstring("full-collector-abc"), ContainSubstring("full, read-only or failing")))
		}).Should(Succeed())
		got := &v1alpha1.SpanSink{}
		Expect(k8sClient.Get(ctx, key(ns, "full"), got)).To(Succeed())
		Expect(got.Status.ObservedGeneration).To(Equal(got.Generation), "the children still match the spec")

		// Space is freed: the collector is ready again.
		setPod(pod, true, started, time.Now())
		setReadyReplicas("full-collector", 1)
		Eventually(func(g Gomega) {
			g.Expect(degraded("full")).To(And(HaveField("Status", metav1.ConditionFalse), HaveField("Reason", v1alpha1.ReasonReconciled)))
		}).Should(Succeed())
	})

	It("counts a collector that never became ready only after the grace period, and not one that is starting", func() {
		sink := newSink(ns, "starting")
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(ns, "starting-collector"), &appsv1.Deployment{})).To(Succeed())
		}).Should(Succeed())
		created := time.Now().Add(-time.Hour)

		// Started on a full volume and not ready yet: not degraded within
		// the grace period, which ends in a few seconds.
		pod := newPod(sink, "starting-collector-abc")
		setPod(pod, false, time.Now().Add(-NotReadyGrace+4*time.Second), created)
		setReadyReplicas("starting-collector", 0)
		Consistently(func(g Gomega) {
			g.Expect(degraded("starting")).NotTo(HaveField("Reason", v1alpha1.ReasonVolumeUnwritable))
		}, 2*time.Second).Should(Succeed())

		// Still never ready when the grace is up: the operator looks again
		// by itself (nothing else changes) and reports the volume.
		Eventually(func(g Gomega) {
			g.Expect(degraded("starting")).To(HaveField("Reason", v1alpha1.ReasonVolumeUnwritable))
		}).Should(Succeed())
	})
})

var _ = Describe("volumeFailing", func() {
	now := time.Date(2031, 3, 14, 12, 0, 0, 0, time.UTC)
	pod := func(phase corev1.PodPhase, ready bool, started, transition time.Time, deleting bool) *corev1.Pod {
		readyStatus := corev1.ConditionFalse
		if ready {
			readyStatus = corev1.ConditionTrue
		}
		p := &corev1.Pod{Status: corev1.PodStatus{
			Phase:      phase,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: readyStatus, LastTransitionTime: metav1.NewTime(transition)}},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: "collector", Ready: ready,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}},
			}},
		}}
		if deleting {
			p.DeletionTimestamp = &metav1.Time{Time: now}
		}
		return p
	}
	DescribeTable("tells a failing volume from a pod that starts, stops or is fine",
		func(p *corev1.Pod, failing bool, recheck time.Duration) {
			gotFailing, gotRecheck := volumeFailing(p, now)
			Expect(gotFailing).To(Equal(failing))
			Expect(gotRecheck).To(Equal(recheck))
		},
		Entry("ready", pod(corev1.PodRunning, true, now.Add(-time.Hour), now.Add(-time.Hour), false), false, time.Duration(0)),
		Entry("turned not ready while running", pod(corev1.PodRunning, false, now.Add(-time.Hour), now.Add(-time.Minute), false), true, time.Duration(0)),
		Entry("not ready since before it started, for longer than the grace", pod(corev1.PodRunning, false, now.Add(-NotReadyGrace), now.Add(-time.Hour), false), true, time.Duration(0)),
		Entry("starting", pod(corev1.PodRunning, false, now.Add(-10*time.Second), now.Add(-time.Hour), false), false, NotReadyGrace-10*time.Second),
		Entry("stopping", pod(corev1.PodRunning, false, now.Add(-time.Hour), now.Add(-time.Minute), true), false, time.Duration(0)),
		Entry("pending", pod(corev1.PodPending, false, now.Add(-time.Hour), now.Add(-time.Minute), false), false, time.Duration(0)),
	)
})
