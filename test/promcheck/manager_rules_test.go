package promcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"

	"github.com/spansink/spansink/controllers/manifests"
)

// managerRule is config/prometheus's PrometheusRule for the manager.
func managerRule(t *testing.T) *monitoringv1.PrometheusRule {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(), "config", "prometheus", "prometheus_rule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rule := &monitoringv1.PrometheusRule{}
	if err := yaml.UnmarshalStrict(raw, rule); err != nil {
		t.Fatal(err)
	}
	return rule
}

// Every expression of the manager's alerts reads series a real manager
// exports (controller-runtime's), with labels they carry.
func TestManagerAlertsReadWhatTheManagerExports(t *testing.T) {
	rule := managerRule(t)
	c := ManagerCatalog(t)
	for _, group := range rule.Spec.Groups {
		for _, r := range group.Rules {
			if err := c.Check(r.Expr.String()); err != nil {
				t.Errorf("alert %s: %v", r.Alert, err)
			}
		}
	}
}

// managerSeries is metric as the ServiceMonitor of config/prometheus
// labels the manager's target (config/default's namespace and the metrics
// Service's name), with extra labels.
func managerSeries(metric string, extra ...string) string {
	pairs := []string{
		`namespace="spansink-system"`, `job="spansink-controller-manager-metrics"`, `service="spansink-controller-manager-metrics"`,
		`endpoint="https"`, `pod="spansink-controller-manager-7d4b9c-x2x9k"`, `container="manager"`, `instance="10.0.0.9:8443"`,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		pairs = append(pairs, fmt.Sprintf("%s=%q", extra[i], extra[i+1]))
	}
	return metric + "{" + strings.Join(pairs, ", ") + "}"
}

func managerAlert(alert, description string) ExpAlert {
	summaries := map[string]string{
		"SpanSinkOperatorReconcileErrors": "The spansink operator fails to reconcile SpanSinks",
		"SpanSinkOperatorWorkQueueStuck":  "The spansink operator's work queue is stuck",
	}
	return ExpAlert{
		ExpLabels: map[string]string{"severity": "warning", "namespace": "spansink-system", "job": "spansink-controller-manager-metrics"},
		ExpAnnotations: map[string]string{
			"summary":     summaries[alert],
			"description": description,
			"runbook_url": manifests.RunbookURL + "#" + strings.ToLower(alert),
		},
	}
}

func TestManagerAlertsWithPromtool(t *testing.T) {
	reconciles := func(result string) string {
		return managerSeries("controller_runtime_reconcile_total", "controller", "spansink", "result", result)
	}
	queue := func(metric string) string {
		return managerSeries(metric, "controller", "spansink", "name", "spansink")
	}
	stuck := "The spansink operator in namespace spansink-system has a reconcile running for more than 5 minutes, or SpanSinks waiting in its work queue for more than 15; changes to SpanSinks wait."
	cases := []struct {
		name     string
		alert    string
		evalTime string
		input    []InputSeries
		want     []ExpAlert
	}{{
		name: "a third of the reconciles fail", alert: "SpanSinkOperatorReconcileErrors", evalTime: "30m",
		input: []InputSeries{{reconciles("error"), "0+30x30"}, {reconciles("success"), "0+60x30"}},
		want: []ExpAlert{managerAlert("SpanSinkOperatorReconcileErrors",
			"The spansink operator in namespace spansink-system has failed 33.33% of its reconciles for 15 minutes; SpanSinks are not brought to their spec.")},
	}, {
		name: "one reconcile in a hundred fails", alert: "SpanSinkOperatorReconcileErrors", evalTime: "30m",
		input: []InputSeries{{reconciles("error"), "0+1x30"}, {reconciles("success"), "0+99x30"}},
	}, {
		name: "a reconcile has run for 10 minutes", alert: "SpanSinkOperatorWorkQueueStuck", evalTime: "20m",
		input: []InputSeries{{queue("workqueue_longest_running_processor_seconds"), "0 0 0 0 0 60+60x15"}, {queue("workqueue_depth"), "0+0x20"}},
		want:  []ExpAlert{managerAlert("SpanSinkOperatorWorkQueueStuck", stuck)},
	}, {
		name: "SpanSinks have waited in the queue for 20 minutes", alert: "SpanSinkOperatorWorkQueueStuck", evalTime: "30m",
		input: []InputSeries{{queue("workqueue_longest_running_processor_seconds"), "0+0x30"}, {queue("workqueue_depth"), "0+0x5 3+0x25"}},
		want:  []ExpAlert{managerAlert("SpanSinkOperatorWorkQueueStuck", stuck)},
	}, {
		name: "a busy queue that empties and short reconciles", alert: "SpanSinkOperatorWorkQueueStuck", evalTime: "30m",
		input: []InputSeries{{queue("workqueue_longest_running_processor_seconds"), "0 2 0 5 0 1 0 3 0 2 0 4 0 1 0 2 0 3 0 1 0 2 0 1 0 3 0 2 0 1 0"}, {queue("workqueue_depth"), "0 40 0 12 0 30 0 8 0 25 0 9 0 14 0 20 0 3 0 7 0 15 0 2 0 11 0 6 0 5 0"}},
	}}
	tested := map[string]bool{}
	var tests []RuleTest
	for _, tc := range cases {
		tested[tc.alert] = true
		tests = append(tests, RuleTest{
			Name:           tc.name,
			InputSeries:    tc.input,
			AlertRuleTests: []AlertRuleTest{{EvalTime: tc.evalTime, Alertname: tc.alert, ExpAlerts: tc.want}},
		})
	}
	rule := managerRule(t)
	for _, group := range rule.Spec.Groups {
		for _, r := range group.Rules {
			if !tested[r.Alert] {
				t.Errorf("alert %s has no promtool test", r.Alert)
			}
		}
	}
	rules, err := manifests.RulesFile(rule)
	if err != nil {
		t.Fatal(err)
	}
	ManagerCatalog(t).TestRules(t, rules, tests)
}
