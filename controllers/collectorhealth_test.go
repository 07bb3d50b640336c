package controllers

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/spansink/spansink/api/v1alpha1"
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

	degraded := func(name string) *metav1.Condition {
		return condition(getSink(Default, ctx, ns, name), v1alpha1.ConditionDegraded)
	}

	It("is reported as Degraded with the volume as the cause, and clears when the collector is ready again", func() {
		sink := newSink(ns, "full")
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		waitForCollector(ctx, ns, "full")
		pod := newCollectorPod(ctx, sink, "full-collector-abc")
		started := time.Now().Add(-time.Minute)
		setCollectorPod(ctx, pod, true, started, started.Add(time.Second))
		setReadyReplicas(ctx, ns, "full-collector", 1)
		Eventually(func(g Gomega) {
			g.Expect(degraded("full")).To(HaveField("Status", metav1.ConditionFalse))
		}).Should(Succeed())

		// The volume fills up: the collector turns not ready.
		setCollectorPod(ctx, pod, false, started, time.Now())
		setReadyReplicas(ctx, ns, "full-collector", 0)
		Eventually(func(g Gomega) {
			c := degraded("full")
			g.Expect(c).To(And(HaveField("Status", metav1.ConditionTrue), HaveField("Reason", v1alpha1.ReasonVolumeUnwritable)))
			g.Expect(c.Message).To(And(ContainSubstring("full-collector-abc"), ContainSubstring("full, read-only or failing")))
		}).Should(Succeed())
		got := getSink(Default, ctx, ns, "full")
		Expect(got.Status.ObservedGeneration).To(Equal(got.Generation), "the children still match the spec")

		// Space is freed: the collector is ready again.
		setCollectorPod(ctx, pod, true, started, time.Now())
		setReadyReplicas(ctx, ns, "full-collector", 1)
		Eventually(func(g Gomega) {
			g.Expect(degraded("full")).To(And(HaveField("Status", metav1.ConditionFalse), HaveField("Reason", v1alpha1.ReasonReconciled)))
		}).Should(Succeed())
	})

	It("counts a collector that never became ready only after the grace period, and not one that is starting", func() {
		sink := newSink(ns, "starting")
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		waitForCollector(ctx, ns, "starting")
		created := time.Now().Add(-time.Hour)

		// Started on a full volume and not ready yet: not degraded within
		// the grace period, which ends in a few seconds.
		pod := newCollectorPod(ctx, sink, "starting-collector-abc")
		setCollectorPod(ctx, pod, false, time.Now().Add(-NotReadyGrace+4*time.Second), created)
		setReadyReplicas(ctx, ns, "starting-collector", 0)
		Consistently(func(g Gomega) {
			// No condition at all yet (the first status patch may still be
			// on its way) is not degraded either.
			g.Expect(degraded("starting")).To(Or(BeNil(), Not(HaveField("Reason", v1alpha1.ReasonVolumeUnwritable))))
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
		p := &corev1.Pod{Status: collectorPodStatus(ready, started, transition)}
		p.Status.Phase = phase
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
