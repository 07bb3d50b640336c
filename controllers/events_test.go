package controllers

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	"github.com/spansink/spansink/api/v1alpha1"
)

var _ = Describe("An Event recorded again for an unchanged SpanSink", func() {
	// announceDegraded records its Warning before the status patch; when
	// that patch fails (a conflict with another writer), the next pass
	// records the same Warning for the same, unchanged SpanSink. The
	// recorder counts it in the first Event's series, a patch of that
	// Event, which the operator's role must allow.
	It("is counted in the first Event's series, written with the operator's own permissions", func() {
		ctx := context.Background()
		ns := newNamespace(ctx)
		Expect(k8sClient.Create(ctx, newSink(ns, "again"))).To(Succeed())
		sink := &v1alpha1.SpanSink{}
		Expect(k8sClient.Get(ctx, key(ns, "again"), sink)).To(Succeed())

		const note = "ConfigMap again-collector is held by an object this SpanSink does not control"
		for range 2 {
			managerEvents.Eventf(sink, nil, corev1.EventTypeWarning, v1alpha1.ReasonChildConflict, "Reconcile", note)
		}
		Eventually(func(g Gomega) {
			var series int32
			for _, e := range eventsAbout(g, ctx, ns, "again") {
				if e.Reason == v1alpha1.ReasonChildConflict && e.Note == note {
					g.Expect(e.Series).NotTo(BeNil(), "the second recording is counted in the first Event")
					series = e.Series.Count
				}
			}
			g.Expect(series).To(BeNumerically("==", 2))
		}).Should(Succeed())
	})
})
