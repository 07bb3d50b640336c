package promcheck

import (
	"strings"
	"testing"
)

const queueRule = `groups:
- name: queue
  rules:
  - alert: QueueFull
    expr: spansink_queue_spans > 10
    for: 5m
    labels:
      severity: warning
    annotations:
      summary: 'queue of {{ $labels.job }} holds {{ $value }} spans'
`

func queueTest(fires bool) RuleTest {
	test := RuleTest{
		Name:           "queue above 10 for 5 minutes",
		InputSeries:    []InputSeries{{Series: `spansink_queue_spans{job="sink"}`, Values: "20+0x10"}},
		AlertRuleTests: []AlertRuleTest{{EvalTime: "10m", Alertname: "QueueFull"}},
	}
	if fires {
		test.AlertRuleTests[0].ExpAlerts = []ExpAlert{{
			ExpLabels:      map[string]string{"severity": "warning", "job": "sink"},
			ExpAnnotations: map[string]string{"summary": "queue of sink holds 20 spans"},
		}}
	}
	return test
}

// The real promtool runs the tests: a right expectation passes, a wrong one
// fails with promtool's report of what did fire.
func TestPromtoolRunsRuleTests(t *testing.T) {
	promtool := Promtool(t)
	catalog(t).TestRules(t, []byte(queueRule), []RuleTest{queueTest(true)})

	out, err := RunPromtoolTest(promtool, t.TempDir(), []byte(queueRule), []RuleTest{queueTest(false)})
	if err == nil || !strings.Contains(string(out), "FAILED") || !strings.Contains(string(out), "QueueFull") {
		t.Errorf("an alert that fires where the test expects none: %v\n%s", err, out)
	}
	out, err = RunPromtoolTest(promtool, t.TempDir(), []byte("groups:\n- name: x\n  rules:\n  - alert: Broken\n    expr: sum(\n"), []RuleTest{queueTest(false)})
	if err == nil || !strings.Contains(string(out), "Broken") && !strings.Contains(string(out), "parse") {
		t.Errorf("a rule that does not parse: %v\n%s", err, out)
	}
}

func TestCheckSeries(t *testing.T) {
	c := catalog(t)
	for series, want := range map[string]string{
		`spansink_queue_spans{namespace="a", job="b"}`:                     "",
		`spansink_flush_duration_seconds_bucket{storage="file", le="0.1"}`: "",
		`spansink_queue_spanz`:                      `spansink_queue_spanz: the scrape has no series of that name`,
		`spansink_spans_received_total{reason="x"}`: `spansink_spans_received_total has no label "reason"`,
		`spansink_queue_spans{`:                     `parse series`,
	} {
		err := c.CheckSeries(series)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("CheckSeries(%s) = %v, want %q", series, err, want)
		}
	}
}
