package promcheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	grafana "github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// dashboardDir holds the dashboard's JSON and the kustomization that makes
// it a ConfigMap.
var dashboardDir = filepath.Join("..", "..", "config", "grafana")

const dashboardFile = "spansink-dashboard.json"

// dashboard is the dashboard as Grafana's schema reads it, through the
// Grafana Foundation SDK's generated types.
type dashboard struct{ grafana.Dashboard }

// promDatasource is how every panel and target names its data source: the
// dashboard's datasource variable, so the dashboard works with whatever
// Prometheus data source a Grafana has.
var promDatasource = common.DataSourceRef{Type: ptr.To("prometheus"), Uid: ptr.To("${datasource}")}

func isPromDatasource(ref *common.DataSourceRef) bool {
	return ref != nil && ptr.Deref(ref.Type, "") == *promDatasource.Type && ptr.Deref(ref.Uid, "") == *promDatasource.Uid
}

// schemaErrors is err unless it is an empty list: the SDK's strict
// unmarshalling returns its error list, typed, even when it holds none.
func schemaErrors(err error) error {
	var errs cog.BuildErrors
	if errors.As(err, &errs) && len(errs) == 0 {
		return nil
	}
	return err
}

var registerPlugins sync.Once

// readDashboard reads the dashboard strictly by Grafana's schema: a
// missing required field, a field of the wrong type or an unknown one
// fails, as do the schema's value constraints.
func readDashboard(t *testing.T) dashboard {
	t.Helper()
	// The panel and query types (timeseries, prometheus, ...) decode by
	// the plugins registered here.
	registerPlugins.Do(plugins.RegisterDefaultPlugins)
	raw, err := os.ReadFile(filepath.Join(dashboardDir, dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	var strict grafana.Dashboard
	if err := schemaErrors(strict.UnmarshalJSONStrict(raw)); err != nil {
		t.Fatalf("%s does not follow Grafana's dashboard schema:\n%v", dashboardFile, err)
	}
	// The strict decoding reports the schema's errors, but the SDK's typed empty
	// error list also stops it from keeping some of what it decoded (the
	// panels among them); the plain decoding keeps everything.
	var d dashboard
	if err := json.Unmarshal(raw, &d.Dashboard); err != nil {
		t.Fatal(err)
	}
	if err := schemaErrors(d.Validate()); err != nil {
		t.Fatalf("%s breaks constraints of Grafana's dashboard schema:\n%v", dashboardFile, err)
	}
	if len(d.Panels) == 0 {
		t.Fatalf("%s has no panels", dashboardFile)
	}
	return d
}

// panel is a panel that queries, with its Prometheus queries.
type panel struct {
	*grafana.Panel
	queries []*prometheus.Dataquery
}

func (p panel) title() string { return ptr.Deref(p.Title, "") }

// graphPanels are the panels that query, rows' panels included.
func (d dashboard) graphPanels(t *testing.T) []panel {
	t.Helper()
	var all []*grafana.Panel
	for _, p := range d.Panels {
		switch {
		case p.Panel != nil:
			all = append(all, p.Panel)
		case p.RowPanel != nil:
			for i := range p.RowPanel.Panels {
				all = append(all, &p.RowPanel.Panels[i])
			}
		}
	}
	out := make([]panel, len(all))
	for i, p := range all {
		out[i].Panel = p
		for _, target := range p.Targets {
			query, ok := target.(*prometheus.Dataquery)
			if !ok {
				t.Fatalf("panel %q: target %T is not a Prometheus query", ptr.Deref(p.Title, ""), target)
			}
			out[i].queries = append(out[i].queries, query)
		}
	}
	return out
}

func (d dashboard) variable(name string) (grafana.VariableModel, bool) {
	for _, v := range d.Templating.List {
		if v.Name == name {
			return v, true
		}
	}
	return grafana.VariableModel{}, false
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
	if ptr.Deref(d.Uid, "") == "" || ptr.Deref(d.Title, "") == "" || d.SchemaVersion < 36 {
		t.Errorf("uid %q, title %q, schemaVersion %d: want a uid, a title and a schema of Grafana 9 or later", ptr.Deref(d.Uid, ""), ptr.Deref(d.Title, ""), d.SchemaVersion)
	}
	if ds, ok := d.variable("datasource"); !ok || ds.Type != grafana.VariableTypeDatasource || ds.Query == nil || ptr.Deref(ds.Query.String, "") != "prometheus" {
		t.Errorf("no datasource variable of Prometheus data sources: %+v", ds)
	}
	for _, name := range []string{"namespace", "job"} {
		if v, ok := d.variable(name); !ok || v.Type != grafana.VariableTypeQuery || !isPromDatasource(v.Datasource) {
			t.Errorf("no %s query variable on the datasource variable: %+v", name, v)
		}
	}
	ids := map[uint32]string{}
	for _, p := range d.graphPanels(t) {
		title := p.title()
		if p.Id == nil {
			t.Errorf("panel %q has no id", title)
		} else if other, dup := ids[*p.Id]; dup {
			t.Errorf("panels %q and %q share id %d", other, title, *p.Id)
		} else {
			ids[*p.Id] = title
		}
		if g := p.GridPos; g == nil || g.W < 1 || g.X+g.W > 24 || g.H < 1 {
			t.Errorf("panel %q: gridPos %+v is outside Grafana's 24 columns", title, g)
		}
		if len(p.queries) == 0 {
			t.Errorf("panel %q has no targets", title)
		}
		if !isPromDatasource(p.Datasource) {
			t.Errorf("panel %q: datasource %+v, want the datasource variable", title, p.Datasource)
		}
		refIDs := map[string]bool{}
		for _, q := range p.queries {
			refID := ptr.Deref(q.RefId, "")
			if q.Expr == "" || refID == "" || refIDs[refID] {
				t.Errorf("panel %q: target %q needs an expr and a refId of its own", title, refID)
			}
			refIDs[refID] = true
			if !isPromDatasource(q.Datasource) {
				t.Errorf("panel %q target %s: datasource %+v, want the datasource variable", title, refID, q.Datasource)
			}
		}
	}
}

// The panels the dashboard is for, each with a metric it must read.
func TestDashboardHasThePanels(t *testing.T) {
	d := readDashboard(t)
	reads := map[string]map[string]bool{}
	for _, p := range d.graphPanels(t) {
		reads[p.title()] = map[string]bool{}
		for _, q := range p.queries {
			expr, err := d.substitute(q.Expr)
			if err != nil {
				t.Fatal(err)
			}
			refs, err := Refer(expr)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range refs.Selectors {
				reads[p.title()][s.Metric] = true
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
	for _, p := range d.graphPanels(t) {
		for _, q := range p.queries {
			refID := ptr.Deref(q.RefId, "")
			expr, err := d.substitute(q.Expr)
			if err != nil {
				t.Errorf("panel %q: %v", p.title(), err)
				continue
			}
			if err := c.Check(expr); err != nil {
				t.Errorf("panel %q target %s: %v", p.title(), refID, err)
				continue
			}
			refs, _ := Refer(expr)
			for _, s := range refs.Selectors {
				if !contains(s.Labels, "namespace") || !contains(s.Labels, "job") {
					t.Errorf("panel %q target %s: %s is not scoped by $namespace and $job", p.title(), refID, s.Metric)
				}
			}
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != grafana.VariableTypeQuery {
			continue
		}
		if err := checkLabelValues(d, c, v); err != nil {
			t.Errorf("variable %s: %v", v.Name, err)
		}
	}
}

// labelValues is Grafana's label_values(selector, label) variable query.
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

func checkLabelValues(d dashboard, c Catalog, v grafana.VariableModel) error {
	var query string
	switch {
	case v.Query == nil:
		return errors.New("no query")
	case v.Query.String != nil:
		query = *v.Query.String
	default:
		// Grafana 10's form: {"query": "...", "refId": "..."}.
		query, _ = v.Query.Map["query"].(string)
	}
	m := labelValues.FindStringSubmatch(query)
	if m == nil {
		return fmt.Errorf("query %q is not label_values(selector, label)", query)
	}
	selector, err := d.substitute(m[1])
	if err != nil {
		return err
	}
	// The label asked for must be on the series selected.
	return c.Check(fmt.Sprintf("group by (%s) (%s)", m[2], selector))
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
