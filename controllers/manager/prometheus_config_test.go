package manager

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// configDir is the repository's config/.
var configDir = filepath.Join("..", "..", "config")

func readYAML(t *testing.T, obj any, path ...string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(append([]string{configDir}, path...)...))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, obj); err != nil {
		t.Fatalf("%s: %v", filepath.Join(path...), err)
	}
}

// The ServiceMonitor of config/prometheus must find the manager's metrics
// Service and its HTTPS port, and the alerts must select the job the
// ServiceMonitor gives its target: the Service's name after config/default's
// namePrefix. Renaming either side breaks the other silently in a cluster.
func TestPrometheusConfigMatchesTheMetricsService(t *testing.T) {
	service := &corev1.Service{}
	readYAML(t, service, "default", "metrics_service.yaml")
	var kustomization struct {
		NamePrefix string   `json:"namePrefix"`
		Namespace  string   `json:"namespace"`
		Resources  []string `json:"resources"`
		// Labels put on every object; they do not name anything here.
		Labels []map[string]any `json:"labels"`
	}
	readYAML(t, &kustomization, "default", "kustomization.yaml")
	monitor := &monitoringv1.ServiceMonitor{}
	readYAML(t, monitor, "prometheus", "monitor.yaml")
	rule := &monitoringv1.PrometheusRule{}
	readYAML(t, rule, "prometheus", "prometheus_rule.yaml")

	for k, v := range monitor.Spec.Selector.MatchLabels {
		if service.Labels[k] != v {
			t.Errorf("the ServiceMonitor selects %s=%s, which the metrics Service lacks", k, v)
		}
	}
	if len(monitor.Spec.Endpoints) != 1 {
		t.Fatalf("want one endpoint, got %d", len(monitor.Spec.Endpoints))
	}
	endpoint := monitor.Spec.Endpoints[0]
	found := false
	for _, p := range service.Spec.Ports {
		found = found || p.Name == endpoint.Port
	}
	if !found {
		t.Errorf("the metrics Service has no port %q", endpoint.Port)
	}
	if endpoint.Scheme == nil || *endpoint.Scheme != "https" || endpoint.BearerTokenFile == "" {
		t.Errorf("the manager's metrics need HTTPS and a bearer token; endpoint is %+v", endpoint)
	}

	job := `job="` + kustomization.NamePrefix + service.Name + `"`
	selector := regexp.MustCompile(`[a-z_]+\{[^}]*\}`)
	anchors := runbookHeadings(t)
	for _, group := range rule.Spec.Groups {
		for _, r := range group.Rules {
			for _, sel := range selector.FindAllString(r.Expr.StrVal, -1) {
				if !strings.Contains(sel, job) || !strings.Contains(sel, `"spansink"`) {
					t.Errorf("%s: selector %s is not scoped to %s and the spansink controller", r.Alert, sel, job)
				}
			}
			anchor := strings.TrimPrefix(r.Annotations["runbook_url"], "https://github.com/spansink/spansink/blob/main/docs/operating.md#")
			if !anchors[anchor] {
				t.Errorf("%s: runbook_url %q names no heading of docs/operating.md", r.Alert, r.Annotations["runbook_url"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" || r.Labels["severity"] == "" {
				t.Errorf("%s lacks a summary, description or severity", r.Alert)
			}
		}
	}

	// config/default offers it commented out: the CRDs may be missing, and
	// `kustomize build config/default` is what the Helm chart is compared with.
	for _, res := range kustomization.Resources {
		if res == "../prometheus" {
			t.Error("config/default installs config/prometheus; it must stay commented out")
		}
	}
	data, err := os.ReadFile(filepath.Join(configDir, "default", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "#- ../prometheus") {
		t.Error("config/default/kustomization.yaml does not offer #- ../prometheus")
	}
}

// runbookHeadings are the alert-named headings of docs/operating.md, as
// GitHub's lowercase anchors.
func runbookHeadings(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "operating.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		if name, ok := strings.CutPrefix(line, "### "); ok && !strings.Contains(name, " ") {
			anchors[strings.ToLower(name)] = true
		}
	}
	return anchors
}
