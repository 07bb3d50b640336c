package charts

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The chart with its default values installs the objects `make deploy`
// (config/default) installs, field for field, except what is documented as
// the chart's own:
//
//   - the Namespace, which a release does not own (helm install
//     --create-namespace, or a namespace made beforehand; charts/spansink's
//     README);
//   - Helm's standard labels (helm.sh/chart, app.kubernetes.io/instance and
//     app.kubernetes.io/version), and app.kubernetes.io/managed-by, which
//     says Helm in the chart and kustomize in config/;
//   - the CRD's helm.sh/resource-policy: keep, which keeps it, and every
//     SpanSink, when the release is uninstalled.
//
// Each of these is checked to be what it is documented as before it is
// removed, so the comparison removes nothing else.
func TestChartInstallsWhatConfigDefaultInstalls(t *testing.T) {
	kustomized, err := runTool(t, kustomizeBinary(t), "build", filepath.Join("..", "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	assertChartInstalls(t, kustomized, mustHelmTemplate(t))
}

// With its monitoring values on, the chart installs what config/default
// installs with its `#- ../prometheus` line uncommented, as the line's
// comment offers: the manager's ServiceMonitor and PrometheusRule as well.
func TestChartMonitoringIsConfigPrometheus(t *testing.T) {
	overlay := withPrometheus(t)
	kustomized, err := runTool(t, kustomizeBinary(t), "build", "--load-restrictor", "LoadRestrictionsNone", overlay)
	if err != nil {
		t.Fatal(err)
	}
	chartObjects := mustHelmTemplate(t, "--set", "monitoring.serviceMonitor.enabled=true", "--set", "monitoring.prometheusRule.enabled=true")
	kinds := map[string]bool{}
	for _, obj := range chartObjects {
		kinds[fmt.Sprint(obj["kind"])] = true
	}
	if !kinds["ServiceMonitor"] || !kinds["PrometheusRule"] {
		t.Fatalf("the chart with monitoring on renders kinds %v, want a ServiceMonitor and a PrometheusRule", kinds)
	}
	assertChartInstalls(t, kustomized, chartObjects)
}

// With grafanaDashboard.enabled the chart renders config/grafana's
// dashboard ConfigMap: the same name for the default release, the same
// JSON byte for byte, and the sidecar's label.
func TestChartDashboardIsConfigGrafana(t *testing.T) {
	kustomized, err := runTool(t, kustomizeBinary(t), "build", filepath.Join("..", "config", "grafana"))
	if err != nil {
		t.Fatal(err)
	}
	configObjects, err := decodeManifests(kustomized)
	if err != nil {
		t.Fatal(err)
	}
	chartObjects := mustHelmTemplate(t, "--set", "grafanaDashboard.enabled=true", "--set", "grafanaDashboard.namespace=monitoring")
	var want, got object
	for _, obj := range configObjects {
		if obj["kind"] == "ConfigMap" {
			want = obj
		}
	}
	for _, obj := range chartObjects {
		if obj["kind"] == "ConfigMap" {
			got = obj
		}
	}
	if want == nil || got == nil {
		t.Fatalf("config/grafana gives ConfigMap %v, the chart %v", want != nil, got != nil)
	}
	wantMeta, gotMeta := want["metadata"].(map[string]any), got["metadata"].(map[string]any)
	if gotMeta["name"] != wantMeta["name"] || gotMeta["namespace"] != "monitoring" {
		t.Errorf("the chart's dashboard is %v/%v, want monitoring/%v", gotMeta["namespace"], gotMeta["name"], wantMeta["name"])
	}
	if labels, _ := gotMeta["labels"].(map[string]any); labels["grafana_dashboard"] != "1" {
		t.Errorf("the chart's dashboard has labels %v, without the sidecar's grafana_dashboard: \"1\"", labels)
	}
	if diffs := fieldDiffs(object{"data": want["data"]}, object{"data": got["data"]}); len(diffs) > 0 {
		t.Errorf("the chart's dashboard JSON differs from config/grafana's:\n%s", strings.Join(diffs, "\n"))
	}
}

// withPrometheus writes config/default's kustomization with the
// prometheus line uncommented into a scratch directory, its paths made
// relative to it, and returns the directory.
func withPrometheus(t *testing.T) string {
	t.Helper()
	defaultDir, err := filepath.Abs(filepath.Join("..", "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	kustomization, err := os.ReadFile(filepath.Join(defaultDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const offered = "#- ../prometheus\n"
	if !bytes.Contains(kustomization, []byte(offered)) {
		t.Fatalf("config/default/kustomization.yaml no longer offers %q", offered)
	}
	text := strings.Replace(string(kustomization), offered, "- ../prometheus\n", 1)
	// kustomize takes directories by relative path only.
	dir := t.TempDir()
	var lines []string
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, "- "); ok && !strings.Contains(rest, ":") {
			rel, err := filepath.Rel(dir, filepath.Join(defaultDir, rest))
			if err != nil {
				t.Fatal(err)
			}
			line = "- " + rel
		}
		lines = append(lines, line)
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// assertChartInstalls compares the chart's objects with kustomize's, after
// removing the documented differences above.
func assertChartInstalls(t *testing.T, kustomized []byte, chartObjects []object) {
	t.Helper()
	configObjects, err := decodeManifests(kustomized)
	if err != nil {
		t.Fatal(err)
	}

	chartVersion, appVersion := chartMetadata(t)
	helmLabels := map[string]string{
		"helm.sh/chart":                "spansink-" + chartVersion,
		"app.kubernetes.io/instance":   releaseName,
		"app.kubernetes.io/version":    appVersion,
		"app.kubernetes.io/managed-by": "Helm",
	}
	want := map[string]object{}
	for key, obj := range byKey(t, configObjects) {
		if obj["kind"] == "Namespace" {
			if key != "Namespace /"+releaseNamespace {
				t.Errorf("config/default makes namespace %s; the test renders the chart into %s", key, releaseNamespace)
			}
			continue
		}
		removeMetadata(t, obj, "labels", map[string]string{"app.kubernetes.io/managed-by": "kustomize"})
		want[key] = obj
	}
	got := map[string]object{}
	for key, obj := range byKey(t, chartObjects) {
		removeMetadata(t, obj, "labels", helmLabels)
		if obj["kind"] == "CustomResourceDefinition" {
			removeMetadata(t, obj, "annotations", map[string]string{"helm.sh/resource-policy": "keep"})
		}
		got[key] = obj
	}

	for _, key := range sortedKeys(want) {
		if _, ok := got[key]; !ok {
			t.Errorf("config/default installs %s; the chart does not", key)
		}
	}
	for _, key := range sortedKeys(got) {
		wantObj, ok := want[key]
		if !ok {
			t.Errorf("the chart installs %s; config/default does not", key)
			continue
		}
		if diffs := fieldDiffs(wantObj, got[key]); len(diffs) > 0 {
			t.Errorf("%s differs from config/default's:\n%s", key, strings.Join(diffs, "\n"))
		}
	}
}

// fieldDiffs lists the fields where two objects differ, one line each with
// its path and both values: a CRD is thousands of lines, and a whole-object
// diff of it buries the one field that changed.
func fieldDiffs(config, chart object) []string {
	var reporter fieldDiffReporter
	cmp.Equal(config, chart, cmp.Reporter(&reporter))
	return reporter.diffs
}

// fieldDiffReporter is a cmp.Reporter that records each differing leaf.
type fieldDiffReporter struct {
	path  cmp.Path
	diffs []string
}

func (r *fieldDiffReporter) PushStep(step cmp.PathStep) { r.path = append(r.path, step) }

func (r *fieldDiffReporter) PopStep() { r.path = r.path[:len(r.path)-1] }

func (r *fieldDiffReporter) Report(result cmp.Result) {
	if result.Equal() {
		return
	}
	config, chart := r.path.Last().Values()
	r.diffs = append(r.diffs, fmt.Sprintf("  %s: config/default has %s, the chart %s",
		fieldPath(r.path), describe(config), describe(chart)))
}

// fieldPath writes a path into a decoded manifest as kubectl explain does,
// spec.template.spec.containers[0].args, with keys that hold dots (label
// names) in brackets.
func fieldPath(path cmp.Path) string {
	var b strings.Builder
	for _, step := range path {
		switch step := step.(type) {
		case cmp.MapIndex:
			key := fmt.Sprint(step.Key().Interface())
			if strings.ContainsAny(key, "./") {
				fmt.Fprintf(&b, "[%q]", key)
			} else {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(key)
			}
		case cmp.SliceIndex:
			// An element only one side has is -1 on the other.
			config, chart := step.SplitKeys()
			fmt.Fprintf(&b, "[%d]", max(config, chart))
		}
	}
	return b.String()
}

// describe prints a value of a decoded manifest, or "nothing" for a field
// that is absent.
func describe(v reflect.Value) string {
	if !v.IsValid() {
		return "nothing"
	}
	return fmt.Sprintf("%#v", v.Interface())
}

// removeMetadata deletes the given labels or annotations from obj after
// checking that each is there with its documented value, and drops the map
// when nothing is left in it.
func removeMetadata(t *testing.T, obj object, field string, expected map[string]string) {
	t.Helper()
	meta, _ := obj["metadata"].(map[string]any)
	values, _ := meta[field].(map[string]any)
	for name, want := range expected {
		if got, ok := values[name]; !ok || got != want {
			t.Errorf("%s: %s %s is %v, want %q", objectKey(obj), field, name, got, want)
		}
		delete(values, name)
	}
	if len(values) == 0 {
		delete(meta, field)
	}
}

// The chart renders the CRD and the roles' rules from copies of config/'s
// files, which `make chart` (run by `make manifests`) makes. A stale copy
// would also show as a difference above; this says what to run.
func TestChartFilesAreCopiesOfConfig(t *testing.T) {
	for copies, source := range map[string]string{
		filepath.Join(chartPath, "files", "crds"):       filepath.Join("..", "config", "crd", "bases"),
		filepath.Join(chartPath, "files", "rbac"):       filepath.Join("..", "config", "rbac"),
		filepath.Join(chartPath, "files", "prometheus"): filepath.Join("..", "config", "prometheus"),
		filepath.Join(chartPath, "files", "grafana"):    filepath.Join("..", "config", "grafana"),
	} {
		entries, err := os.ReadDir(copies)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 {
			t.Errorf("%s is empty: run `make chart`", copies)
		}
		for _, entry := range entries {
			copied, err := os.ReadFile(filepath.Join(copies, entry.Name()))
			if err != nil {
				t.Fatal(err)
			}
			original, err := os.ReadFile(filepath.Join(source, entry.Name()))
			if err != nil {
				t.Errorf("%s has no original in %s (%v): run `make chart`", entry.Name(), source, err)
				continue
			}
			if !bytes.Equal(copied, original) {
				t.Errorf("%s differs from %s: run `make chart`", filepath.Join(copies, entry.Name()), filepath.Join(source, entry.Name()))
			}
		}
	}
	// Every CRD config/ generates is in the chart.
	crds, err := filepath.Glob(filepath.Join("..", "config", "crd", "bases", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, crd := range crds {
		if _, err := os.Stat(filepath.Join(chartPath, "files", "crds", filepath.Base(crd))); err != nil {
			t.Errorf("%s is not in the chart: run `make chart`", crd)
		}
	}
}

// helm lint --strict fails on warnings as well as errors: a template that
// does not render, a values file the schema refuses, a malformed Chart.yaml.
// Also with every optional extra on, so their templates are linted too.
func TestChartLintsStrictly(t *testing.T) {
	for _, extra := range [][]string{nil, {
		"--set", "monitoring.serviceMonitor.enabled=true", "--set", "monitoring.prometheusRule.enabled=true",
		"--set", "grafanaDashboard.enabled=true",
	}} {
		out, err := runTool(t, helmBinary(t), append([]string{"lint", "--strict", chartPath}, extra...)...)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		t.Logf("%s", out)
	}
}
