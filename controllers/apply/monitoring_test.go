package apply

import (
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestPodMonitors(t *testing.T) {
	monitor := func(interval monitoringv1.Duration, relabelings ...string) *monitoringv1.PodMonitor {
		endpoint := monitoringv1.PodMetricsEndpoint{Port: ptr.To("metrics"), Interval: interval}
		for _, target := range relabelings {
			endpoint.RelabelConfigs = append(endpoint.RelabelConfigs, monitoringv1.RelabelConfig{TargetLabel: target, Action: "replace"})
		}
		return &monitoringv1.PodMonitor{Spec: monitoringv1.PodMonitorSpec{PodMetricsEndpoints: []monitoringv1.PodMetricsEndpoint{endpoint}}}
	}
	checkKind(t, PodMonitors, []kindCase[*monitoringv1.PodMonitor]{
		{"same spec", monitor("30s", "shard"), monitor("30s", "shard"), true},
		{"a new interval", monitor("30s", "shard"), monitor("1m", "shard"), false},
		{"a relabeling no longer rendered must go", monitor("30s", "shard", "job"), monitor("30s", "shard"), false},
	})
}

func TestPrometheusRules(t *testing.T) {
	rules := func(alerts ...string) *monitoringv1.PrometheusRule {
		group := monitoringv1.RuleGroup{Name: "g"}
		for _, alert := range alerts {
			group.Rules = append(group.Rules, monitoringv1.Rule{Alert: alert, Expr: intstr.FromString("vector(1)")})
		}
		return &monitoringv1.PrometheusRule{Spec: monitoringv1.PrometheusRuleSpec{Groups: []monitoringv1.RuleGroup{group}}}
	}
	checkKind(t, PrometheusRules, []kindCase[*monitoringv1.PrometheusRule]{
		{"same alerts", rules("A", "B"), rules("A", "B"), true},
		{"an alert no longer rendered must go", rules("A", "B"), rules("A"), false},
		{"a new alert", rules("A"), rules("A", "B"), false},
	})
}
