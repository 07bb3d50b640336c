package charts

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	managercmd "github.com/spansink/spansink/cmd/manager"
)

// managerContainer is the manager's container in the chart's Deployment.
func managerContainer(t *testing.T, d *appsv1.Deployment) corev1.Container {
	t.Helper()
	containers := d.Spec.Template.Spec.Containers
	if len(containers) != 1 || containers[0].Name != "manager" {
		t.Fatalf("want one container named manager, got %+v", containers)
	}
	return containers[0]
}

// managerFlags parses the container's arguments with the real `spansink
// manager` command line, as the process in the pod will: a flag the
// manager does not have, or a value it cannot parse (an integer rendered
// as 1e+06), fails here. It returns each flag's value as the command holds
// it after parsing.
func managerFlags(t *testing.T, c corev1.Container) map[string]string {
	t.Helper()
	if len(c.Args) == 0 || c.Args[0] != "manager" {
		t.Fatalf("the container's args do not start with the manager subcommand: %q", c.Args)
	}
	cmd := managercmd.NewCommand()
	if err := cmd.ParseFlags(c.Args[1:]); err != nil {
		t.Fatalf("spansink manager refuses the chart's arguments %q: %v", c.Args[1:], err)
	}
	values := map[string]string{}
	for _, name := range []string{"leader-elect", "metrics-bind-address", "health-probe-bind-address",
		"zap-log-level", "max-concurrent-reconciles", "kube-api-qps", "kube-api-burst"} {
		flag := cmd.Flags().Lookup(name)
		if flag == nil {
			t.Fatalf("spansink manager has no --%s", name)
		}
		values[name] = flag.Value.String()
	}
	return values
}

// env is the value of a container's environment variable.
func env(c corev1.Container, name string) string {
	for _, v := range c.Env {
		if v.Name == name {
			return v.Value
		}
	}
	return ""
}

// Each value changes what it says it changes; what the other values
// govern is checked by the drift test with the defaults.
func TestChartValuesRenderAsDocumented(t *testing.T) {
	_, appVersion := chartMetadata(t)
	defaults := managerFlags(t, managerContainer(t, deployment(t, mustHelmTemplate(t))))
	withFlags := func(changes map[string]string) map[string]string {
		want := map[string]string{}
		for name, value := range defaults {
			want[name] = value
		}
		for name, value := range changes {
			want[name] = value
		}
		return want
	}

	tests := []struct {
		name string
		// release is the release name, releaseName if empty.
		release string
		set     []string
		// values is a values file's content, given with -f.
		values string
		check  func(t *testing.T, objects []object)
	}{{
		name: "image",
		set:  []string{"image.repository=registry.example/team/spansink", "image.tag=v9.8.7", "image.pullPolicy=Always"},
		check: func(t *testing.T, objects []object) {
			c := managerContainer(t, deployment(t, objects))
			if c.Image != "registry.example/team/spansink:v9.8.7" || c.ImagePullPolicy != corev1.PullAlways {
				t.Errorf("image %q pull policy %q, want registry.example/team/spansink:v9.8.7 Always", c.Image, c.ImagePullPolicy)
			}
			// Collectors follow the operator's image unless told otherwise.
			if got := env(c, "SPANSINK_IMAGE"); got != c.Image {
				t.Errorf("SPANSINK_IMAGE %q, want the manager's image %q", got, c.Image)
			}
		},
	}, {
		name: "the image tag defaults to the chart's appVersion",
		set:  []string{"image.repository=registry.example/spansink"},
		check: func(t *testing.T, objects []object) {
			c := managerContainer(t, deployment(t, objects))
			if want := "registry.example/spansink:" + appVersion; c.Image != want {
				t.Errorf("image %q, want %q", c.Image, want)
			}
			if c.ImagePullPolicy != "" {
				t.Errorf("pull policy %q, want none (Kubernetes' default)", c.ImagePullPolicy)
			}
		},
	}, {
		name: "collectorImage",
		set:  []string{"collectorImage=registry.example/collector:v2"},
		check: func(t *testing.T, objects []object) {
			c := managerContainer(t, deployment(t, objects))
			if got := env(c, "SPANSINK_IMAGE"); got != "registry.example/collector:v2" {
				t.Errorf("SPANSINK_IMAGE %q, want registry.example/collector:v2", got)
			}
			if c.Image != "ghcr.io/spansink/spansink:"+appVersion {
				t.Errorf("the manager's image changed with collectorImage: %q", c.Image)
			}
		},
	}, {
		// A values file gives every number as a float, which a template
		// prints as 1e+08 unless it says otherwise.
		name: "manager flags from a values file",
		values: `manager:
  logLevel: debug
  maxConcurrentReconciles: 3
  kubeAPIQPS: 12.5
  kubeAPIBurst: 100000000
`,
		check: func(t *testing.T, objects []object) {
			got := managerFlags(t, managerContainer(t, deployment(t, objects)))
			want := withFlags(map[string]string{"zap-log-level": "debug", "max-concurrent-reconciles": "3",
				"kube-api-qps": "12.5", "kube-api-burst": "100000000"})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("flags (-want +got):\n%s", diff)
			}
		},
	}, {
		// --set gives integers as integers and fractions as strings.
		name: "manager flags from --set",
		set: []string{"manager.logLevel=error", "manager.maxConcurrentReconciles=16",
			"manager.kubeAPIQPS=0.5", "manager.kubeAPIBurst=100000000"},
		check: func(t *testing.T, objects []object) {
			got := managerFlags(t, managerContainer(t, deployment(t, objects)))
			want := withFlags(map[string]string{"zap-log-level": "error", "max-concurrent-reconciles": "16",
				"kube-api-qps": "0.5", "kube-api-burst": "100000000"})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("flags (-want +got):\n%s", diff)
			}
		},
	}, {
		name: "a numeric log level",
		set:  []string{"manager.logLevel=4"},
		check: func(t *testing.T, objects []object) {
			if got := managerFlags(t, managerContainer(t, deployment(t, objects)))["zap-log-level"]; got != "4" {
				t.Errorf("--zap-log-level %q, want 4", got)
			}
		},
	}, {
		name: "leader election off",
		set:  []string{"leaderElection.enabled=false"},
		check: func(t *testing.T, objects []object) {
			got := managerFlags(t, managerContainer(t, deployment(t, objects)))
			if diff := cmp.Diff(withFlags(map[string]string{"leader-elect": "false"}), got); diff != "" {
				t.Errorf("flags (-want +got):\n%s", diff)
			}
		},
	}, {
		name: "replicas with leader election",
		set:  []string{"replicaCount=3"},
		check: func(t *testing.T, objects []object) {
			if got := deployment(t, objects).Spec.Replicas; got == nil || *got != 3 {
				t.Errorf("replicas %v, want 3", got)
			}
		},
	}, {
		name: "crds.install=false leaves out the CRD and nothing else",
		set:  []string{"crds.install=false"},
		check: func(t *testing.T, objects []object) {
			all := byKey(t, mustHelmTemplate(t))
			without := byKey(t, objects)
			for _, key := range sortedKeys(all) {
				_, kept := without[key]
				isCRD := all[key]["kind"] == "CustomResourceDefinition"
				if isCRD && kept {
					t.Errorf("%s rendered with crds.install=false", key)
				}
				if !isCRD && !kept {
					t.Errorf("%s left out with crds.install=false", key)
				}
			}
		},
	}, {
		name: "placement",
		set: []string{"nodeSelector.kubernetes\\.io/os=linux", "nodeSelector.pool=operators",
			"tolerations[0].key=dedicated", "tolerations[0].operator=Equal", "tolerations[0].value=operators", "tolerations[0].effect=NoSchedule",
			"affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=zone",
			"affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=In",
			"affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values[0]=a"},
		check: func(t *testing.T, objects []object) {
			spec := deployment(t, objects).Spec.Template.Spec
			if diff := cmp.Diff(map[string]string{"kubernetes.io/os": "linux", "pool": "operators"}, spec.NodeSelector); diff != "" {
				t.Errorf("nodeSelector (-want +got):\n%s", diff)
			}
			wantTolerations := []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "operators", Effect: corev1.TaintEffectNoSchedule}}
			if diff := cmp.Diff(wantTolerations, spec.Tolerations); diff != "" {
				t.Errorf("tolerations (-want +got):\n%s", diff)
			}
			wantAffinity := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}},
				}}},
			}}
			if diff := cmp.Diff(wantAffinity, spec.Affinity); diff != "" {
				t.Errorf("affinity (-want +got):\n%s", diff)
			}
		},
	}, {
		name: "resources",
		set:  []string{"resources.requests.cpu=250m", "resources.requests.memory=128Mi", "resources.limits.memory=1Gi"},
		check: func(t *testing.T, objects []object) {
			got := managerContainer(t, deployment(t, objects)).Resources
			want := corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
			}
			if !equalResources(got.Requests, want.Requests) || !equalResources(got.Limits, want.Limits) {
				t.Errorf("resources %v, want %v", got, want)
			}
		},
	}, {
		name: "podSecurityContext",
		set:  []string{"podSecurityContext.runAsUser=1000", "podSecurityContext.runAsGroup=1000", "podSecurityContext.fsGroup=1000"},
		check: func(t *testing.T, objects []object) {
			got := deployment(t, objects).Spec.Template.Spec.SecurityContext
			want := &corev1.PodSecurityContext{
				RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](1000), RunAsGroup: ptr.To[int64](1000), FSGroup: ptr.To[int64](1000),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("pod securityContext (-want +got):\n%s", diff)
			}
		},
	}, {
		name:    "a release of another name",
		release: "tracing",
		check: func(t *testing.T, objects []object) {
			d := deployment(t, objects)
			if d.Name != "tracing-spansink-controller-manager" || d.Spec.Template.Spec.ServiceAccountName != "tracing-spansink-controller-manager" {
				t.Errorf("Deployment %s with service account %s, want both tracing-spansink-controller-manager", d.Name, d.Spec.Template.Spec.ServiceAccountName)
			}
			assertBindingsName(t, objects, "tracing-spansink-controller-manager")
		},
	}, {
		name: "fullnameOverride",
		set:  []string{"fullnameOverride=ops-traces"},
		check: func(t *testing.T, objects []object) {
			if d := deployment(t, objects); d.Name != "ops-traces-controller-manager" {
				t.Errorf("Deployment %s, want ops-traces-controller-manager", d.Name)
			}
			assertBindingsName(t, objects, "ops-traces-controller-manager")
		},
	}, {
		name: "monitoring is off unless asked for",
		check: func(t *testing.T, objects []object) {
			for _, kind := range []string{"ServiceMonitor", "PrometheusRule"} {
				if got := objectsOfKind(objects, kind); len(got) != 0 {
					t.Errorf("default values render %d %s", len(got), kind)
				}
			}
		},
	}, {
		name:    "monitoring of a release of another name",
		release: "tracing",
		set: []string{"monitoring.serviceMonitor.enabled=true", "monitoring.prometheusRule.enabled=true",
			"monitoring.serviceMonitor.labels.release=kps", "monitoring.prometheusRule.labels.release=kps"},
		check: func(t *testing.T, objects []object) {
			monitors, rules := objectsOfKind(objects, "ServiceMonitor"), objectsOfKind(objects, "PrometheusRule")
			if len(monitors) != 1 || len(rules) != 1 {
				t.Fatalf("%d ServiceMonitors and %d PrometheusRules, want one each", len(monitors), len(rules))
			}
			for _, obj := range []object{monitors[0], rules[0]} {
				if labels := nested(obj, "metadata", "labels").(map[string]any); labels["release"] != "kps" {
					t.Errorf("%s labels %v lack release: kps", obj["kind"], labels)
				}
			}
			// The alerts select the job Prometheus gives this release's
			// metrics Service, and no other.
			spec := fmt.Sprint(rules[0]["spec"])
			if !strings.Contains(spec, `job="tracing-spansink-controller-manager-metrics"`) || strings.Contains(spec, `job="spansink-controller-manager-metrics"`) {
				t.Errorf("the rules do not select job tracing-spansink-controller-manager-metrics alone:\n%s", spec)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := tt.release
			if release == "" {
				release = releaseName
			}
			var args []string
			for _, value := range tt.set {
				args = append(args, "--set", value)
			}
			if tt.values != "" {
				file := filepath.Join(t.TempDir(), "values.yaml")
				if err := os.WriteFile(file, []byte(tt.values), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "-f", file)
			}
			objects, err := helmTemplateRelease(t, release, args...)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, objects)
		})
	}
}

// equalResources compares quantities by value, as the API server does.
func equalResources(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for name, quantity := range a {
		other, ok := b[name]
		if !ok || quantity.Cmp(other) != 0 {
			return false
		}
	}
	return true
}

// assertBindingsName checks that every binding's subject is the release's
// service account, so that the pod runs with the roles the chart grants.
func assertBindingsName(t *testing.T, objects []object, serviceAccount string) {
	t.Helper()
	bindings := 0
	for _, obj := range objects {
		if obj["kind"] != "ClusterRoleBinding" && obj["kind"] != "RoleBinding" {
			continue
		}
		bindings++
		subjects, _ := obj["subjects"].([]any)
		for _, s := range subjects {
			subject, _ := s.(map[string]any)
			if subject["name"] != serviceAccount || subject["namespace"] != releaseNamespace {
				t.Errorf("%s binds %v/%v, want %s/%s", objectKey(obj), subject["namespace"], subject["name"], releaseNamespace, serviceAccount)
			}
		}
	}
	if bindings == 0 {
		t.Error("no bindings rendered")
	}
}

// Values that cannot work are refused when the chart is rendered, with a
// message that names the value, instead of a manager that does not start.
func TestChartRefusesValuesThatCannotWork(t *testing.T) {
	tests := []struct {
		name string
		set  []string
		want string
	}{
		{"replicas without leader election", []string{"replicaCount=2", "leaderElection.enabled=false"}, "replicaCount 2 needs leaderElection.enabled"},
		{"burst below QPS", []string{"manager.kubeAPIQPS=100", "manager.kubeAPIBurst=50"}, "manager.kubeAPIBurst (50) must be at least manager.kubeAPIQPS (100)"},
		{"unknown log level", []string{"manager.logLevel=verbose"}, "manager/logLevel"},
		{"log level 0", []string{"manager.logLevel=0"}, "manager/logLevel"},
		{"no reconciles", []string{"manager.maxConcurrentReconciles=0"}, "manager/maxConcurrentReconciles"},
		{"QPS of 0", []string{"manager.kubeAPIQPS=0"}, "manager/kubeAPIQPS"},
		// --set gives a fraction as a string.
		{"QPS of 0.0 as a string", []string{"manager.kubeAPIQPS=0.0"}, "manager.kubeAPIQPS must be more than 0"},
		{"QPS not a number", []string{"manager.kubeAPIQPS=fast"}, "manager/kubeAPIQPS"},
		{"unknown pull policy", []string{"image.pullPolicy=Sometimes"}, "image/pullPolicy"},
		// A misspelt value would otherwise be ignored without a word.
		{"misspelt value", []string{"image.tags=v1"}, "tags"},
		{"misspelt manager value", []string{"manager.maxConcurrentReconcile=4"}, "maxConcurrentReconcile"},
		{"name too long", []string{"fullnameOverride=" + strings.Repeat("a", 37)}, "at most 36"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var args []string
			for _, value := range tt.set {
				args = append(args, "--set", value)
			}
			_, err := helmTemplate(t, args...)
			if err == nil {
				t.Fatalf("helm template with %v succeeded, want an error naming %q", tt.set, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
		})
	}
}

// objectsOfKind are the objects of one kind.
func objectsOfKind(objects []object, kind string) []object {
	var of []object
	for _, obj := range objects {
		if obj["kind"] == kind {
			of = append(of, obj)
		}
	}
	return of
}

// nested is the value at a path of maps, nil where there is none.
func nested(obj object, path ...string) any {
	var v any = map[string]any(obj)
	for _, key := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[key]
	}
	return v
}
