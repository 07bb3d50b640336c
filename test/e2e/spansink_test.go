//go:build e2e

package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
)

var _ = Describe("the sample SpanSink", func() {
	It("becomes Ready and stores exactly the spans that the SDK exporters and telemetrygen send", func(ctx SpecContext) {
		ns := newNamespace(ctx, nil)
		applySample(ns)
		sink := waitReady(ctx, ns, sampleName)
		waitCurrent(ctx, ns, sampleName)

		pods := collectorPods(ctx, ns, sampleName)
		Expect(pods).To(HaveLen(1))
		Expect(pods[0].Status.PodIP).NotTo(BeEmpty())
		Expect(pods[0].Status.Phase).To(Equal(corev1.PodRunning))

		httpAddr := serviceAddress(ctx, sink, "otlp-http")
		grpcAddr := serviceAddress(ctx, sink, "otlp-grpc")
		sentHTTP := sendWithSDK(ctx, "http", httpAddr, "e2e-sdk-http", 120)
		sentGRPC := sendWithSDK(ctx, "grpc", grpcAddr, "e2e-sdk-grpc", 80)
		tgHTTP := sendWithTelemetrygen(ctx, "http", httpAddr, "e2e-tg-http", 50)
		tgGRPC := sendWithTelemetrygen(ctx, "grpc", grpcAddr, "e2e-tg-grpc", 50)

		dir := volumeDir(ctx, sink)
		format := string(sink.Spec.Storage.Format)
		Eventually(func(g Gomega) {
			stored := readSpans(dir, format)
			g.Expect(spansOf(stored, "e2e-sdk-http")).To(Equal(onceEach(sentHTTP)))
			g.Expect(spansOf(stored, "e2e-sdk-grpc")).To(Equal(onceEach(sentGRPC)))
			g.Expect(distinctOnce(spansOf(stored, "e2e-tg-http"))).To(Equal(tgHTTP))
			g.Expect(distinctOnce(spansOf(stored, "e2e-tg-grpc"))).To(Equal(tgGRPC))
		}).WithContext(ctx).WithTimeout(30*time.Second).WithPolling(500*time.Millisecond).Should(Succeed(), func() string {
			return describe(ctx, ns)
		})
	})
})

// onceEach is the count map of a set of spans each stored exactly once.
func onceEach(sent map[spanKey]bool) map[spanKey]int {
	out := make(map[spanKey]int, len(sent))
	for k := range sent {
		out[k] = 1
	}
	return out
}

// distinctOnce is the number of spans when each is stored exactly once,
// and -1 when any is stored twice.
func distinctOnce(counts map[spanKey]int) int {
	for _, n := range counts {
		if n != 1 {
			return -1
		}
	}
	return len(counts)
}
