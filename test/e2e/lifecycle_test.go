//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tracingv1alpha1 "github.com/spansink/spansink/api/v1alpha1"
)

var _ = Describe("a SpanSink whose batch settings change", func() {
	It("applies them in the running collector while a client keeps sending: same pod, no refused request, no lost span, and says so in status", func(ctx SpecContext) {
		ns := newNamespace(ctx, nil)
		applySample(ns)
		sink := waitReady(ctx, ns, sampleName)
		waitConfigApplied(ctx, ns, sampleName)
		dir := volumeDir(ctx, sink)
		before := collectorPods(ctx, ns, sampleName)
		Expect(before).To(HaveLen(1))
		metricsAddr := serviceAddress(ctx, sink, "metrics")

		sender := &retryingClient{addr: serviceAddress(ctx, sink, "otlp-http"), service: "e2e-live", batch: 3, acked: map[spanKey]bool{}}
		sendCtx, stopSending := context.WithCancel(ctx)
		defer stopSending()
		sent := make(chan error, 1)
		go func() { sent <- sender.run(sendCtx) }()
		Eventually(func() int { return len(sender.acknowledged()) }).WithContext(ctx).Should(BeNumerically(">=", 60))

		// The OpenTelemetry SDK's exporter and telemetrygen send across the
		// change too, one batch after another; either fails the spec on a
		// refused export, and every span they sent is checked in the files.
		grpcAddr, httpAddr := serviceAddress(ctx, sink, "otlp-grpc"), serviceAddress(ctx, sink, "otlp-http")
		clientsCtx, stopClients := context.WithCancel(ctx)
		defer stopClients()
		sdkSent, tgSent := map[spanKey]bool{}, 0
		var clients sync.WaitGroup
		clients.Add(2)
		go func() {
			defer GinkgoRecover()
			defer clients.Done()
			for clientsCtx.Err() == nil {
				for k := range sendWithSDK(ctx, "grpc", grpcAddr, "e2e-live-sdk", 20) {
					sdkSent[k] = true
				}
			}
		}()
		go func() {
			defer GinkgoRecover()
			defer clients.Done()
			for clientsCtx.Err() == nil {
				tgSent += sendWithTelemetrygen(ctx, "http", httpAddr, "e2e-live-tg", 10)
			}
		}()

		// Size 5 with an hour's interval: once applied, every flush is one
		// the size triggered, which the old settings (500 spans or 2s)
		// would almost never do. The queue grows (a queue shrunk below
		// what it holds would rightly push back with 429 until it drains,
		// and this client must meet no refusal).
		patched := time.Now()
		kubectl("patch", "spansink", sampleName, "-n", ns, "--type=merge",
			"-p", `{"spec":{"batch":{"size":5,"flushInterval":"1h","maxQueuedSpans":60000}}}`)
		Eventually(func() float64 {
			return metricSum(scrape(ctx, metricsAddr), "spansink_queue_capacity_spans", nil)
		}).WithContext(ctx).WithTimeout(liveChangeBound).WithPolling(100*time.Millisecond).Should(Equal(60000.0), "maxQueuedSpans in force in the running collector")
		inForce := time.Since(patched)
		sink = waitConfigApplied(ctx, ns, sampleName)
		statusSays := time.Since(patched)
		GinkgoWriter.Printf("live change in force after %s, status ConfigApplied after %s\n", inForce.Round(time.Millisecond), statusSays.Round(time.Millisecond))

		atApply := scrape(ctx, metricsAddr)
		ackedAtApply := len(sender.acknowledged())
		Eventually(func() int { return len(sender.acknowledged()) }).WithContext(ctx).Should(BeNumerically(">=", ackedAtApply+60))
		stopSending()
		stopClients()
		clients.Wait()
		Expect(<-sent).To(Succeed())
		GinkgoWriter.Printf("retrying client: %d retries, %d of them refusals by the collector\n", sender.retries, sender.refused)
		Expect(sender.refused).To(BeZero(), "the collector refused no request: it was not restarted and took the change live")
		Expect(sdkSent).NotTo(BeEmpty())
		Expect(tgSent).To(BeNumerically(">", 0))

		after := scrape(ctx, metricsAddr)
		sizeFlushes := metricSum(after, "spansink_flushes_total", map[string]string{"trigger": "size"}) - metricSum(atApply, "spansink_flushes_total", map[string]string{"trigger": "size"})
		intervalFlushes := metricSum(after, "spansink_flushes_total", map[string]string{"trigger": "interval"}) - metricSum(atApply, "spansink_flushes_total", map[string]string{"trigger": "interval"})
		Expect(sizeFlushes).To(BeNumerically(">", 0), "batch.size 5 triggers flushes")
		Expect(intervalFlushes).To(BeZero(), "flushInterval is 1h now")

		pods := collectorPods(ctx, ns, sampleName)
		Expect(pods).To(HaveLen(1))
		Expect(pods[0].UID).To(Equal(before[0].UID), "the same pod runs")
		Expect(pods[0].Status.ContainerStatuses).To(HaveLen(1))
		Expect(pods[0].Status.ContainerStatuses[0].RestartCount).To(BeZero())

		// A graceful stop drains what the pod still holds.
		kubectl("delete", "pod", "-n", ns, pods[0].Name, "--wait=true")
		expectAcknowledgedStored(ctx, dir, sender.acknowledged(), "e2e-live")
		Eventually(func(g Gomega) {
			stored := readSpans(dir, string(sink.Spec.Storage.Format))
			g.Expect(spansOf(stored, "e2e-live-sdk")).To(Equal(onceEach(sdkSent)))
			g.Expect(distinctOnce(spansOf(stored, "e2e-live-tg"))).To(Equal(tgSent))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		GinkgoWriter.Printf("across the live change: %d spans of the retrying client, %d of the SDK exporter, %d of telemetrygen\n", len(sender.acknowledged()), len(sdkSent), tgSent)
	})
})

var _ = Describe("a SpanSink whose storage format changes", func() {
	It("rolls its collector while a client keeps sending, and loses no acknowledged span", func(ctx SpecContext) {
		ns := newNamespace(ctx, nil)
		applySample(ns)
		sink := waitReady(ctx, ns, sampleName)
		dir := volumeDir(ctx, sink)
		before := collectorPods(ctx, ns, sampleName)
		Expect(before).To(HaveLen(1))

		sender := &retryingClient{addr: serviceAddress(ctx, sink, "otlp-http"), service: "e2e-rolling", batch: 3, acked: map[spanKey]bool{}}
		sendCtx, stopSending := context.WithCancel(ctx)
		defer stopSending()
		sent := make(chan error, 1)
		go func() { sent <- sender.run(sendCtx) }()
		Eventually(func() int { return len(sender.acknowledged()) }).WithContext(ctx).Should(BeNumerically(">=", 60))

		// The format cannot change under a running file: the pod rolls.
		kubectl("patch", "spansink", sampleName, "-n", ns, "--type=merge",
			"-p", `{"spec":{"storage":{"format":"otlp-json","path":"otlp/spans.jsonl"}}}`)
		var after corev1.Pod
		Eventually(func(g Gomega) {
			pods := collectorPods(ctx, ns, sampleName)
			g.Expect(pods).To(HaveLen(1))
			g.Expect(pods[0].UID).NotTo(Equal(before[0].UID))
			g.Expect(isReady(&pods[0])).To(BeTrue())
			after = pods[0]
		}).WithContext(ctx).WithTimeout(2*time.Minute).WithPolling(200*time.Millisecond).Should(Succeed(), func() string { return describe(ctx, ns) })
		waitReady(ctx, ns, sampleName)

		ackedAtRoll := len(sender.acknowledged())
		Eventually(func() int { return len(sender.acknowledged()) }).WithContext(ctx).Should(BeNumerically(">=", ackedAtRoll+60))
		stopSending()
		Expect(<-sent).To(Succeed())
		Expect(sender.retries).To(BeNumerically(">", 0), "the client met the roll: refused or 503 answers it retried")

		deployments := &appsv1.DeploymentList{}
		Expect(suite.k8s.List(ctx, deployments, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/instance": sampleName})).To(Succeed())
		Expect(deployments.Items).To(HaveLen(1))
		Expect(deployments.Items[0].Spec.Strategy.Type).To(Equal(appsv1.RecreateDeploymentStrategyType))

		kubectl("delete", "pod", "-n", ns, after.Name, "--wait=true")
		acked := sender.acknowledged()
		expectAcknowledgedStored(ctx, dir, acked, "e2e-rolling")
		// Both formats hold some: the lines before the roll in dbgpt, after it in otlp-json.
		Expect(spansOf(readSpans(filepath.Join(dir, "otlp"), "otlp-json"), "e2e-rolling")).NotTo(BeEmpty())
		GinkgoWriter.Printf("%d spans acknowledged across the roll, %d retries\n", len(acked), sender.retries)
	})
})

// liveChangeBound is how soon a live change must be in force in the
// running collector: the local node projects a changed ConfigMap within 1.5
// sync periods (the period plus the kubelet's jitter; set short by the
// suite, as a kubelet's is about a minute), the collector reacts to the
// swapped ..data link in about 0.1 s, and the rest is slack for a loaded
// machine.
const liveChangeBound = 3*localNodeVolumeSync/2 + 10*time.Second

// waitConfigApplied waits until the SpanSink says its running collector
// applies the config of its current generation, and returns it.
func waitConfigApplied(ctx context.Context, namespace, name string) *tracingv1alpha1.SpanSink {
	GinkgoHelper()
	var sink *tracingv1alpha1.SpanSink
	Eventually(func(g Gomega) {
		sink = getSink(ctx, namespace, name)
		g.Expect(sink.Status.ObservedGeneration).To(Equal(sink.Generation))
		applied := apimeta.FindStatusCondition(sink.Status.Conditions, tracingv1alpha1.ConditionConfigApplied)
		g.Expect(applied).NotTo(BeNil())
		g.Expect(applied.Status).To(Equal(metav1.ConditionTrue), "ConfigApplied: %s: %s", applied.Reason, applied.Message)
		g.Expect(sink.Status.AppliedConfigHash).To(Equal(sink.Status.ConfigHash))
	}).WithContext(ctx).WithTimeout(liveChangeBound+30*time.Second).WithPolling(200*time.Millisecond).Should(Succeed(), func() string {
		return describe(ctx, namespace)
	})
	return sink
}

// expectAcknowledgedStored checks that every acknowledged span of service
// is in the files under dir, in whichever format each file holds.
func expectAcknowledgedStored(ctx context.Context, dir string, acked map[spanKey]bool, service string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		stored := spansOf(readSpansAnyFormat(dir), service)
		var missing []spanKey
		for k := range acked {
			if stored[k] == 0 {
				missing = append(missing, k)
			}
		}
		g.Expect(missing).To(BeEmpty(), "acknowledged spans missing from the files (%d acknowledged)", len(acked))
		for k, n := range stored {
			if n > 1 {
				GinkgoWriter.Printf("span %v stored %d times (a retry after a lost acknowledgement)\n", k, n)
			}
		}
	}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
}

var _ = Describe("SpanSinks in two namespaces", func() {
	It("keep their spans, volumes and lifecycles apart", func(ctx SpecContext) {
		nsA, nsB := newNamespace(ctx, nil), newNamespace(ctx, nil)
		applySample(nsA)
		applySample(nsB)
		sinkA, sinkB := waitReady(ctx, nsA, sampleName), waitReady(ctx, nsB, sampleName)
		dirA, dirB := volumeDir(ctx, sinkA), volumeDir(ctx, sinkB)
		Expect(dirA).NotTo(Equal(dirB))

		sentA := sendWithSDK(ctx, "http", serviceAddress(ctx, sinkA, "otlp-http"), "e2e-ns-a", 40)
		sentB := sendWithSDK(ctx, "grpc", serviceAddress(ctx, sinkB, "otlp-grpc"), "e2e-ns-b", 30)
		format := string(sinkA.Spec.Storage.Format)
		Eventually(func(g Gomega) {
			storedA, storedB := readSpans(dirA, format), readSpans(dirB, format)
			g.Expect(spansOf(storedA, "e2e-ns-a")).To(Equal(onceEach(sentA)))
			g.Expect(spansOf(storedA, "e2e-ns-b")).To(BeEmpty())
			g.Expect(spansOf(storedB, "e2e-ns-b")).To(Equal(onceEach(sentB)))
			g.Expect(spansOf(storedB, "e2e-ns-a")).To(BeEmpty())
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())

		kubectl("delete", "spansink", sampleName, "-n", nsA, "--wait=true")
		Eventually(func() []corev1.Pod { return collectorPods(ctx, nsA, sampleName) }).WithContext(ctx).WithTimeout(time.Minute).Should(BeEmpty())
		sinkB = waitReady(ctx, nsB, sampleName)
		more := sendWithSDK(ctx, "http", serviceAddress(ctx, sinkB, "otlp-http"), "e2e-ns-b-after", 10)
		Eventually(func() map[spanKey]int {
			return spansOf(readSpans(dirB, format), "e2e-ns-b-after")
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Equal(onceEach(more)))
	})
})

var _ = Describe("deleting a SpanSink", func() {
	It("garbage-collects its children, keeps the claim and data with Retain and removes them with Delete", func(ctx SpecContext) {
		ns := newNamespace(ctx, nil)
		for name, policy := range map[string]string{"keep": "Retain", "drop": "Delete"} {
			applyYAML(fmt.Sprintf(`apiVersion: tracing.spansink.dev/v1alpha1
kind: SpanSink
metadata:
  name: %s
  namespace: %s
spec:
  batch:
    size: 10
    flushInterval: 200ms
  storage:
    volume:
      size: 64Mi
      reclaimPolicy: %s
`, name, ns, policy))
		}
		keep, drop := waitReady(ctx, ns, "keep"), waitReady(ctx, ns, "drop")
		keepDir, dropDir := volumeDir(ctx, keep), volumeDir(ctx, drop)
		keepClaim, dropClaim := keep.Status.VolumeClaimName, drop.Status.VolumeClaimName
		sent := sendWithSDK(ctx, "http", serviceAddress(ctx, keep, "otlp-http"), "e2e-retain", 25)
		sendWithSDK(ctx, "http", serviceAddress(ctx, drop, "otlp-http"), "e2e-delete", 25)
		format := string(keep.Spec.Storage.Format)
		Eventually(func() int { return len(spansOf(readSpans(dropDir, format), "e2e-delete")) }).WithContext(ctx).Should(Equal(25))

		kubectl("delete", "spansink", "keep", "drop", "-n", ns, "--wait=true")

		for _, name := range []string{"keep", "drop"} {
			selector := client.MatchingLabels{"app.kubernetes.io/instance": name}
			Eventually(func(g Gomega) {
				for _, list := range []client.ObjectList{&appsv1.DeploymentList{}, &appsv1.ReplicaSetList{}, &corev1.PodList{},
					&corev1.ServiceList{}, &corev1.ConfigMapList{}, &corev1.ServiceAccountList{}} {
					g.Expect(suite.k8s.List(ctx, list, client.InNamespace(ns), selector)).To(Succeed())
					g.Expect(apimeta.LenList(list)).To(BeZero(), "%T of %s left after deletion", list, name)
				}
			}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed(), func() string { return describe(ctx, ns) })
		}

		claim := &corev1.PersistentVolumeClaim{}
		Expect(suite.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: keepClaim}, claim)).To(Succeed())
		Expect(claim.DeletionTimestamp).To(BeNil())
		Expect(spansOf(readSpans(keepDir, format), "e2e-retain")).To(Equal(onceEach(sent)), "Retain keeps every span, also those flushed on shutdown")

		Eventually(func(g Gomega) {
			err := suite.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: dropClaim}, &corev1.PersistentVolumeClaim{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "claim of the Delete sink: %v", err)
			_, err = os.Stat(dropDir)
			g.Expect(os.IsNotExist(err)).To(BeTrue(), "volume directory of the Delete sink: %v", err)
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
	})
})

var _ = Describe("a SpanSink whose claim cannot bind", func() {
	It("reports that it is not ready and Degraded, naming the claim that waits and its missing StorageClass", func(ctx SpecContext) {
		ns := newNamespace(ctx, nil)
		applyYAML(fmt.Sprintf(`apiVersion: tracing.spansink.dev/v1alpha1
kind: SpanSink
metadata:
  name: nowhere
  namespace: %s
spec:
  storage:
    volume:
      storageClassName: e2e-no-such-class
`, ns))
		Eventually(func(g Gomega) {
			sink := getSink(ctx, ns, "nowhere")
			ready := apimeta.FindStatusCondition(sink.Status.Conditions, tracingv1alpha1.ConditionReady)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
			var explained []string
			for _, t := range []string{tracingv1alpha1.ConditionProgressing, tracingv1alpha1.ConditionDegraded} {
				if c := apimeta.FindStatusCondition(sink.Status.Conditions, t); c != nil && c.Status == metav1.ConditionTrue {
					explained = append(explained, c.Reason+": "+c.Message)
				}
			}
			g.Expect(explained).To(ContainElement(And(ContainSubstring(sink.Status.VolumeClaimName), ContainSubstring("e2e-no-such-class"))),
				"Progressing or Degraded names the claim and the storage class it waits for")
			// A class that does not exist will not appear by itself: the
			// operator needs help, and says so.
			degraded := apimeta.FindStatusCondition(sink.Status.Conditions, tracingv1alpha1.ConditionDegraded)
			g.Expect(degraded).NotTo(BeNil())
			g.Expect(degraded.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(degraded.Reason).To(Equal(tracingv1alpha1.ReasonClaimUnbindable))
			g.Expect(degraded.Message).To(And(ContainSubstring(sink.Status.VolumeClaimName), ContainSubstring(`"e2e-no-such-class" does not exist`)))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed(), func() string { return describe(ctx, ns) })
		claim := &corev1.PersistentVolumeClaim{}
		Expect(suite.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: getSink(ctx, ns, "nowhere").Status.VolumeClaimName}, claim)).To(Succeed())
		Expect(claim.Status.Phase).To(Equal(corev1.ClaimPending))
	})
})

var _ = Describe("a namespace that enforces the restricted Pod Security Standard", func() {
	It("admits the collector pods", func(ctx SpecContext) {
		ns := newNamespace(ctx, map[string]string{
			"pod-security.kubernetes.io/enforce":         "restricted",
			"pod-security.kubernetes.io/enforce-version": "latest",
		})
		// The API server enforces it: a pod that is not restricted is refused.
		// (Retried while the namespace's default ServiceAccount, which
		// admission looks up first, is still being created.)
		Eventually(func() error {
			return suite.k8s.Create(ctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "not-restricted", Namespace: ns},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: collectorImage}}},
			})
		}).WithContext(ctx).Should(MatchError(ContainSubstring("violates PodSecurity")))

		applySample(ns)
		sink := waitReady(ctx, ns, sampleName)
		sent := sendWithSDK(ctx, "grpc", serviceAddress(ctx, sink, "otlp-grpc"), "e2e-restricted", 20)
		Eventually(func() map[spanKey]int {
			return spansOf(readSpans(volumeDir(ctx, sink), string(sink.Spec.Storage.Format)), "e2e-restricted")
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Equal(onceEach(sent)))
	})
})

var _ = Describe("the local node", func() {
	It("refuses pods it cannot run faithfully, with a reason and an event", func(ctx SpecContext) {
		ns := newNamespace(ctx, nil)
		pods := map[string]corev1.PodSpec{
			"other-image": {Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
			"as-root": {Containers: []corev1.Container{{Name: "c", Image: collectorImage, Args: []string{"--help"},
				SecurityContext: &corev1.SecurityContext{RunAsUser: new(int64)}}}},
		}
		for name, spec := range pods {
			spec.AutomountServiceAccountToken = new(bool)
			// Admission wants the namespace's default ServiceAccount, which
			// the controller manager creates shortly after the namespace.
			Eventually(func() error {
				return suite.k8s.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec})
			}).WithContext(ctx).Should(Succeed())
		}
		for name, why := range map[string]string{"other-image": `image "nginx:1.27" is not one this node runs`, "as-root": "runs as root"} {
			Eventually(func(g Gomega) {
				pod := &corev1.Pod{}
				g.Expect(suite.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pod)).To(Succeed())
				g.Expect(pod.Status.Phase).To(Equal(corev1.PodPending))
				g.Expect(pod.Status.Reason).To(Equal("UnsupportedByLocalNode"))
				g.Expect(pod.Status.Message).To(ContainSubstring(why))
				events := &corev1.EventList{}
				g.Expect(suite.k8s.List(ctx, events, client.InNamespace(ns))).To(Succeed())
				g.Expect(events.Items).To(ContainElement(And(
					HaveField("InvolvedObject.Name", name),
					HaveField("Type", corev1.EventTypeWarning),
					HaveField("Reason", "UnsupportedByLocalNode"))))
			}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		}
	})
})

// applyYAML applies a manifest with kubectl from standard input.
func applyYAML(manifest string) {
	GinkgoHelper()
	cmd := kubectlCommand("apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	out, err := cmd.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "kubectl apply: %s", out)
}

// isReady reports the pod's Ready condition.
func isReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// scrape reads a Prometheus text exposition.
func scrape(ctx context.Context, addr string) string {
	GinkgoHelper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	Expect(err).NotTo(HaveOccurred())
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
	return string(body)
}

// metricSum adds up the samples of a metric whose labels include want.
func metricSum(exposition, name string, want map[string]string) float64 {
	var sum float64
	for _, line := range strings.Split(exposition, "\n") {
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		matches := true
		for k, v := range want {
			matches = matches && strings.Contains(line, k+`="`+v+`"`)
		}
		if !matches {
			continue
		}
		var value float64
		if _, err := fmt.Sscan(line[strings.LastIndex(line, " ")+1:], &value); err == nil {
			sum += value
		}
	}
	return sum
}
