package promcheck

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"
)

// RuleTest is one unit test of promtool's test file format
// (https://prometheus.io/docs/prometheus/latest/configuration/unit_testing_rules/):
// input series, and the alerts expected to fire at given times.
type RuleTest struct {
	// Name appears in promtool's report of a failure.
	Name string `json:"name,omitempty"`
	// Interval is the step between the values of InputSeries, "1m" if empty.
	Interval    string        `json:"interval,omitempty"`
	InputSeries []InputSeries `json:"input_series"`
	// ExternalLabels are the Prometheus server's, for rules that use
	// $externalLabels.
	ExternalLabels map[string]string `json:"external_labels,omitempty"`
	AlertRuleTests []AlertRuleTest   `json:"alert_rule_test,omitempty"`
}

// InputSeries is one series and its values in promtool's expanding
// notation ("1+0x10", "0+10x30", "_" for a missing sample; promtool 2.42, Debian 12's, lacks the short "1x10").
type InputSeries struct {
	Series string `json:"series"`
	Values string `json:"values"`
}

// AlertRuleTest says which alerts of a name fire at EvalTime: none when
// ExpAlerts is empty.
type AlertRuleTest struct {
	EvalTime  string     `json:"eval_time"`
	Alertname string     `json:"alertname"`
	ExpAlerts []ExpAlert `json:"exp_alerts"`
}

// ExpAlert is one expected firing alert: its labels (the rule's and the
// series') and its expanded annotations, compared exactly.
type ExpAlert struct {
	ExpLabels      map[string]string `json:"exp_labels,omitempty"`
	ExpAnnotations map[string]string `json:"exp_annotations,omitempty"`
}

// testFile is promtool's test file; RuleFiles are relative to it.
type testFile struct {
	RuleFiles          []string   `json:"rule_files"`
	EvaluationInterval string     `json:"evaluation_interval"`
	Tests              []RuleTest `json:"tests"`
}

// Promtool returns the path of promtool. Outside CI a machine without it
// skips the test; in CI (CI=true) its absence fails the test, because
// .ci/run installs it and a skipped rule test would pass unnoticed.
func Promtool(tb testing.TB) string {
	tb.Helper()
	path, err := exec.LookPath("promtool")
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("promtool is not installed (.ci/run installs Debian's prometheus package, which ships it): %v", err)
	}
	tb.Skipf("promtool is not installed (apt-get install prometheus): %v", err)
	return ""
}

// TestRules writes rules (a Prometheus rule file: `groups:`, the spec of a
// PrometheusRule) and tests to a temporary directory and runs `promtool test
// rules` on them, failing the test with promtool's report when it does not
// pass. Every test's input series must be ones the catalog has (see
// CheckSeries), so a test cannot pass on series no process exports.
func (c Catalog) TestRules(tb testing.TB, rules []byte, tests []RuleTest) {
	tb.Helper()
	for _, test := range tests {
		for _, in := range test.InputSeries {
			if err := c.CheckSeries(in.Series); err != nil {
				tb.Errorf("test %q: input series: %v", test.Name, err)
			}
		}
	}
	if tb.Failed() {
		return
	}
	out, err := RunPromtoolTest(Promtool(tb), tb.TempDir(), rules, tests)
	if err != nil {
		tb.Fatalf("%v\n%s\nrules:\n%s", err, out, rules)
	}
}

// RunPromtoolTest writes rules and tests into dir and runs `promtool test
// rules` there, returning its output and an error when the tests fail.
func RunPromtoolTest(promtool, dir string, rules []byte, tests []RuleTest) ([]byte, error) {
	withIntervals := make([]RuleTest, len(tests))
	for i, test := range tests {
		// promtool 2.42 takes a missing interval as zero and then
		// evaluates no series at all: give it the documented default.
		if test.Interval == "" {
			test.Interval = "1m"
		}
		withIntervals[i] = test
	}
	file := testFile{RuleFiles: []string{"rules.yaml"}, EvaluationInterval: "1m", Tests: withIntervals}
	testYAML, err := yaml.Marshal(file)
	if err != nil {
		return nil, fmt.Errorf("marshal the promtool test file: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o644); err != nil {
		return nil, err
	}
	testPath := filepath.Join(dir, "tests.yaml")
	if err := os.WriteFile(testPath, testYAML, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(promtool, "test", "rules", testPath)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("promtool test rules: %w", err)
	}
	return out, nil
}
