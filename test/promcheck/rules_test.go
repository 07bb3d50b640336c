package promcheck

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/controllers/manifests"
)

// alertedSink asks for every alert manifests.PrometheusRule can make: the
// optional silence alert (after 30 minutes) and, with an object store, the
// upload lag alert at its default.
func alertedSink() *v1alpha1.SpanSink {
	return &v1alpha1.SpanSink{
		ObjectMeta: metav1.ObjectMeta{Namespace: "observability", Name: "traces"},
		Spec: v1alpha1.SpanSinkSpec{
			Storage: v1alpha1.StorageSpec{ObjectStore: &v1alpha1.ObjectStoreSpec{Bucket: "traces"}},
			Monitoring: v1alpha1.MonitoringSpec{Rules: v1alpha1.RulesSpec{
				Enabled:     true,
				SilentAfter: &metav1.Duration{Duration: 30 * time.Minute},
			}},
		},
	}
}

// scrapeTarget is one collector pod as a PodMonitor's scrape labels it.
type scrapeTarget struct {
	sink       *v1alpha1.SpanSink
	pod, shard string
}

func (s scrapeTarget) labels() map[string]string {
	return map[string]string{
		"namespace":                 s.sink.Namespace,
		"job":                       manifests.JobName(s.sink),
		"pod":                       s.pod,
		manifests.MetricsLabelShard: s.shard,
		"instance":                  "10.0.0.1:8888",
	}
}

// series is metric with the target's labels and extra ones, in the
// notation of promtool's input_series.
func (s scrapeTarget) series(metric string, extra ...string) string {
	pairs := []string{}
	for name, value := range s.labels() {
		pairs = append(pairs, fmt.Sprintf("%s=%q", name, value))
	}
	for i := 0; i+1 < len(extra); i += 2 {
		pairs = append(pairs, fmt.Sprintf("%s=%q", extra[i], extra[i+1]))
	}
	return metric + "{" + strings.Join(pairs, ", ") + "}"
}

// alertLabels are what an alert on the target carries: the rule's
// severity and spansink, and the labels of the series that the expression
// keeps (kept of the target's, plus extra).
func (s scrapeTarget) alertLabels(severity string, kept []string, extra ...string) map[string]string {
	out := map[string]string{"severity": severity, "spansink": s.sink.Name}
	all := s.labels()
	for _, name := range kept {
		out[name] = all[name]
	}
	for i := 0; i+1 < len(extra); i += 2 {
		out[extra[i]] = extra[i+1]
	}
	return out
}

var (
	allTargetLabels = []string{"namespace", "job", "pod", manifests.MetricsLabelShard, "instance"}
	// The labels an alert summed by (namespace, pod, shard) keeps.
	podLabels = []string{"namespace", "pod", manifests.MetricsLabelShard}
)

// annotations are an alert's expanded annotations as a person reads them.
func annotations(alert, summary, description string) map[string]string {
	return map[string]string{
		"summary":     summary,
		"description": "SpanSink observability/traces: " + description,
		"runbook_url": manifests.RunbookURL + "#" + strings.ToLower(alert),
	}
}

// alertCase is one alert's promtool test: series that fire it and the
// alert expected, and, in the same test, healthy series of another pod
// and a breaching series of another SpanSink that must not fire it.
type alertCase struct {
	alert    string
	evalTime string
	// firing are the series of the target pod that fire the alert;
	// healthy those of the healthy pod; other are breaching series of
	// another SpanSink in the same namespace.
	firing, healthy, other []InputSeries
	want                   ExpAlert
}

func TestSpanSinkAlertsWithPromtool(t *testing.T) {
	sink := alertedSink()
	other := alertedSink()
	other.Name = "other"
	bad := scrapeTarget{sink: sink, pod: "traces-collector-0-0", shard: "0"}
	good := scrapeTarget{sink: sink, pod: "traces-collector-1-0", shard: "1"}
	neighbour := scrapeTarget{sink: other, pod: "other-collector-0-0", shard: "0"}
	pod0 := "pod traces-collector-0-0 (shard 0)"

	cases := []alertCase{{
		alert: "SpanSinkCollectorDown", evalTime: "10m",
		firing:  []InputSeries{{bad.series("up"), "0+0x10"}},
		healthy: []InputSeries{{good.series("up"), "1+0x10"}},
		other:   []InputSeries{{neighbour.series("up"), "0+0x10"}},
		want: ExpAlert{bad.alertLabels("critical", allTargetLabels), annotations("SpanSinkCollectorDown",
			"A SpanSink collector cannot be scraped",
			"Prometheus has failed to scrape collector "+pod0+" for 5 minutes; it may be down, and its spans with it.")},
	}, {
		alert: "SpanSinkStorageUnhealthy", evalTime: "10m",
		firing:  []InputSeries{{bad.series("spansink_storage_healthy", "storage", "file"), "1 1 0+0x10"}},
		healthy: []InputSeries{{good.series("spansink_storage_healthy", "storage", "file"), "1+0x12"}},
		other:   []InputSeries{{neighbour.series("spansink_storage_healthy", "storage", "file"), "0+0x12"}},
		want: ExpAlert{bad.alertLabels("critical", allTargetLabels, "storage", "file"), annotations("SpanSinkStorageUnhealthy",
			"A SpanSink collector cannot write its volume",
			"storage file of collector "+pod0+" has failed to write for 2 minutes; the collector refuses spans (503) until writes work again.")},
	}, {
		alert: "SpanSinkVolumeNearlyFull", evalTime: "20m",
		firing: []InputSeries{
			{bad.series("spansink_volume_capacity_bytes"), "100e9+0x20"},
			{bad.series("spansink_volume_available_bytes"), "8e9+0x20"},
		},
		healthy: []InputSeries{
			{good.series("spansink_volume_capacity_bytes"), "100e9+0x20"},
			{good.series("spansink_volume_available_bytes"), "20e9+0x20"},
		},
		other: []InputSeries{
			{neighbour.series("spansink_volume_capacity_bytes"), "100e9+0x20"},
			{neighbour.series("spansink_volume_available_bytes"), "1e9+0x20"},
		},
		want: ExpAlert{bad.alertLabels("warning", allTargetLabels), annotations("SpanSinkVolumeNearlyFull",
			"A SpanSink volume is nearly full",
			"the volume of collector "+pod0+" is 92% full (alert above 85%); once full, writes fail and spans are refused.")},
	}, {
		alert: "SpanSinkQueueNearlyFull", evalTime: "10m",
		firing: []InputSeries{
			{bad.series("spansink_queue_spans"), "90000+0x10"},
			{bad.series("spansink_queue_capacity_spans"), "100000+0x10"},
		},
		healthy: []InputSeries{
			{good.series("spansink_queue_spans"), "50000+0x10"},
			{good.series("spansink_queue_capacity_spans"), "100000+0x10"},
		},
		other: []InputSeries{
			{neighbour.series("spansink_queue_spans"), "100000+0x10"},
			{neighbour.series("spansink_queue_capacity_spans"), "100000+0x10"},
		},
		want: ExpAlert{bad.alertLabels("warning", allTargetLabels), annotations("SpanSinkQueueNearlyFull",
			"A SpanSink queue is nearly full",
			"the span queue of collector "+pod0+" has been over 80% full for 5 minutes; the volume does not keep up with ingest, and a full queue refuses spans with 429.")},
	}, {
		alert: "SpanSinkSpansRefused", evalTime: "15m",
		firing: []InputSeries{{bad.series("spansink_spans_rejected_total", "protocol", "otlp_grpc", "reason", "queue_full"), "0+60x15"}},
		// Spans rejected for another reason are not refusals.
		healthy: []InputSeries{{good.series("spansink_spans_rejected_total", "protocol", "otlp_grpc", "reason", "invalid_trace_id"), "0+60x15"}},
		other:   []InputSeries{{neighbour.series("spansink_spans_rejected_total", "protocol", "otlp_grpc", "reason", "queue_full"), "0+60x15"}},
		want: ExpAlert{bad.alertLabels("warning", podLabels), annotations("SpanSinkSpansRefused",
			"A SpanSink collector refuses spans",
			"collector "+pod0+" has been refusing requests for 5 minutes (429 for a full queue, 503 or 408 for its limits); clients retry, and drop what they cannot hold.")},
	}, {
		alert: "SpanSinkSpansRefused", evalTime: "15m",
		firing:  []InputSeries{{bad.series("spansink_requests_refused_total", "protocol", "otlp_http", "reason", "inflight_bytes"), "0+60x15"}},
		healthy: []InputSeries{{good.series("spansink_requests_refused_total", "protocol", "otlp_http", "reason", "inflight_bytes"), "3+0x15"}},
		other:   []InputSeries{{neighbour.series("spansink_requests_refused_total", "protocol", "otlp_http", "reason", "inflight_bytes"), "0+60x15"}},
		want: ExpAlert{bad.alertLabels("warning", podLabels), annotations("SpanSinkSpansRefused",
			"A SpanSink collector refuses spans",
			"collector "+pod0+" has been refusing requests for 5 minutes (429 for a full queue, 503 or 408 for its limits); clients retry, and drop what they cannot hold.")},
	}, {
		// The counter is flat for the whole window before the loss, so
		// increase() needs no extrapolation and the count is exact.
		alert: "SpanSinkSpansLost", evalTime: "25m",
		firing:  []InputSeries{{bad.series("spansink_spans_lost_total", "storage", "file"), "0+0x15 7+0x10"}},
		healthy: []InputSeries{{good.series("spansink_spans_lost_total", "storage", "file"), "0+0x25"}},
		other:   []InputSeries{{neighbour.series("spansink_spans_lost_total", "storage", "file"), "0+0x15 7+0x10"}},
		want: ExpAlert{bad.alertLabels("critical", podLabels), annotations("SpanSinkSpansLost",
			"A SpanSink collector lost accepted spans",
			"collector "+pod0+" lost 7 accepted spans in the last 15 minutes: it stopped before it could write them.")},
	}, {
		alert: "SpanSinkSpansDropped", evalTime: "30m",
		firing: []InputSeries{{bad.series("spansink_spans_rejected_total", "protocol", "dbgpt", "reason", "invalid_trace_id"), "0+10x30"}},
		// A full queue is SpanSinkSpansRefused's, not a drop.
		healthy: []InputSeries{{good.series("spansink_spans_rejected_total", "protocol", "dbgpt", "reason", "queue_full"), "0+10x30"}},
		other:   []InputSeries{{neighbour.series("spansink_spans_rejected_total", "protocol", "dbgpt", "reason", "invalid_trace_id"), "0+10x30"}},
		want: ExpAlert{bad.alertLabels("warning", podLabels, "reason", "invalid_trace_id"), annotations("SpanSinkSpansDropped",
			"A SpanSink collector drops spans it cannot store",
			"collector "+pod0+" has been dropping spans for 15 minutes for reason invalid_trace_id; a client sends spans the collector cannot store.")},
	}, {
		alert: "SpanSinkStorageErrors", evalTime: "20m",
		firing:  []InputSeries{{bad.series("spansink_storage_errors_total", "storage", "file", "cause", "enospc"), "0+0x10 3+0x10"}},
		healthy: []InputSeries{{good.series("spansink_storage_errors_total", "storage", "file", "cause", "enospc"), "0+0x20"}},
		other:   []InputSeries{{neighbour.series("spansink_storage_errors_total", "storage", "file", "cause", "eio"), "0+0x10 3+0x10"}},
		want: ExpAlert{bad.alertLabels("warning", podLabels, "storage", "file", "cause", "enospc"), annotations("SpanSinkStorageErrors",
			"A SpanSink collector fails to write or fsync",
			"storage file of collector "+pod0+" had 3 failed writes or fsyncs (cause enospc) in the last 10 minutes.")},
	}, {
		// Neither pod of the SpanSink accepts a span for the whole hour;
		// the neighbour, which does, is not alerted on.
		alert: "SpanSinkNoSpans", evalTime: "60m",
		firing: []InputSeries{
			{bad.series("spansink_spans_accepted_total", "protocol", "otlp_grpc"), "5+0x60"},
			{good.series("spansink_spans_accepted_total", "protocol", "otlp_grpc"), "9+0x60"},
		},
		other: []InputSeries{{neighbour.series("spansink_spans_accepted_total", "protocol", "otlp_grpc"), "0+0x60"}},
		want: ExpAlert{map[string]string{"severity": "warning", "spansink": "traces", "namespace": "observability"}, annotations("SpanSinkNoSpans",
			"A SpanSink receives no spans",
			"no collector has accepted a span for 30m; its clients stopped sending or cannot reach it.")},
	}, {
		// promtool's clock starts at 0: at 60m time() is 3600, and a
		// file sealed at 1 s has waited 59m59s, past the default 30m.
		alert: "SpanSinkUploadLagging", evalTime: "60m",
		firing: []InputSeries{{bad.series("spansink_upload_oldest_pending_timestamp_seconds"), "1+0x60"}},
		// Nothing waits (0), or the oldest file is 10 minutes old.
		healthy: []InputSeries{
			{good.series("spansink_upload_oldest_pending_timestamp_seconds"), "0+0x60"},
			{scrapeTarget{sink: sink, pod: "traces-collector-2-0", shard: "2"}.series("spansink_upload_oldest_pending_timestamp_seconds"), "0+60x60"},
		},
		other: []InputSeries{{neighbour.series("spansink_upload_oldest_pending_timestamp_seconds"), "1+0x60"}},
		want: ExpAlert{bad.alertLabels("warning", allTargetLabels), annotations("SpanSinkUploadLagging",
			"A SpanSink's uploads to the object store lag",
			"the oldest sealed file of collector "+pod0+" has waited 59m 59s for the object store (alert above 30m).")},
	}}

	// The rules under test are the operator's own, rendered as it
	// renders them; the neighbour's are loaded too, so that a rule that
	// matched another SpanSink's series would fire twice.
	rules, err := manifests.RulesFile(manifests.PrometheusRule(sink))
	if err != nil {
		t.Fatal(err)
	}
	tested := map[string]bool{}
	var tests []RuleTest
	for _, tc := range cases {
		tested[tc.alert] = true
		input := append(append(append([]InputSeries{}, tc.firing...), tc.healthy...), tc.other...)
		tests = append(tests,
			RuleTest{
				Name:           tc.alert + " fires on " + tc.firing[0].Series,
				InputSeries:    input,
				AlertRuleTests: []AlertRuleTest{{EvalTime: tc.evalTime, Alertname: tc.alert, ExpAlerts: []ExpAlert{tc.want}}},
			},
			RuleTest{
				Name:           tc.alert + " stays silent on healthy series and another SpanSink's",
				InputSeries:    append(append([]InputSeries{}, tc.healthy...), tc.other...),
				AlertRuleTests: []AlertRuleTest{{EvalTime: tc.evalTime, Alertname: tc.alert}},
			})
	}
	for _, rule := range manifests.PrometheusRule(sink).Spec.Groups[0].Rules {
		if !tested[rule.Alert] {
			t.Errorf("alert %s has no promtool test", rule.Alert)
		}
	}
	CollectorCatalog(t).TestRules(t, rules, tests)
}

// Every expression of every alert reads series a real collector exports
// (or Prometheus records per target), with labels they carry.
func TestSpanSinkAlertsReadWhatTheCollectorExports(t *testing.T) {
	c := CollectorCatalog(t)
	rule := manifests.PrometheusRule(alertedSink())
	for _, group := range rule.Spec.Groups {
		for _, r := range group.Rules {
			if err := c.Check(r.Expr.String()); err != nil {
				t.Errorf("alert %s: %v", r.Alert, err)
			}
			// Each alert is scoped to its SpanSink's series.
			refs, _ := Refer(r.Expr.String())
			for _, s := range refs.Selectors {
				if !contains(s.Labels, "namespace") || !contains(s.Labels, "job") {
					t.Errorf("alert %s: %s does not select the SpanSink's namespace and job", r.Alert, s.Metric)
				}
			}
		}
	}
}

// The thresholds of spec.monitoring.rules reach the alerts: series that
// fire them at the defaults stay below thresholds set higher.
func TestSpanSinkAlertThresholdsFromTheSpec(t *testing.T) {
	sink := alertedSink()
	sink.Spec.Monitoring.Rules.VolumeFullPercent = 95
	sink.Spec.Monitoring.Rules.QueueFullPercent = 95
	sink.Spec.Monitoring.Rules.UploadLag = &metav1.Duration{Duration: 2 * time.Hour}
	target := scrapeTarget{sink: sink, pod: "traces-collector-0-0", shard: "0"}
	rules, err := manifests.RulesFile(manifests.PrometheusRule(sink))
	if err != nil {
		t.Fatal(err)
	}
	CollectorCatalog(t).TestRules(t, rules, []RuleTest{{
		Name: "92% of the volume, 90% of the queue and an hour of upload lag are below the spec's thresholds",
		InputSeries: []InputSeries{
			{target.series("spansink_volume_capacity_bytes"), "100e9+0x60"},
			{target.series("spansink_volume_available_bytes"), "8e9+0x60"},
			{target.series("spansink_queue_spans"), "90000+0x60"},
			{target.series("spansink_queue_capacity_spans"), "100000+0x60"},
			{target.series("spansink_upload_oldest_pending_timestamp_seconds"), "1+0x60"},
		},
		AlertRuleTests: []AlertRuleTest{
			{EvalTime: "60m", Alertname: "SpanSinkVolumeNearlyFull"},
			{EvalTime: "60m", Alertname: "SpanSinkQueueNearlyFull"},
			{EvalTime: "60m", Alertname: "SpanSinkUploadLagging"},
		},
	}})
}
