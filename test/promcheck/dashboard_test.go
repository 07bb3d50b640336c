package promcheck

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// dashboardDir holds the dashboard's JSON and the kustomization that makes
// it a ConfigMap.
var dashboardDir = filepath.Join("..", "..", "config", "grafana")

const dashboardFile = "spansink-dashboard.json"

// dashboard is the part of Grafana's dashboard JSON model the tests read.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []target `json:"targets"`
	// Panels are a collapsed row's.
	Panels []panel `json:"panels"`
}

type target struct {
	RefID      string         `json:"refId"`
	Expr       string         `json:"expr"`
	Datasource *datasourceRef `json:"datasource"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource *datasourceRef  `json:"datasource"`
}

// promDatasource is how every panel and target names its data source: the
// dashboard's datasource variable, so the dashboard works with whatever
// Prometheus data source a Grafana has.
var promDatasource = datasourceRef{Type: "prometheus", UID: "${datasource}"}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dashboardDir, dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s is not dashboard JSON: %v", dashboardFile, err)
	}
	return d
}

// graphPanels are the panels that query, rows' panels included.
func (d dashboard) graphPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return out
}

func (d dashboard) variable(name string) (variable, bool) {
	for _, v := range d.Templating.List {
		if v.Name == name {
			return v, true
		}
	}
	return variable{}, false
}

// grafanaVariables are the values the test gives Grafana's built-in
// variables so that an expression parses as Prometheus would receive it.
var grafanaVariables = map[string]string{
	"__rate_interval": "5m",
	"__interval":      "1m",
	"__range":         "1h",
}

var variableRef = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]`)

// substitute replaces the dashboard's and Grafana's variables in expr by
// plain values, failing on a variable the dashboard does not define.
func (d dashboard) substitute(expr string) (string, error) {
	var unknown []string
	out := variableRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := variableRef.FindStringSubmatch(ref)
		name := m[1] + m[2] + m[3]
		if value, ok := grafanaVariables[name]; ok {
			return value
		}
		if _, ok := d.variable(name); ok {
			return "value-of-" + name
		}
		unknown = append(unknown, ref)
		return ref
	})
	if len(unknown) > 0 {
		return "", fmt.Errorf("%q uses variables the dashboard does not define: %s", expr, strings.Join(unknown, ", "))
	}
	return out, nil
}

func TestDashboardStructure(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("uid %q, title %q, schemaVersion %d: want a uid, a title and a schema of Grafana 9 or later", d.UID, d.Title, d.SchemaVersion)
	}
	if ds, ok := d.variable("datasource"); !ok || ds.Type != "datasource" || string(ds.Query) != `"prometheus"` {
		t.Errorf("no datasource variable of Prometheus data sources: %+v", ds)
	}
	for _, name := range []string{"namespace", "job"} {
		if v, ok := d.variable(name); !ok || v.Type != "query" || v.Datasource == nil || *v.Datasource != promDatasource {
			t.Errorf("no %s query variable on the datasource variable: %+v", name, v)
		}
	}
	ids := map[int]string{}
	for _, p := range append(d.Panels, d.graphPanels()...) {
		if other, dup := ids[p.ID]; dup && other != p.Title {
			t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.GridPos.W < 1 || p.GridPos.X+p.GridPos.W > 24 || p.GridPos.H < 1 {
			t.Errorf("panel %q: gridPos %+v is outside Grafana's 24 columns", p.Title, p.GridPos)
		}
	}
	for _, p := range d.graphPanels() {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no targets", p.Title)
		}
		if p.Datasource == nil || *p.Datasource != promDatasource {
			t.Errorf("panel %q: datasource %+v, want %+v", p.Title, p.Datasource, promDatasource)
		}
		refIDs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.RefID == "" || refIDs[tg.RefID] {
				t.Errorf("panel %q: target %+v needs an expr and a refId of its own", p.Title, tg)
			}
			refIDs[tg.RefID] = true
			if tg.Datasource == nil || *tg.Datasource != promDatasource {
				t.Errorf("panel %q target %s: datasource %+v, want %+v", p.Title, tg.RefID, tg.Datasource, promDatasource)
			}
		}
	}
}

// The panels the dashboard is for, each with a metric it must read.
func TestDashboardHasThePanels(t *testing.T) {
	d := readDashboard(t)
	reads := map[string]map[string]bool{}
	for _, p := range d.graphPanels() {
		reads[p.Title] = map[string]bool{}
		for _, tg := range p.Targets {
			expr, err := d.substitute(tg.Expr)
			if err != nil {
				t.Fatal(err)
			}
			refs, err := Refer(expr)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range refs.Selectors {
				reads[p.Title][s.Metric] = true
			}
		}
	}
	for title, metrics := range map[string][]string{
		"Spans received and accepted by protocol": {"spansink_spans_accepted_total", "spansink_spans_received_total"},
		"Refusals by reason":                      {"spansink_spans_rejected_total", "spansink_requests_refused_total", "spansink_ingest_unauthenticated_total"},
		"Responses by code":                       {"spansink_requests_total"},
		"Queue depth":                             {"spansink_queue_spans", "spansink_queue_capacity_spans"},
		"Flush size":                              {"spansink_spans_written_total", "spansink_bytes_written_total", "spansink_flush_duration_seconds_count"},
		"Flush latency":                           {"spansink_flush_duration_seconds_bucket"},
		"fsync latency":                           {"spansink_fsync_duration_seconds_bucket"},
		"Bytes written":                           {"spansink_bytes_written_total"},
		"Rotations by reason":                     {"spansink_file_rotations_total"},
		"Storage health":                          {"spansink_storage_healthy"},
		"Storage errors and lost spans":           {"spansink_storage_errors_total", "spansink_spans_lost_total"},
		"Volume usage":                            {"spansink_volume_available_bytes", "spansink_volume_capacity_bytes"},
		"Upload lag":                              {"spansink_upload_oldest_pending_timestamp_seconds"},
		"Upload backlog":                          {"spansink_upload_pending_files", "spansink_upload_pending_bytes"},
		"Uploads by result":                       {"spansink_upload_files_total", "spansink_upload_failing"},
	} {
		have, ok := reads[title]
		if !ok {
			t.Errorf("no panel %q", title)
			continue
		}
		for _, m := range metrics {
			if !have[m] {
				t.Errorf("panel %q does not read %s", title, m)
			}
		}
	}
}

// Every query of every panel and variable reads series a real collector
// exports, with labels they carry, and every selector of a panel is scoped
// by the namespace and job variables so the dashboard shows the SpanSinks
// chosen and no others.
func TestDashboardQueriesReadWhatTheCollectorExports(t *testing.T) {
	d := readDashboard(t)
	c := CollectorCatalog(t)
	for _, p := range d.graphPanels() {
		for _, tg := range p.Targets {
			expr, err := d.substitute(tg.Expr)
			if err != nil {
				t.Errorf("panel %q: %v", p.Title, err)
				continue
			}
			if err := c.Check(expr); err != nil {
				t.Errorf("panel %q target %s: %v", p.Title, tg.RefID, err)
				continue
			}
			refs, _ := Refer(expr)
			for _, s := range refs.Selectors {
				if !contains(s.Labels, "namespace") || !contains(s.Labels, "job") {
					t.Errorf("panel %q target %s: %s is not scoped by $namespace and $job", p.Title, tg.RefID, s.Metric)
				}
			}
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		if err := checkLabelValues(d, c, v); err != nil {
			t.Errorf("variable %s: %v", v.Name, err)
		}
	}
}

// labelValues is Grafana's label_values(selector, label) variable query.
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

func checkLabelValues(d dashboard, c Catalog, v variable) error {
	var query struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(v.Query, &query); err != nil {
		return fmt.Errorf("query %s: %w", v.Query, err)
	}
	m := labelValues.FindStringSubmatch(query.Query)
	if m == nil {
		return fmt.Errorf("query %q is not label_values(selector, label)", query.Query)
	}
	selector, err := d.substitute(m[1])
	if err != nil {
		return err
	}
	// The label asked for must be on the series selected.
	return c.Check(fmt.Sprintf("group by (%s) (%s)", m[2], selector))
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// config/grafana builds into one ConfigMap carrying the dashboard sidecar's
// label and the JSON file as it is.
func TestDashboardConfigMap(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("kubectl is not installed (.ci/run installs it): %v", err)
		}
		t.Skipf("kubectl, whose kustomize builds config/grafana, is not installed: %v", err)
	}
	out, err := exec.Command(kubectl, "kustomize", dashboardDir).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v", dashboardDir, err)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(out, &cm); err != nil {
		t.Fatalf("kubectl kustomize %s does not build one ConfigMap: %v\n%s", dashboardDir, err, out)
	}
	want, err := os.ReadFile(filepath.Join(dashboardDir, dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	if cm.Kind != "ConfigMap" || cm.Name != "spansink-dashboard" || cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("built %s %q with labels %v, want ConfigMap spansink-dashboard labelled grafana_dashboard=1", cm.Kind, cm.Name, cm.Labels)
	}
	if cm.Data[dashboardFile] != string(want) {
		t.Errorf("the ConfigMap's %s differs from the file", dashboardFile)
	}
}
