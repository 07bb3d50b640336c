package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/controllers/manifests"
	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/configstatus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
)

// The suite's reconciler reads GET /config, over real HTTP, from the port
// collectorStatusPort of each pod's IP. A test gives its pod an address of
// its own on the loopback network (127.0.0.0/8 is all local on Linux) and
// serves a fake collector's answer there: a fake only at the network.
var (
	collectorStatusPort  = freeLoopbackPort()
	suiteCollectorStatus = HTTPCollectorStatus{Port: collectorStatusPort, Timeout: 2 * time.Second}
	nextCollectorIP      atomic.Int32
)

func freeLoopbackPort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// restartHashOf is the hash the operator puts on the pod template for the
// rendered config data: that of its restart part.
func restartHashOf(data string) string {
	cfg, err := config.Parse([]byte(data))
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	restart, err := cfg.RestartPart().Render()
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return sha256Hex(string(restart))
}

// fakeCollector answers GET /config as a collector does, with a status the
// test sets.
type fakeCollector struct {
	ip     string
	mu     sync.Mutex
	status configstatus.Status
	asked  atomic.Int32
}

func startFakeCollector(status configstatus.Status) *fakeCollector {
	f := &fakeCollector{ip: fmt.Sprintf("127.0.0.%d", 20+nextCollectorIP.Add(1)), status: status}
	l, err := net.Listen("tcp", net.JoinHostPort(f.ip, strconv.Itoa(collectorStatusPort)))
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != configstatus.Path {
			http.NotFound(w, r)
			return
		}
		f.asked.Add(1)
		f.mu.Lock()
		body, _ := json.Marshal(f.status)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(body) //nolint:errcheck // the test sees a failed read
	}))
	server.Listener.Close()
	server.Listener = l
	server.Start()
	DeferCleanup(server.Close)
	return f
}

func (f *fakeCollector) set(status configstatus.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status = status
}

// runCollectorPod plays the ReplicaSet controller and the kubelet: a ready
// pod of the Deployment's current template at ip.
func runCollectorPod(ctx context.Context, sink *v1alpha1.SpanSink, deploy *appsv1.Deployment, name, ip string) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: sink.Namespace, Name: name, Labels: deploy.Spec.Template.Labels,
			Annotations: map[string]string{manifests.ConfigHashAnnotation: deploy.Spec.Template.Annotations[manifests.ConfigHashAnnotation]},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "collector", Image: testImage}}},
	}
	ExpectWithOffset(1, k8sClient.Create(ctx, pod)).To(Succeed())
	started := time.Now().Add(-time.Minute)
	pod.Status = collectorPodStatus(true, started, started)
	pod.Status.PodIP = ip
	pod.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	ExpectWithOffset(1, k8sClient.Status().Update(ctx, pod)).To(Succeed())
	return pod
}

var _ = Describe("Which config the collector applies", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
	})

	configMapData := func(g Gomega, name string) string {
		cm := &corev1.ConfigMap{}
		g.ExpectWithOffset(1, k8sClient.Get(ctx, key(ns, name+"-collector"), cm)).To(Succeed())
		return cm.Data[config.FileName]
	}

	It("applies a batch.size change without touching the Deployment: Pending until the collector reports the new config, then Applied, then no writes", func() {
		sink := newSink(ns, "live")
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		waitForCollector(ctx, ns, "live")
		markAvailable(ctx, ns, "live-collector")
		deploy := &appsv1.Deployment{}
		Expect(k8sClient.Get(ctx, key(ns, "live-collector"), deploy)).To(Succeed())
		firstData := configMapData(Default, "live")
		appliedAt := time.Date(2031, 3, 14, 12, 0, 0, 0, time.UTC)
		fake := startFakeCollector(configstatus.Status{AppliedHash: sha256Hex(firstData), Generation: 1, AppliedAt: appliedAt})
		runCollectorPod(ctx, sink, deploy, "live-collector-abc", fake.ip)

		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "live")
			c := condition(got, v1alpha1.ConditionConfigApplied)
			g.Expect(c).To(And(HaveField("Status", metav1.ConditionTrue), HaveField("Reason", v1alpha1.ReasonApplied)))
			g.Expect(got.Status.ConfigHash).To(Equal(sha256Hex(firstData)))
			g.Expect(got.Status.AppliedConfigHash).To(Equal(got.Status.ConfigHash))
			g.Expect(got.Status.ConfigAppliedTime).To(HaveValue(HaveField("Time", BeTemporally("==", appliedAt))))
		}).Should(Succeed())

		// A live setting changes.
		updateSink(ctx, ns, "live", func(s *v1alpha1.SpanSink) { s.Spec.Batch.Size = 10 })
		var newData string
		Eventually(func(g Gomega) {
			newData = configMapData(g, "live")
			cfg, err := config.Parse([]byte(newData))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(cfg.Batch.Size).To(Equal(10))
			got := getSink(g, ctx, ns, "live")
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
			g.Expect(got.Status.ConfigHash).To(Equal(sha256Hex(newData)))
			g.Expect(condition(got, v1alpha1.ConditionConfigApplied)).To(And(
				HaveField("Status", metav1.ConditionFalse), HaveField("Reason", v1alpha1.ReasonPending)))
			g.Expect(got.Status.AppliedConfigHash).To(Equal(sha256Hex(firstData)), "the collector still applies the first config")
		}).Should(Succeed())
		after := &appsv1.Deployment{}
		Expect(k8sClient.Get(ctx, key(ns, "live-collector"), after)).To(Succeed())
		Expect(after.ResourceVersion).To(Equal(deploy.ResourceVersion), "no write to the Deployment")
		Expect(after.Spec.Template).To(Equal(deploy.Spec.Template))

		// The kubelet projects the new ConfigMap and the collector applies
		// it: the operator finds out by itself, no event tells it.
		asked := fake.asked.Load()
		appliedAt = appliedAt.Add(time.Hour)
		fake.set(configstatus.Status{AppliedHash: sha256Hex(newData), Generation: 2, AppliedAt: appliedAt})
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "live")
			g.Expect(condition(got, v1alpha1.ConditionConfigApplied)).To(And(
				HaveField("Status", metav1.ConditionTrue), HaveField("Reason", v1alpha1.ReasonApplied)))
			g.Expect(got.Status.AppliedConfigHash).To(Equal(sha256Hex(newData)))
			g.Expect(got.Status.ConfigAppliedTime).To(HaveValue(HaveField("Time", BeTemporally("==", appliedAt))))
		}).Should(Succeed())
		Expect(fake.asked.Load()).To(BeNumerically(">", asked))

		// Once Applied, a pass makes no write.
		var writes atomic.Int32
		resync := &SpanSinkReconciler{Client: countingClient(&writes), CollectorImage: testImage, CollectorStatus: suiteCollectorStatus}
		Eventually(func(g Gomega) {
			writes.Store(0)
			result, err := resync.Reconcile(ctx, ctrl.Request{NamespacedName: key(ns, "live")})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(writes.Load()).To(BeZero(), "a pass over an applied config must not write")
			g.Expect(result.RequeueAfter).To(BeZero(), "nothing to wait for")
		}).Should(Succeed())
		Expect(k8sClient.Get(ctx, key(ns, "live-collector"), after)).To(Succeed())
		Expect(after.ResourceVersion).To(Equal(deploy.ResourceVersion))

		// kubectl get shows it (the CRD's printer column, as the API server
		// prints it for kubectl).
		Expect(printedColumn(ctx, ns, "live", "Config")).To(Equal(v1alpha1.ReasonApplied))
	})

	It("reports Refused with the collector's reason when it refuses the config", func() {
		sink := newSink(ns, "refused")
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		waitForCollector(ctx, ns, "refused")
		markAvailable(ctx, ns, "refused-collector")
		deploy := &appsv1.Deployment{}
		Expect(k8sClient.Get(ctx, key(ns, "refused-collector"), deploy)).To(Succeed())
		firstData := configMapData(Default, "refused")
		fake := startFakeCollector(configstatus.Status{AppliedHash: sha256Hex(firstData), Generation: 1, AppliedAt: time.Now()})
		runCollectorPod(ctx, sink, deploy, "refused-collector-abc", fake.ip)
		Eventually(func(g Gomega) {
			g.Expect(condition(getSink(g, ctx, ns, "refused"), v1alpha1.ConditionConfigApplied)).To(HaveField("Reason", v1alpha1.ReasonApplied))
		}).Should(Succeed())

		updateSink(ctx, ns, "refused", func(s *v1alpha1.SpanSink) { s.Spec.Batch.FlushInterval = &metav1.Duration{Duration: time.Minute} })
		var newData string
		Eventually(func(g Gomega) {
			newData = configMapData(g, "refused")
			g.Expect(newData).NotTo(Equal(firstData))
		}).Should(Succeed())
		const why = "storage.format needs a restart"
		fake.set(configstatus.Status{AppliedHash: sha256Hex(firstData), Generation: 1, AppliedAt: time.Now(), RefusedHash: sha256Hex(newData), RefusedError: why})
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "refused")
			c := condition(got, v1alpha1.ConditionConfigApplied)
			g.Expect(c).To(And(HaveField("Status", metav1.ConditionFalse), HaveField("Reason", v1alpha1.ReasonRefused)))
			g.Expect(c.Message).To(ContainSubstring(why))
			g.Expect(got.Status.AppliedConfigHash).To(Equal(sha256Hex(firstData)), "the old config stays in force")
		}).Should(Succeed())
		Expect(printedColumn(ctx, ns, "refused", "Config")).To(Equal(v1alpha1.ReasonRefused))
	})

	It("says Unknown when the collector does not answer, and Pending while a restart setting rolls the pod", func() {
		sink := newSink(ns, "silent")
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		waitForCollector(ctx, ns, "silent")
		markAvailable(ctx, ns, "silent-collector")
		deploy := &appsv1.Deployment{}
		Expect(k8sClient.Get(ctx, key(ns, "silent-collector"), deploy)).To(Succeed())
		// An address nothing listens on.
		runCollectorPod(ctx, sink, deploy, "silent-collector-abc", fmt.Sprintf("127.0.0.%d", 20+nextCollectorIP.Add(1)))
		Eventually(func(g Gomega) {
			c := condition(getSink(g, ctx, ns, "silent"), v1alpha1.ConditionConfigApplied)
			g.Expect(c).To(And(HaveField("Status", metav1.ConditionUnknown), HaveField("Reason", v1alpha1.ReasonCollectorUnreachable)))
			g.Expect(c.Message).To(ContainSubstring("silent-collector-abc"))
		}).Should(Succeed())

		// A restart setting: the template changes, the running pod is of
		// the previous one until the Deployment replaces it.
		updateSink(ctx, ns, "silent", func(s *v1alpha1.SpanSink) { s.Spec.Storage.Format = v1alpha1.FormatOTLPJSON })
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "silent")
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
			g.Expect(condition(got, v1alpha1.ConditionConfigApplied)).To(And(
				HaveField("Status", metav1.ConditionFalse), HaveField("Reason", v1alpha1.ReasonPending),
				HaveField("Message", ContainSubstring("being replaced"))))
		}).Should(Succeed())
	})
})

// printedColumn is the cell of column in the row kubectl get prints for
// the SpanSink: the API server's Table rendering of the CRD's printer
// columns.
func printedColumn(ctx context.Context, ns, name, column string) any {
	GinkgoHelper()
	httpClient, err := rest.HTTPClientFor(restCfg)
	Expect(err).NotTo(HaveOccurred())
	url := fmt.Sprintf("%s/apis/%s/namespaces/%s/spansinks/%s", strings.TrimSuffix(restCfg.Host, "/"), v1alpha1.GroupVersion, ns, name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := httpClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	Expect(resp.StatusCode).To(Equal(http.StatusOK), "%s: %s", url, body)
	table := &metav1.Table{}
	Expect(json.Unmarshal(body, table)).To(Succeed())
	Expect(table.Rows).To(HaveLen(1))
	for i, c := range table.ColumnDefinitions {
		if c.Name == column {
			return table.Rows[0].Cells[i]
		}
	}
	Fail("no printer column " + column)
	return nil
}

var _ = Describe("configVerdict", func() {
	const want, old = "new", "old"
	applied := func(hash string) configstatus.Status { return configstatus.Status{AppliedHash: hash} }
	DescribeTable("tells Applied, Pending, Refused and Unknown apart",
		func(report *configReport, state metav1.ConditionStatus, reason string, recheck bool) {
			gotState, gotReason, _, gotRecheck := configVerdict(report)
			Expect(gotState).To(Equal(state))
			Expect(gotReason).To(Equal(reason))
			Expect(gotRecheck).To(Equal(recheck))
		},
		Entry("no Deployment", nil, metav1.ConditionUnknown, v1alpha1.ReasonNoReadyCollector, false),
		Entry("no ready pod", &configReport{want: want}, metav1.ConditionUnknown, v1alpha1.ReasonNoReadyCollector, false),
		Entry("applied", &configReport{want: want, statuses: []configstatus.Status{applied(want)}}, metav1.ConditionTrue, v1alpha1.ReasonApplied, false),
		Entry("an older config: poll", &configReport{want: want, statuses: []configstatus.Status{applied(old)}}, metav1.ConditionFalse, v1alpha1.ReasonPending, true),
		Entry("one of two pods behind", &configReport{want: want, statuses: []configstatus.Status{applied(want), applied(old)}}, metav1.ConditionFalse, v1alpha1.ReasonPending, true),
		Entry("refused", &configReport{want: want, statuses: []configstatus.Status{{AppliedHash: old, RefusedHash: want, RefusedError: "bad"}}}, metav1.ConditionFalse, v1alpha1.ReasonRefused, false),
		Entry("an earlier refusal does not count", &configReport{want: want, statuses: []configstatus.Status{{AppliedHash: want, RefusedHash: old}}}, metav1.ConditionTrue, v1alpha1.ReasonApplied, false),
		Entry("unreachable", &configReport{want: want, unreachable: "p"}, metav1.ConditionUnknown, v1alpha1.ReasonCollectorUnreachable, true),
		Entry("being replaced", &configReport{want: want, replacing: true}, metav1.ConditionFalse, v1alpha1.ReasonPending, false),
		Entry("applied by the new pod while the old one goes", &configReport{want: want, replacing: true, statuses: []configstatus.Status{applied(want)}}, metav1.ConditionFalse, v1alpha1.ReasonPending, false),
	)

	It("reports the hash and the latest time only when the pods agree, in whole seconds", func() {
		t1 := time.Date(2031, 3, 14, 12, 0, 0, 500, time.UTC)
		t2 := t1.Add(time.Minute)
		hash, at := appliedConfig(&configReport{statuses: []configstatus.Status{{AppliedHash: want, AppliedAt: t1}, {AppliedHash: want, AppliedAt: t2}}})
		Expect(hash).To(Equal(want))
		Expect(at.Time).To(BeTemporally("==", t2.Truncate(time.Second)))
		hash, at = appliedConfig(&configReport{statuses: []configstatus.Status{applied(want), applied(old)}})
		Expect(hash).To(BeEmpty())
		Expect(at).To(BeNil())
	})
})

var _ = Describe("HTTPCollectorStatus", func() {
	portOf := func(handler http.HandlerFunc) (HTTPCollectorStatus, *corev1.Pod) {
		server := httptest.NewServer(handler)
		DeferCleanup(server.Close)
		port := server.Listener.Addr().(*net.TCPAddr).Port
		return HTTPCollectorStatus{Port: port, Timeout: 300 * time.Millisecond}, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: corev1.PodStatus{PodIP: "127.0.0.1"}}
	}

	It("reads the collector's answer", func(ctx SpecContext) {
		at := time.Date(2031, 3, 14, 12, 0, 0, 0, time.UTC)
		reader, pod := portOf(func(w http.ResponseWriter, r *http.Request) {
			Expect(r.URL.Path).To(Equal(configstatus.Path))
			json.NewEncoder(w).Encode(configstatus.Status{AppliedHash: "abc", Generation: 3, AppliedAt: at}) //nolint:errcheck
		})
		status, err := reader.ReadConfigStatus(ctx, pod)
		Expect(err).NotTo(HaveOccurred())
		Expect(status).To(Equal(configstatus.Status{AppliedHash: "abc", Generation: 3, AppliedAt: at}))
	})

	DescribeTable("fails on what is not a collector's answer",
		func(ctx SpecContext, handler http.HandlerFunc, wantErr string) {
			reader, pod := portOf(handler)
			_, err := reader.ReadConfigStatus(ctx, pod)
			Expect(err).To(MatchError(ContainSubstring(wantErr)))
		},
		Entry("an older collector without the endpoint", http.HandlerFunc(http.NotFound), "404"),
		Entry("not JSON", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("<html>")) }), "decode"),             //nolint:errcheck
		Entry("no hash", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`{}`)) }), "names no applied config"), //nolint:errcheck
		Entry("too slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}), "deadline exceeded"),
	)
})
