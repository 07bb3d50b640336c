package manifests

import (
	"cmp"
	"fmt"
	"maps"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	"github.com/spansink/spansink/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// The collector's metrics are scraped per pod by a PodMonitor and alerted
// on by a PrometheusRule, both named CollectorName. Every series of a
// SpanSink carries the labels the PodMonitor gives its targets: namespace
// and pod (the Prometheus Operator's), job (JobName) and shard (the pod's
// LabelShard). The alerts select on namespace and job, so two SpanSinks
// never see each other's series, and group by pod and shard, so an alert
// names the collector that needs a person.

// Label names a collector's series carry, set by the PodMonitor.
const (
	// MetricsLabelShard is the shard index, from the pod's LabelShard.
	MetricsLabelShard = "shard"
	// MetricsLabelJob is JobName.
	MetricsLabelJob = "job"
)

// RunbookURL is where docs/operating.md is published; each alert's
// runbook_url is it with the alert's section as the fragment.
const RunbookURL = "https://github.com/spansink/spansink/blob/main/docs/operating.md"

// Defaults of spec.monitoring.rules.
const (
	DefaultVolumeFullPercent int32 = 85
	DefaultQueueFullPercent  int32 = 80
	DefaultUploadLag               = 30 * time.Minute
)

// Severity label values: critical means spans are being lost or refused
// now; warning means they will be unless someone acts.
const (
	severityCritical = "critical"
	severityWarning  = "warning"
)

// JobName is the job label of the SpanSink's series: the one the Prometheus
// Operator gives a PodMonitor's targets (<namespace>/<name>), set by the
// PodMonitor itself as well, so the alerts do not depend on that default.
func JobName(sink *v1alpha1.SpanSink) string {
	return sink.Namespace + "/" + CollectorName(sink)
}

// PodMonitor scrapes the metrics port of every shard's collector pod, or
// is nil when spec.monitoring.podMonitor is not enabled. It selects the
// pods by SelectorLabels, which every shard's pod carries, in the
// SpanSink's namespace only.
func PodMonitor(sink *v1alpha1.SpanSink) *monitoringv1.PodMonitor {
	spec := sink.Spec.Monitoring.PodMonitor
	if !spec.Enabled {
		return nil
	}
	endpoint := monitoringv1.PodMetricsEndpoint{
		Port: ptr.To(MetricsPortName),
		Path: "/metrics",
		RelabelConfigs: []monitoringv1.RelabelConfig{
			{
				SourceLabels: []monitoringv1.LabelName{monitoringv1.LabelName("__meta_kubernetes_pod_label_" + sanitizedLabelName(LabelShard))},
				TargetLabel:  MetricsLabelShard,
				Action:       "replace",
			},
			{
				TargetLabel: MetricsLabelJob,
				Replacement: ptr.To(JobName(sink)),
				Action:      "replace",
			},
		},
	}
	if spec.Interval != nil {
		endpoint.Interval = prometheusDuration(spec.Interval.Duration)
	}
	return &monitoringv1.PodMonitor{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.PodMonitorsKind},
		ObjectMeta: monitoringMeta(sink, spec.Labels),
		Spec: monitoringv1.PodMonitorSpec{
			Selector:            metav1.LabelSelector{MatchLabels: SelectorLabels(sink)},
			NamespaceSelector:   monitoringv1.NamespaceSelector{MatchNames: []string{sink.Namespace}},
			PodMetricsEndpoints: []monitoringv1.PodMetricsEndpoint{endpoint},
		},
	}
}

// PrometheusRule holds the SpanSink's alerts, or is nil when
// spec.monitoring.rules is not enabled. It is a pure function of the
// SpanSink, and its spec is a Prometheus rules file as it stands
// (RulesFile), so the alerts are tested with promtool.
func PrometheusRule(sink *v1alpha1.SpanSink) *monitoringv1.PrometheusRule {
	spec := sink.Spec.Monitoring.Rules
	if !spec.Enabled {
		return nil
	}
	return &monitoringv1.PrometheusRule{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.PrometheusRuleKind},
		ObjectMeta: monitoringMeta(sink, spec.Labels),
		Spec: monitoringv1.PrometheusRuleSpec{Groups: []monitoringv1.RuleGroup{{
			Name:  "spansink." + sink.Namespace + "." + sink.Name,
			Rules: alerts(sink),
		}}},
	}
}

// monitoringMeta is objectMeta with the user's labels under the
// operator's: the cache and the adoption rules depend on the latter.
func monitoringMeta(sink *v1alpha1.SpanSink, extra map[string]v1alpha1.LabelValue) metav1.ObjectMeta {
	meta := objectMeta(sink, CollectorName(sink))
	labels := labelMap(extra)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, meta.Labels)
	meta.Labels = labels
	return meta
}

// alert is one alerting rule before it becomes a monitoringv1.Rule.
type alert struct {
	name     string
	expr     string
	forDur   time.Duration
	severity string
	summary  string
	// description follows "SpanSink <namespace>/<name>: ".
	description string
}

// alerts are the SpanSink's alerting rules, in the order of the runbook.
func alerts(sink *v1alpha1.SpanSink) []monitoringv1.Rule {
	rules := sink.Spec.Monitoring.Rules
	sel := fmt.Sprintf(`namespace=%q,job=%q`, sink.Namespace, JobName(sink))
	volumeFull := cmp.Or(rules.VolumeFullPercent, DefaultVolumeFullPercent)
	queueFull := cmp.Or(rules.QueueFullPercent, DefaultQueueFullPercent)
	pod := "pod {{ $labels.pod }} (shard {{ $labels.shard }})"

	list := []alert{
		{
			name: "SpanSinkCollectorDown", forDur: 5 * time.Minute, severity: severityCritical,
			expr:        fmt.Sprintf(`up{%s} == 0`, sel),
			summary:     "A SpanSink collector cannot be scraped",
			description: "Prometheus has failed to scrape collector " + pod + " for 5 minutes; it may be down, and its spans with it.",
		},
		{
			name: "SpanSinkStorageUnhealthy", forDur: 2 * time.Minute, severity: severityCritical,
			expr:        fmt.Sprintf(`spansink_storage_healthy{%s} == 0`, sel),
			summary:     "A SpanSink collector cannot write its volume",
			description: "storage {{ $labels.storage }} of collector " + pod + " has failed to write for 2 minutes; the collector refuses spans (503) until writes work again.",
		},
		{
			name: "SpanSinkVolumeNearlyFull", forDur: 10 * time.Minute, severity: severityWarning,
			expr: fmt.Sprintf(`100 * (1 - spansink_volume_available_bytes{%s} / (spansink_volume_capacity_bytes{%s} > 0)) > %d`,
				sel, sel, volumeFull),
			summary:     "A SpanSink volume is nearly full",
			description: fmt.Sprintf("the volume of collector %s is {{ $value | printf \"%%.0f\" }}%% full (alert above %d%%); once full, writes fail and spans are refused.", pod, volumeFull),
		},
		{
			name: "SpanSinkQueueNearlyFull", forDur: 5 * time.Minute, severity: severityWarning,
			expr: fmt.Sprintf(`100 * spansink_queue_spans{%s} / (spansink_queue_capacity_spans{%s} > 0) > %d`,
				sel, sel, queueFull),
			summary:     "A SpanSink queue is nearly full",
			description: fmt.Sprintf("the span queue of collector %s has been over %d%% full for 5 minutes; the volume does not keep up with ingest, and a full queue refuses spans with 429.", pod, queueFull),
		},
		{
			name: "SpanSinkSpansRefused", forDur: 5 * time.Minute, severity: severityWarning,
			expr: fmt.Sprintf(`sum by (namespace, pod, shard) (rate(spansink_spans_rejected_total{%s,reason="queue_full"}[5m])) > 0 `+
				`or sum by (namespace, pod, shard) (rate(spansink_requests_refused_total{%s}[5m])) > 0`, sel, sel),
			summary:     "A SpanSink collector refuses spans",
			description: "collector " + pod + " has been refusing requests for 5 minutes (429 for a full queue, 503 or 408 for its limits); clients retry, and drop what they cannot hold.",
		},
		{
			name: "SpanSinkSpansLost", severity: severityCritical,
			expr:        fmt.Sprintf(`sum by (namespace, pod, shard) (increase(spansink_spans_lost_total{%s}[15m])) > 0`, sel),
			summary:     "A SpanSink collector lost accepted spans",
			description: "collector " + pod + " lost {{ $value | printf \"%.0f\" }} accepted spans in the last 15 minutes: it stopped before it could write them.",
		},
		{
			name: "SpanSinkSpansDropped", forDur: 15 * time.Minute, severity: severityWarning,
			expr: fmt.Sprintf(`sum by (namespace, pod, shard, reason) (rate(spansink_spans_rejected_total{%s,reason=~"%s"}[5m])) > 0`,
				sel, droppedReasons),
			summary:     "A SpanSink collector drops spans it cannot store",
			description: "collector " + pod + " has been dropping spans for 15 minutes for reason {{ $labels.reason }}; a client sends spans the collector cannot store.",
		},
		{
			name: "SpanSinkStorageErrors", severity: severityWarning,
			expr:        fmt.Sprintf(`sum by (namespace, pod, shard, storage, cause) (increase(spansink_storage_errors_total{%s}[10m])) > 0`, sel),
			summary:     "A SpanSink collector fails to write or fsync",
			description: "storage {{ $labels.storage }} of collector " + pod + " had {{ $value | printf \"%.0f\" }} failed writes or fsyncs (cause {{ $labels.cause }}) in the last 10 minutes.",
		},
	}
	if rules.SilentAfter != nil {
		silent := rules.SilentAfter.Duration
		list = append(list, alert{
			name: "SpanSinkNoSpans", forDur: silent, severity: severityWarning,
			expr:        fmt.Sprintf(`sum by (namespace) (rate(spansink_spans_accepted_total{%s}[5m])) == 0`, sel),
			summary:     "A SpanSink receives no spans",
			description: fmt.Sprintf("no collector has accepted a span for %s; its clients stopped sending or cannot reach it.", prometheusDuration(silent)),
		})
	}
	if sink.Spec.Storage.ObjectStore != nil {
		lag := DefaultUploadLag
		if rules.UploadLag != nil {
			lag = rules.UploadLag.Duration
		}
		list = append(list, alert{
			name: "SpanSinkUploadLagging", forDur: 5 * time.Minute, severity: severityWarning,
			expr: fmt.Sprintf(`time() - (spansink_upload_oldest_pending_timestamp_seconds{%s} > 0) > %d`,
				sel, int64(lag/time.Second)),
			summary:     "A SpanSink's uploads to the object store lag",
			description: fmt.Sprintf("the oldest sealed file of collector %s has waited {{ $value | humanizeDuration }} for the object store (alert above %s).", pod, prometheusDuration(lag)),
		})
	}

	out := make([]monitoringv1.Rule, len(list))
	for i, a := range list {
		out[i] = monitoringv1.Rule{
			Alert: a.name,
			Expr:  intstr.FromString(a.expr),
			Labels: map[string]string{
				"severity": a.severity,
				"spansink": sink.Name,
			},
			Annotations: map[string]string{
				"summary":     a.summary,
				"description": "SpanSink " + sink.Namespace + "/" + sink.Name + ": " + a.description,
				"runbook_url": RunbookURL + "#" + RunbookAnchor(a.name),
			},
		}
		if a.forDur > 0 {
			out[i].For = ptr.To(prometheusDuration(a.forDur))
		}
	}
	return out
}

// droppedReasons are the spansink_spans_rejected_total reasons that lose a
// client's span for good: the span itself cannot be stored. A full queue
// has its own alert; a stopping collector or a canceled request is retried
// by the client.
const droppedReasons = "malformed_id|invalid_trace_id|invalid_span_id|invalid_record|unconvertible|too_many_spans|internal"

// RunbookAnchor is the fragment of an alert's section in docs/operating.md:
// its heading is the alert's name, which GitHub turns into the lowercase
// name.
func RunbookAnchor(alert string) string {
	anchor := []byte(alert)
	for i, c := range anchor {
		if 'A' <= c && c <= 'Z' {
			anchor[i] = c + 'a' - 'A'
		}
	}
	return string(anchor)
}

// prometheusDuration is d in Prometheus's duration syntax ("1h30m", not
// Go's "1h30m0s"), as monitoring.coreos.com's schema accepts it.
func prometheusDuration(d time.Duration) monitoringv1.Duration {
	return monitoringv1.Duration(model.Duration(d).String())
}

// sanitizedLabelName is a Kubernetes label key as Prometheus's service
// discovery names it in __meta_kubernetes_pod_label_<name>: every character
// outside [a-zA-Z0-9_] becomes '_'.
func sanitizedLabelName(key string) string {
	out := []byte(key)
	for i, c := range out {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			out[i] = '_'
		}
	}
	return string(out)
}

// RulesFile is rule's groups as a Prometheus rules file, the format
// promtool and a Prometheus without the operator read.
func RulesFile(rule *monitoringv1.PrometheusRule) ([]byte, error) {
	return yaml.Marshal(rule.Spec)
}
