//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.opentelemetry.io/collector/pdata/ptrace"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tracingv1alpha1 "github.com/spansink/spansink/api/v1alpha1"
)

// kubectl runs the real kubectl against the test cluster, as a user would,
// and returns its standard output.
func kubectl(args ...string) string {
	GinkgoHelper()
	out, err := kubectlErr(args...)
	Expect(err).NotTo(HaveOccurred())
	return out
}

func kubectlErr(args ...string) (string, error) {
	cmd := kubectlCommand(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// kubectlCommand prepares kubectl with the test cluster's kubeconfig.
func kubectlCommand(args ...string) *exec.Cmd {
	return exec.Command(suite.kubectl, append([]string{"--kubeconfig", suite.local.Kubeconfig}, args...)...)
}

// newNamespace creates a namespace for one spec, deleted after it.
func newNamespace(ctx context.Context, labels map[string]string) string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-", Labels: labels}}
	Expect(suite.k8s.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		Expect(client.IgnoreNotFound(suite.k8s.Delete(ctx, ns))).To(Succeed())
	})
	return ns.Name
}

// applySample applies config/samples into namespace with kubectl.
func applySample(namespace string) {
	GinkgoHelper()
	kubectl("apply", "-n", namespace, "-k", filepath.Join(suite.root, "config", "samples"))
}

// sampleName is the name of the SpanSink in config/samples.
const sampleName = "dbgpt"

// getSink reads a SpanSink.
func getSink(ctx context.Context, namespace, name string) *tracingv1alpha1.SpanSink {
	GinkgoHelper()
	sink := &tracingv1alpha1.SpanSink{}
	Expect(suite.k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, sink)).To(Succeed())
	return sink
}

// waitCurrent waits until kstatus, which Flux's health checks use, reads
// the SpanSink as Current: its children run the current spec and the
// collector applies its config.
func waitCurrent(ctx context.Context, namespace, name string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		obj := &unstructured.Unstructured{}
		obj.SetGroupVersionKind(tracingv1alpha1.GroupVersion.WithKind("SpanSink"))
		g.Expect(suite.k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj)).To(Succeed())
		res, err := kstatus.Compute(obj)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.Status).To(Equal(kstatus.CurrentStatus), "kstatus: %s", res.Message)
	}).WithContext(ctx).WithTimeout(2*time.Minute).WithPolling(time.Second).Should(Succeed(), func() string {
		return describe(ctx, namespace)
	})
}

// waitReady waits until the SpanSink reports Ready for its current
// generation, with endpoints, and returns it.
func waitReady(ctx context.Context, namespace, name string) *tracingv1alpha1.SpanSink {
	GinkgoHelper()
	var sink *tracingv1alpha1.SpanSink
	Eventually(func(g Gomega) {
		sink = &tracingv1alpha1.SpanSink{}
		g.Expect(suite.k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, sink)).To(Succeed())
		g.Expect(sink.Status.ObservedGeneration).To(Equal(sink.Generation))
		ready := apimeta.FindStatusCondition(sink.Status.Conditions, tracingv1alpha1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Status).To(Equal(metav1.ConditionTrue), "Ready: %s: %s", ready.Reason, ready.Message)
		g.Expect(sink.Status.Endpoints.OTLPGRPC).NotTo(BeEmpty())
		g.Expect(sink.Status.Endpoints.OTLPHTTP).NotTo(BeEmpty())
	}).WithContext(ctx).WithTimeout(2*time.Minute).WithPolling(time.Second).Should(Succeed(), func() string {
		return describe(ctx, namespace)
	})
	return sink
}

// describe gathers what a person would look at when a sink is not ready:
// pods with their status, events, and the collector logs.
func describe(ctx context.Context, namespace string) string {
	var b strings.Builder
	out, _ := kubectlErr("get", "spansinks,deploy,rs,pods,pvc,svc,endpointslices", "-n", namespace, "-o", "wide")
	b.WriteString(out)
	out, _ = kubectlErr("get", "spansinks", "-n", namespace, "-o", "yaml")
	b.WriteString(out)
	out, _ = kubectlErr("get", "events", "-n", namespace, "--sort-by=.lastTimestamp")
	b.WriteString(out)
	pods := &corev1.PodList{}
	if err := suite.k8s.List(ctx, pods, client.InNamespace(namespace)); err == nil {
		for _, pod := range pods.Items {
			for _, c := range pod.Spec.Containers {
				if path := suite.local.Node.LogPath(pod.UID, c.Name); path != "" {
					data, _ := os.ReadFile(path)
					fmt.Fprintf(&b, "--- log of %s/%s (%s):\n%s\n", pod.Name, c.Name, path, tail(data, 4000))
				}
			}
		}
	}
	return b.String()
}

func tail(data []byte, n int) []byte {
	if len(data) > n {
		return data[len(data)-n:]
	}
	return data
}

// serviceAddress is the host address of a port of the collector's Service,
// named by the host in the SpanSink's status endpoint, through the local
// service proxy (this machine's kube-proxy).
func serviceAddress(ctx context.Context, sink *tracingv1alpha1.SpanSink, port string) string {
	GinkgoHelper()
	u, err := url.Parse(sink.Status.Endpoints.OTLPHTTP)
	Expect(err).NotTo(HaveOccurred())
	service, _, _ := strings.Cut(u.Hostname(), ".")
	Expect(u.Hostname()).To(HavePrefix(service+"."+sink.Namespace+".svc"), "endpoint names the Service in the sink's namespace")
	var addr string
	Eventually(func() string {
		addr = suite.local.Proxy.Address(sink.Namespace, service, port)
		return addr
	}).WithContext(ctx).WithTimeout(30*time.Second).ShouldNot(BeEmpty(), "service %s port %s", service, port)
	return addr
}

// volumeDir is the host directory of the PersistentVolume bound to the
// sink's claim.
func volumeDir(ctx context.Context, sink *tracingv1alpha1.SpanSink) string {
	GinkgoHelper()
	Expect(sink.Status.VolumeClaimName).NotTo(BeEmpty())
	dir, err := suite.local.ClaimDir(ctx, sink.Namespace, sink.Status.VolumeClaimName)
	Expect(err).NotTo(HaveOccurred())
	return dir
}

// spanKey identifies a span.
type spanKey struct {
	TraceID, SpanID string
}

// storedSpan is a span read back from the files.
type storedSpan struct {
	spanKey
	Service string
}

// readSpans reads every span in every span file under dir (active, rotated
// and compressed) in the given on-disk format. A line that is not a
// complete JSON record fails the test: the writer promises whole lines.
func readSpans(dir, format string) []storedSpan {
	GinkgoHelper()
	return readSpansWith(dir, func([]byte) string { return format })
}

// readSpansAnyFormat is readSpans for a directory that holds both formats
// (a SpanSink whose format changed): each line is read in the format it
// is in, told by its first key.
func readSpansAnyFormat(dir string) []storedSpan {
	GinkgoHelper()
	return readSpansWith(dir, func(line []byte) string {
		if bytes.HasPrefix(line, []byte(`{"resourceSpans"`)) {
			return "otlp-json"
		}
		return "dbgpt"
	})
}

func readSpansWith(dir string, formatOf func(line []byte) string) []storedSpan {
	GinkgoHelper()
	var spans []storedSpan
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		// Hidden files are the collector's own, never span files: the
		// writability probe it writes and removes at start, the upload
		// manifests. The reader skips them the same way.
		if strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		data, err := readMaybeCompressed(path)
		if err != nil {
			return err
		}
		if len(data) > 0 && data[len(data)-1] != '\n' {
			return fmt.Errorf("%s does not end with a newline", path)
		}
		scanner := bufio.NewScanner(bytes.NewReader(data))
		scanner.Buffer(make([]byte, 1<<20), 64<<20)
		for scanner.Scan() {
			line := scanner.Bytes()
			parsed, err := parseLine(line, formatOf(line))
			if err != nil {
				return fmt.Errorf("%s: %w: %s", path, err, tail(line, 300))
			}
			spans = append(spans, parsed...)
		}
		return scanner.Err()
	})
	Expect(err).NotTo(HaveOccurred())
	return spans
}

func readMaybeCompressed(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	switch {
	case strings.HasSuffix(path, ".gz"):
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r = gz
	case strings.HasSuffix(path, ".zst"):
		zr, err := zstd.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	return io.ReadAll(r)
}

// parseLine decodes one line of the dbgpt or otlp-json format.
func parseLine(line []byte, format string) ([]storedSpan, error) {
	switch format {
	case "dbgpt":
		var rec struct {
			TraceID  string `json:"trace_id"`
			SpanID   string `json:"span_id"`
			Metadata struct {
				Service string `json:"service.name"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			return nil, fmt.Errorf("dbgpt line: %w", err)
		}
		return []storedSpan{{spanKey{rec.TraceID, rec.SpanID}, rec.Metadata.Service}}, nil
	case "otlp-json":
		td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(line)
		if err != nil {
			return nil, fmt.Errorf("otlp-json line: %w", err)
		}
		var out []storedSpan
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			rs := td.ResourceSpans().At(i)
			service := ""
			if v, ok := rs.Resource().Attributes().Get("service.name"); ok {
				service = v.AsString()
			}
			for j := 0; j < rs.ScopeSpans().Len(); j++ {
				ss := rs.ScopeSpans().At(j).Spans()
				for k := 0; k < ss.Len(); k++ {
					s := ss.At(k)
					out = append(out, storedSpan{spanKey{s.TraceID().String(), s.SpanID().String()}, service})
				}
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown format %q", format)
}

// spansOf keeps the spans of one service and counts each key.
func spansOf(spans []storedSpan, service string) map[spanKey]int {
	out := map[spanKey]int{}
	for _, s := range spans {
		if s.Service == service {
			out[s.spanKey]++
		}
	}
	return out
}

// collectorPods lists the running pods of a sink's collector.
func collectorPods(ctx context.Context, namespace, sinkName string) []corev1.Pod {
	GinkgoHelper()
	pods := &corev1.PodList{}
	Expect(suite.k8s.List(ctx, pods, client.InNamespace(namespace),
		client.MatchingLabels{"app.kubernetes.io/instance": sinkName, "app.kubernetes.io/name": "spansink"})).To(Succeed())
	return pods.Items
}
