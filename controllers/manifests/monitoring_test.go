package manifests

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/spansink/spansink/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// monitoredSink asks for everything spec.monitoring offers, on two shards
// with an object store.
func monitoredSink() *v1alpha1.SpanSink {
	sink := objectStoreSink()
	sink.Spec.Replicas = ptr.To[int32](2)
	sink.Spec.Monitoring = v1alpha1.MonitoringSpec{
		PodMonitor: v1alpha1.PodMonitorSpec{
			Enabled:  true,
			Interval: &metav1.Duration{Duration: 90 * time.Second},
			Labels:   map[string]v1alpha1.LabelValue{"release": "kube-prometheus-stack", LabelManagedBy: "someone-else"},
		},
		Rules: v1alpha1.RulesSpec{
			Enabled:           true,
			Labels:            map[string]v1alpha1.LabelValue{"release": "kube-prometheus-stack"},
			VolumeFullPercent: 90,
			SilentAfter:       &metav1.Duration{Duration: 2 * time.Hour},
			UploadLag:         &metav1.Duration{Duration: 45 * time.Minute},
		},
	}
	return sink
}

func TestMonitoringGolden(t *testing.T) {
	sink := monitoredSink()
	assertGolden(t, "podmonitor_monitored", PodMonitor(sink))
	assertGolden(t, "prometheusrule_monitored", PrometheusRule(sink))
	assertGolden(t, "prometheusrule_default", PrometheusRule(withRules(defaultedSink())))
}

func withRules(sink *v1alpha1.SpanSink) *v1alpha1.SpanSink {
	sink.Spec.Monitoring.Rules.Enabled = true
	return sink
}

func TestMonitoringIsOffByDefault(t *testing.T) {
	desired := buildOrFail(t, defaultedSink())
	if desired.PodMonitor != nil || desired.PrometheusRule != nil {
		t.Fatalf("a SpanSink without spec.monitoring got %v and %v", desired.PodMonitor, desired.PrometheusRule)
	}
	desired = buildOrFail(t, monitoredSink())
	if desired.PodMonitor == nil || desired.PrometheusRule == nil {
		t.Fatal("Build left out the monitoring objects spec.monitoring asks for")
	}
}

func TestMonitoringObjectsKeepTheOperatorsLabels(t *testing.T) {
	sink := monitoredSink()
	for _, obj := range []metav1.Object{PodMonitor(sink), PrometheusRule(sink)} {
		labels := obj.GetLabels()
		if labels[LabelManagedBy] != ManagedByValue {
			t.Errorf("%s: %s = %q, want %q: the cache holds only objects carrying it", obj.GetName(), LabelManagedBy, labels[LabelManagedBy], ManagedByValue)
		}
		if labels["release"] != "kube-prometheus-stack" {
			t.Errorf("%s lacks the user's label release", obj.GetName())
		}
		if ref := metav1.GetControllerOf(obj); ref == nil || ref.UID != sink.UID {
			t.Errorf("%s is not controlled by the SpanSink: %v", obj.GetName(), obj.GetOwnerReferences())
		}
	}
}

// The PodMonitor selects the pods of every shard, only in the SpanSink's
// namespace, and relabels to the job and shard labels the alerts use.
func TestPodMonitorScrapesEveryShard(t *testing.T) {
	sink := monitoredSink()
	desired := buildOrFail(t, sink)
	monitor := PodMonitor(sink)
	if got := monitor.Spec.NamespaceSelector.MatchNames; len(got) != 1 || got[0] != sink.Namespace {
		t.Errorf("namespaceSelector = %v, want only %s", got, sink.Namespace)
	}
	for _, shard := range desired.Shards {
		podLabels := shard.Deployment.Spec.Template.Labels
		for k, v := range monitor.Spec.Selector.MatchLabels {
			if podLabels[k] != v {
				t.Errorf("shard %d's pod lacks the PodMonitor's %s=%s", shard.Index, k, v)
			}
		}
		if _, ok := podLabels[LabelShard]; !ok {
			t.Errorf("shard %d's pod lacks %s, which the PodMonitor relabels to shard", shard.Index, LabelShard)
		}
		ports := shard.Deployment.Spec.Template.Spec.Containers[0].Ports
		found := false
		for _, p := range ports {
			found = found || p.Name == *monitor.Spec.PodMetricsEndpoints[0].Port
		}
		if !found {
			t.Errorf("shard %d's container has no port %q", shard.Index, *monitor.Spec.PodMetricsEndpoints[0].Port)
		}
	}
	endpoint := monitor.Spec.PodMetricsEndpoints[0]
	if endpoint.Interval != "1m30s" {
		t.Errorf("interval = %q, want 1m30s", endpoint.Interval)
	}
	targets := map[string]monitoringv1.RelabelConfig{}
	for _, r := range endpoint.RelabelConfigs {
		targets[r.TargetLabel] = r
	}
	if r := targets[MetricsLabelShard]; len(r.SourceLabels) != 1 || r.SourceLabels[0] != "__meta_kubernetes_pod_label_tracing_spansink_dev_shard" {
		t.Errorf("shard relabeling = %+v", r)
	}
	if r := targets[MetricsLabelJob]; r.Replacement == nil || *r.Replacement != "observability/traces-collector" {
		t.Errorf("job relabeling = %+v, want replacement observability/traces-collector", r)
	}
}

// alertNames are the alerts of a rule, by name.
func alertNames(rule *monitoringv1.PrometheusRule) map[string]monitoringv1.Rule {
	out := map[string]monitoringv1.Rule{}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			out[r.Alert] = r
		}
	}
	return out
}

func TestOptionalAlerts(t *testing.T) {
	always := []string{"SpanSinkCollectorDown", "SpanSinkStorageUnhealthy", "SpanSinkVolumeNearlyFull", "SpanSinkQueueNearlyFull",
		"SpanSinkSpansRefused", "SpanSinkSpansLost", "SpanSinkSpansDropped", "SpanSinkStorageErrors"}
	cases := []struct {
		name    string
		sink    *v1alpha1.SpanSink
		present []string
		absent  []string
	}{
		{"defaults", withRules(defaultedSink()), always, []string{"SpanSinkNoSpans", "SpanSinkUploadLagging"}},
		{"silentAfter and an object store", monitoredSink(), append(always, "SpanSinkNoSpans", "SpanSinkUploadLagging"), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := alertNames(PrometheusRule(tc.sink))
			for _, name := range tc.present {
				if _, ok := got[name]; !ok {
					t.Errorf("missing alert %s", name)
				}
			}
			for _, name := range tc.absent {
				if _, ok := got[name]; ok {
					t.Errorf("unexpected alert %s", name)
				}
			}
		})
	}
}

func TestAlertThresholdsFollowTheSpec(t *testing.T) {
	got := alertNames(PrometheusRule(monitoredSink()))
	checks := map[string]string{
		"SpanSinkVolumeNearlyFull": "> 90",
		"SpanSinkQueueNearlyFull":  "> 80",
		"SpanSinkUploadLagging":    "> 2700",
	}
	for name, want := range checks {
		if expr := got[name].Expr.StrVal; !strings.HasSuffix(expr, want) {
			t.Errorf("%s: expr %q does not end in %q", name, expr, want)
		}
	}
	if f := got["SpanSinkNoSpans"].For; f == nil || *f != "2h" {
		t.Errorf("SpanSinkNoSpans for = %v, want 2h", f)
	}
}

// Every alert is scoped to the SpanSink, says who it is about, and links
// to a runbook section that exists.
func TestEveryAlertNamesTheSpanSinkAndHasARunbook(t *testing.T) {
	anchors := runbookAnchors(t)
	sink := monitoredSink()
	scope := regexp.MustCompile(`\{[^}]*namespace="observability",job="observability/traces-collector"[^}]*\}`)
	selectors := regexp.MustCompile(`[a-z_]+\{[^}]*\}`)
	for name, rule := range alertNames(PrometheusRule(sink)) {
		t.Run(name, func(t *testing.T) {
			if rule.Annotations["summary"] == "" {
				t.Error("no summary")
			}
			if d := rule.Annotations["description"]; !strings.HasPrefix(d, "SpanSink observability/traces: ") {
				t.Errorf("description %q does not name the SpanSink", d)
			}
			url := rule.Annotations["runbook_url"]
			anchor, ok := strings.CutPrefix(url, RunbookURL+"#")
			if !ok || !anchors[anchor] {
				t.Errorf("runbook_url %q names no section of docs/operating.md", url)
			}
			if s := rule.Labels["severity"]; s != severityCritical && s != severityWarning {
				t.Errorf("severity %q", s)
			}
			expr := rule.Expr.StrVal
			for _, sel := range selectors.FindAllString(expr, -1) {
				if !scope.MatchString(sel) {
					t.Errorf("selector %s in %q is not scoped to the SpanSink", sel, expr)
				}
			}
		})
	}
}

// runbookAnchors are the anchors GitHub gives the headings of
// docs/operating.md.
func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "docs", "operating.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	anchors := map[string]bool{}
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := scanner.Text()
		if !strings.HasPrefix(line, "#") {
			continue
		}
		heading := strings.TrimSpace(strings.TrimLeft(line, "#"))
		anchors[githubAnchor(heading)] = true
	}
	return anchors
}

// githubAnchor is how GitHub turns a heading into its fragment: lowercase,
// spaces to hyphens, punctuation other than '-' and '_' dropped.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9'):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestRulesFileIsAPrometheusRulesFile(t *testing.T) {
	file, err := RulesFile(PrometheusRule(monitoredSink()))
	if err != nil {
		t.Fatal(err)
	}
	text := string(file)
	if !strings.HasPrefix(text, "groups:\n- name: spansink.observability.traces\n") {
		t.Errorf("rules file starts %q", text[:min(len(text), 80)])
	}
	if strings.Contains(text, "apiVersion") || strings.Contains(text, "metadata") {
		t.Error("rules file carries Kubernetes object fields")
	}
}

// With a NetworkPolicy, the Prometheus of prometheusFrom reaches the
// metrics port and nothing else, and only while the PodMonitor is enabled;
// without a NetworkPolicy, prometheusFrom creates none.
func TestNetworkPolicyAdmitsThePrometheusToTheMetricsPort(t *testing.T) {
	prometheus := v1alpha1.PrometheusPeer{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "monitoring"}},
		PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "prometheus"}},
	}
	sink := defaultedSink()
	sink.Spec.Monitoring.PodMonitor = v1alpha1.PodMonitorSpec{Enabled: true, PrometheusFrom: []v1alpha1.PrometheusPeer{prometheus}}
	if policy := NetworkPolicy(Params{Sink: sink}); policy != nil {
		t.Fatalf("prometheusFrom made a NetworkPolicy of its own: %+v", policy)
	}

	sink.Spec.NetworkPolicy = &v1alpha1.NetworkPolicySpec{}
	policy := NetworkPolicy(Params{Sink: sink})
	if len(policy.Spec.Ingress) != 1 {
		t.Fatalf("want one rule (the metrics port), got %+v", policy.Spec.Ingress)
	}
	rule := policy.Spec.Ingress[0]
	if len(rule.Ports) != 1 || rule.Ports[0].Port.IntValue() != MetricsPort {
		t.Errorf("the Prometheus's rule opens %+v, want only port %d", rule.Ports, MetricsPort)
	}
	if len(rule.From) != 1 || rule.From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "monitoring" ||
		rule.From[0].PodSelector.MatchLabels["app.kubernetes.io/name"] != "prometheus" || rule.From[0].IPBlock != nil {
		t.Errorf("the Prometheus peer is %+v", rule.From)
	}

	sink.Spec.Monitoring.PodMonitor.Enabled = false
	if got := NetworkPolicy(Params{Sink: sink}).Spec.Ingress; len(got) != 0 {
		t.Errorf("with the PodMonitor disabled the policy still admits %+v", got)
	}
}
