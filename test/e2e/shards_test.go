//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tracingv1alpha1 "github.com/spansink/spansink/api/v1alpha1"
)

var _ = Describe("a SpanSink with three shards", func() {
	It("spreads clients over the shards and keeps every acknowledged span through a rolling change, a killed shard and 3 → 1 → 3", func(ctx SpecContext) {
		ns := newNamespace(ctx, nil)
		applySample(ns)
		// Durable, so that a killed process has lost nothing it acknowledged.
		kubectl("patch", "spansink", sampleName, "-n", ns, "--type=merge", "-p", `{"spec":{"delivery":{"mode":"Durable"}}}`)
		kubectl("scale", "spansink/"+sampleName, "-n", ns, "--replicas", "3")
		sink := waitShardsServing(ctx, ns, 3)
		addr := serviceAddress(ctx, sink, "otlp-http")

		const service = "e2e-shards"
		senders := make([]*retryingClient, 6)
		stop := make(chan struct{})
		var sending sync.WaitGroup
		sendErrs := make(chan error, len(senders))
		for i := range senders {
			senders[i] = &retryingClient{addr: addr, service: service, batch: 5, acked: map[spanKey]bool{}}
			sending.Add(1)
			go func(c *retryingClient) {
				defer sending.Done()
				sendErrs <- c.send(ctx, stop)
			}(senders[i])
		}
		acked := func() int {
			n := 0
			for _, c := range senders {
				n += c.count()
			}
			return n
		}
		clients := func() string {
			var b bytes.Buffer
			for i, c := range senders {
				fmt.Fprintf(&b, "client %d: %s\n", i, c)
			}
			return b.String()
		}
		prober := newFreshConnectionProber(addr)
		probeCtx, stopProbing := context.WithCancel(ctx)
		defer stopProbing()
		go prober.run(probeCtx)
		Eventually(acked).WithContext(ctx).Should(BeNumerically(">=", 500), clients)

		By("rolling a pod template change: one shard at a time, never all down")
		before := podUIDs(ctx, ns)
		watchCtx, stopWatching := context.WithCancel(ctx)
		minReady := make(chan int, 1)
		go func() { minReady <- minReadyEndpoints(watchCtx, ns, sampleName+"-collector") }()
		kubectl("patch", "spansink", sampleName, "-n", ns, "--type=merge", "-p", `{"spec":{"podAnnotations":{"e2e/rolled":"yes"}}}`)
		Eventually(func(g Gomega) {
			pods := readyPods(ctx, ns)
			g.Expect(pods).To(HaveLen(3))
			for _, pod := range pods {
				g.Expect(before).NotTo(HaveKey(pod.UID), "pod %s was not replaced", pod.Name)
			}
		}).WithContext(ctx).WithTimeout(4*time.Minute).WithPolling(200*time.Millisecond).Should(Succeed(), func() string { return describe(ctx, ns) })
		waitShardsServing(ctx, ns, 3)
		stopWatching()
		rollWindow, rollRefused, rollProbes := prober.reset()
		GinkgoWriter.Printf("after the roll:\n%s", clients())
		lowest := <-minReady
		Expect(lowest).To(BeNumerically(">=", 1), "every shard was out of the Service at once during the roll")
		Expect(rollWindow).To(BeNumerically("<", 2*time.Second), "fresh connections were refused for %s in a row during the roll", rollWindow)

		By("killing one shard's process: the others keep taking spans")
		victim := shardPod(ctx, ns, 1)
		pid := suite.local.Node.ContainerPID(victim.UID, "collector")
		Expect(pid).NotTo(BeZero())
		Expect(syscall.Kill(pid, syscall.SIGKILL)).To(Succeed())
		killedAt := time.Now()
		// The node restarts the container after its crash back-off (10 s),
		// so the shard is down for that long at least.
		Eventually(func(g Gomega) {
			pod := shardPod(ctx, ns, 1)
			g.Expect(pod.Status.ContainerStatuses).To(ContainElement(HaveField("State.Running", BeNil())))
		}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
		// A fresh connection goes to a ready shard: the prober's spans go
		// on being taken while the killed one is down.
		atKill, probedAtKill := acked(), prober.accepted()
		Eventually(prober.accepted).WithContext(ctx).WithTimeout(5*time.Second).Should(BeNumerically(">=", probedAtKill+20), "fresh connections were not taken by the other shards")
		Expect(suite.local.Node.ContainerPID(victim.UID, "collector")).To(BeZero(), "the killed shard came back before the others had shown they take spans")
		// The clients that were on the killed shard reconnect elsewhere.
		Eventually(acked).WithContext(ctx).WithTimeout(time.Minute).Should(BeNumerically(">=", atKill+300), func() string { return "the clients did not get their spans in again:\n" + clients() })
		clientsBack := time.Since(killedAt)
		Eventually(func(g Gomega) {
			pod := shardPod(ctx, ns, 1)
			g.Expect(pod.UID).To(Equal(victim.UID))
			g.Expect(pod.Status.ContainerStatuses).To(ContainElement(HaveField("RestartCount", BeNumerically(">=", 1))))
			g.Expect(isReady(pod)).To(BeTrue())
		}).WithContext(ctx).WithTimeout(2*time.Minute).WithPolling(500*time.Millisecond).Should(Succeed(), func() string { return describe(ctx, ns) })
		killWindow, killRefused, killProbes := prober.reset()
		Expect(killWindow).To(BeNumerically("<", 2*time.Second), "fresh connections were refused for %s in a row after the kill", killWindow)

		By("scaling 3 → 1 → 3: the retired shards' claims keep their spans and come back")
		claims := claimNames(getSink(ctx, ns, sampleName))
		kubectl("scale", "spansink/"+sampleName, "-n", ns, "--replicas", "1")
		Eventually(func(g Gomega) {
			got := getSink(ctx, ns, sampleName)
			g.Expect(got.Status.RetiredShards).To(HaveLen(2))
			g.Expect(readyPods(ctx, ns)).To(HaveLen(1))
			deployments := &appsv1.DeploymentList{}
			g.Expect(suite.k8s.List(ctx, deployments, client.InNamespace(ns))).To(Succeed())
			g.Expect(deployments.Items).To(HaveLen(1))
		}).WithContext(ctx).WithTimeout(2*time.Minute).WithPolling(500*time.Millisecond).Should(Succeed(), func() string { return describe(ctx, ns) })
		atOne := acked()
		Eventually(acked).WithContext(ctx).Should(BeNumerically(">=", atOne+200), func() string { return "one shard does not take spans:\n" + clients() })
		kubectl("scale", "spansink/"+sampleName, "-n", ns, "--replicas", "3")
		sink = waitShardsServing(ctx, ns, 3)
		Expect(claimNames(sink)).To(Equal(claims), "scaling up again made other claims")
		atThree := acked()
		Eventually(acked).WithContext(ctx).Should(BeNumerically(">=", atThree+200), clients)

		close(stop)
		sending.Wait()
		close(sendErrs)
		for err := range sendErrs {
			Expect(err).NotTo(HaveOccurred())
		}
		stopProbing()

		By("the shards' files together hold exactly the acknowledged spans")
		want := map[spanKey]bool{}
		retries, refused := 0, 0
		for _, c := range senders {
			for k := range c.acknowledged() {
				want[k] = true
			}
			retries += c.retries
			refused += c.refused
		}
		var dirs []string
		for _, claim := range claims {
			dir, err := suite.local.ClaimDir(ctx, ns, claim)
			Expect(err).NotTo(HaveOccurred())
			dirs = append(dirs, dir)
		}
		var duplicates int
		Eventually(func(g Gomega) {
			stored := map[spanKey]int{}
			for i, dir := range dirs {
				spans := readSpansAnyFormat(dir)
				g.Expect(spansOf(spans, probeService)).NotTo(BeEmpty(), "shard %d got no fresh connection", i)
				for k, n := range spansOf(spans, service) {
					stored[k] += n
				}
			}
			var missing, unacknowledged []spanKey
			for k := range want {
				if stored[k] == 0 {
					missing = append(missing, k)
				}
			}
			duplicates = 0
			for k, n := range stored {
				if !want[k] {
					unacknowledged = append(unacknowledged, k)
				}
				duplicates += n - 1
			}
			g.Expect(missing).To(BeEmpty(), "acknowledged spans missing from every shard (%d acknowledged)", len(want))
			g.Expect(unacknowledged).To(BeEmpty(), "spans stored that no client had acknowledged")
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())

		By("spansink spans reads the shards' directories as one set")
		listed := map[spanKey]bool{}
		args := []string{"spans", "list", "--service", service, "--limit", "0", "-o", "json"}
		for _, dir := range dirs {
			args = append(args, filepath.Join(dir, "dbgpt")) // the sample's storage.path is dbgpt/spans.jsonl
		}
		var stderr bytes.Buffer
		list := exec.CommandContext(ctx, suite.binary, args...)
		list.Stderr = &stderr
		out, err := list.Output()
		Expect(err).NotTo(HaveOccurred(), "spansink spans list: %s", stderr.String())
		for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
			var rec struct {
				TraceID string `json:"trace_id"`
				SpanID  string `json:"span_id"`
			}
			Expect(json.Unmarshal(line, &rec)).To(Succeed(), "%s", line)
			listed[spanKey{rec.TraceID, rec.SpanID}] = true
		}
		Expect(listed).To(Equal(want), "spansink spans list over the shards differs from what was acknowledged")

		GinkgoWriter.Printf("shards: %d spans acknowledged by %d clients, %d stored twice (a retry after a lost acknowledgement); "+
			"%d retries (%d asked for by the collector); "+
			"rolling change: fewest ready endpoints %d, longest run of refused fresh connections %s (%d of %d probes refused); "+
			"killed shard: longest run %s (%d of %d probes refused), the clients' acknowledgements 300 spans further %s after the kill\n",
			len(want), len(senders), duplicates, retries, refused, lowest, rollWindow, rollRefused, rollProbes, killWindow, killRefused, killProbes, clientsBack.Round(time.Millisecond))
		AddReportEntry("shards", fmt.Sprintf("roll: min ready endpoints %d, longest refused run %s; kill: longest refused run %s", lowest, rollWindow, killWindow))
	})
})

var _ = Describe("a SpanSink under a HorizontalPodAutoscaler", func() {
	It("is scaled by kube-controller-manager's autoscaler through the scale subresource", func(ctx SpecContext) {
		ns := newNamespace(ctx, nil)
		applySample(ns)
		waitShardsServing(ctx, ns, 1)
		// Below minReplicas the autoscaler scales up without reading any
		// metric, so this needs no metrics server.
		hpa := &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sampleName},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{
					APIVersion: tracingv1alpha1.GroupVersion.String(), Kind: "SpanSink", Name: sampleName,
				},
				MinReplicas: ptr.To[int32](2),
				MaxReplicas: 3,
				Metrics: []autoscalingv2.MetricSpec{{
					Type: autoscalingv2.ResourceMetricSourceType,
					Resource: &autoscalingv2.ResourceMetricSource{
						Name:   corev1.ResourceCPU,
						Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](70)},
					},
				}},
			},
		}
		Expect(suite.k8s.Create(ctx, hpa)).To(Succeed())
		sink := waitShardsServing(ctx, ns, 2)
		Expect(*sink.Spec.Replicas).To(Equal(int32(2)))
		Eventually(func(g Gomega) {
			got := &autoscalingv2.HorizontalPodAutoscaler{}
			g.Expect(suite.k8s.Get(ctx, client.ObjectKeyFromObject(hpa), got)).To(Succeed())
			g.Expect(got.Status.CurrentReplicas).To(Equal(int32(2)), "the autoscaler does not read the SpanSink's scale")
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
	})
})

// waitShardsServing waits until the SpanSink's status counts n shards,
// every one ready and on the current spec, and returns it.
func waitShardsServing(ctx context.Context, namespace string, n int) *tracingv1alpha1.SpanSink {
	GinkgoHelper()
	var sink *tracingv1alpha1.SpanSink
	Eventually(func(g Gomega) {
		sink = waitReady(ctx, namespace, sampleName)
		g.Expect(sink.Status.ReadyReplicas).To(Equal(int32(n)))
		g.Expect(sink.Status.Shards).To(HaveLen(n))
		for _, shard := range sink.Status.Shards {
			g.Expect(shard.Ready && shard.Updated).To(BeTrue(), "shard %d: %+v", shard.Index, shard)
		}
	}).WithContext(ctx).WithTimeout(3*time.Minute).WithPolling(time.Second).Should(Succeed(), func() string { return describe(ctx, namespace) })
	return sink
}

func claimNames(sink *tracingv1alpha1.SpanSink) []string {
	var names []string
	for _, shard := range sink.Status.Shards {
		names = append(names, shard.Claim)
	}
	return names
}

func podUIDs(ctx context.Context, namespace string) map[types.UID]bool {
	GinkgoHelper()
	out := map[types.UID]bool{}
	for _, pod := range collectorPods(ctx, namespace, sampleName) {
		out[pod.UID] = true
	}
	return out
}

// readyPods are the collector pods that are ready and not being deleted.
func readyPods(ctx context.Context, namespace string) []corev1.Pod {
	GinkgoHelper()
	var out []corev1.Pod
	for _, pod := range collectorPods(ctx, namespace, sampleName) {
		if pod.DeletionTimestamp == nil && isReady(&pod) {
			out = append(out, pod)
		}
	}
	return out
}

// shardPod is the newest pod of shard i.
func shardPod(ctx context.Context, namespace string, i int) *corev1.Pod {
	GinkgoHelper()
	var newest *corev1.Pod
	for _, pod := range collectorPods(ctx, namespace, sampleName) {
		if pod.Labels["tracing.spansink.dev/shard"] != fmt.Sprint(i) || pod.DeletionTimestamp != nil {
			continue
		}
		if newest == nil || newest.CreationTimestamp.Before(&pod.CreationTimestamp) {
			newest = pod.DeepCopy()
		}
	}
	Expect(newest).NotTo(BeNil(), "shard %d has no pod", i)
	return newest
}

// minReadyEndpoints samples the Service's ready endpoints (what the
// service proxy, like kube-proxy, sends new connections to) every 50 ms
// until ctx ends, and returns the fewest it saw.
func minReadyEndpoints(ctx context.Context, namespace, service string) int {
	lowest := -1
	for ctx.Err() == nil {
		slices := &discoveryv1.EndpointSliceList{}
		if err := suite.k8s.List(ctx, slices, client.InNamespace(namespace), client.MatchingLabels{discoveryv1.LabelServiceName: service}); err == nil {
			ready := 0
			for _, slice := range slices.Items {
				for _, ep := range slice.Endpoints {
					if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
						ready++
					}
				}
			}
			if lowest < 0 || ready < lowest {
				lowest = ready
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	return lowest
}

// probeService is the service name of the prober's spans.
const probeService = "e2e-probe"

// freshConnectionProber sends one span every 25 ms over a new connection
// each time, as a client that reconnects does, and measures the longest run
// of refused attempts: the time in which a client that reconnected could
// not get a span in anywhere.
type freshConnectionProber struct {
	addr string

	mu           sync.Mutex
	probes       int
	refused      int
	runStart     time.Time
	longest      time.Duration
	lastRefusals bool
}

func newFreshConnectionProber(addr string) *freshConnectionProber {
	return &freshConnectionProber{addr: addr}
}

func (p *freshConnectionProber) run(ctx context.Context) {
	httpClient := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	body := probeBody()
	for ctx.Err() == nil {
		at := time.Now()
		ok := p.probe(ctx, httpClient, body)
		if ctx.Err() != nil {
			return
		}
		p.record(at, ok)
		select {
		case <-ctx.Done():
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func (p *freshConnectionProber) probe(ctx context.Context, httpClient *http.Client, body []byte) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+p.addr+"/v1/traces", bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := httpClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (p *freshConnectionProber) record(at time.Time, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.probes++
	if ok {
		if p.lastRefusals {
			p.longest = max(p.longest, at.Sub(p.runStart))
		}
		p.lastRefusals = false
		return
	}
	p.refused++
	if !p.lastRefusals {
		p.runStart, p.lastRefusals = at, true
	}
}

// accepted is how many probes the collectors took since the last reset.
func (p *freshConnectionProber) accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.probes - p.refused
}

// reset returns the longest run of refusals and the counts since the last
// reset, and starts counting again. A run still going counts until now.
func (p *freshConnectionProber) reset() (longest time.Duration, refused, probes int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lastRefusals {
		p.longest = max(p.longest, time.Since(p.runStart))
	}
	longest, refused, probes = p.longest, p.refused, p.probes
	p.longest, p.refused, p.probes, p.lastRefusals = 0, 0, 0, false
	return longest, refused, probes
}

// probeBody is one span of probeService as OTLP protobuf.
func probeBody() []byte {
	GinkgoHelper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", probeService)
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetTraceID(pcommon.TraceID{1, 2, 3})
	s.SetSpanID(pcommon.SpanID{4, 5, 6})
	s.SetName("probe")
	now := time.Now()
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	Expect(err).NotTo(HaveOccurred())
	return body
}
