package controllers

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"

	lua "github.com/yuin/gopher-lua"

	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/sink/configstatus"
)

// healthStates are SpanSinks in the states a person tells apart, each with
// the status a pass computes for it and the health kstatus must read from
// that status (Flux's health checks and cli-utils use exactly this).
var healthStates = []struct {
	name string
	obs  func() *observation
	want kstatus.Status
	// reason is the Reconciling or Stalled reason that says why.
	reason string
}{
	{"serving the current spec", func() *observation { return servingObservation() }, kstatus.CurrentStatus, v1alpha1.ReasonCurrent},
	{"rolling out", func() *observation {
		obs := servingObservation()
		obs.shards[0].deployment.Status.UpdatedReplicas = 0
		return obs
	}, kstatus.InProgressStatus, v1alpha1.ReasonRollingOut},
	{"claim pending", func() *observation {
		return &observation{shards: []shardObservation{{index: 0}}, claimWait: &claimWait{name: "sink-data"}}
	}, kstatus.InProgressStatus, v1alpha1.ReasonClaimPending},
	{"config not yet applied", func() *observation {
		obs := servingObservation()
		obs.config.statuses[0].AppliedHash = "older"
		return obs
	}, kstatus.InProgressStatus, v1alpha1.ReasonPending},
	{"API error retried", func() *observation {
		obs := servingObservation()
		obs.err = errors.New("update Deployment: the server is currently unable to handle the request")
		return obs
	}, kstatus.InProgressStatus, v1alpha1.ReasonReconcileError},
	{"invalid spec", func() *observation {
		return &observation{shards: []shardObservation{{index: 0}}, invalidSpec: errors.New("spec.storage.path: must be absolute")}
	}, kstatus.FailedStatus, v1alpha1.ReasonInvalidSpec},
	{"Secret missing while the collector serves", func() *observation {
		obs := servingObservation()
		obs.secretProblems = []secretProblem{{missing: true, message: "Secret tokens named by spec.auth.bearerTokenSecretRef does not exist"}}
		return obs
	}, kstatus.FailedStatus, v1alpha1.ReasonSecretNotFound},
	{"config refused", func() *observation {
		obs := servingObservation()
		obs.config.statuses[0].AppliedHash = "older"
		obs.config.statuses[0].RefusedHash = obs.config.want
		obs.config.statuses[0].RefusedError = "batch.size: must be at least 1"
		return obs
	}, kstatus.FailedStatus, v1alpha1.ReasonRefused},
	{"monitoring waits for the Prometheus Operator", func() *observation {
		obs := servingObservation()
		obs.monitoring = monitoringObservation{observed: true, notInstalled: []string{"podmonitors.monitoring.coreos.com"}}
		return obs
	}, kstatus.CurrentStatus, v1alpha1.ReasonCurrent},
	{"PodMonitor held by someone else", func() *observation {
		obs := servingObservation()
		obs.monitoring = monitoringObservation{observed: true, conflicts: []string{"PodMonitor sink-collector"}}
		return obs
	}, kstatus.FailedStatus, v1alpha1.ReasonChildConflict},
	{"volume unwritable", func() *observation {
		obs := servingObservation()
		obs.volumeFailingPod = "sink-collector-abc"
		return obs
	}, kstatus.FailedStatus, v1alpha1.ReasonVolumeUnwritable},
}

func TestKstatusReadsTheHealth(t *testing.T) {
	for _, tc := range healthStates {
		t.Run(tc.name, func(t *testing.T) {
			sink := statusFor(t, tc.obs())
			res, err := kstatus.Compute(toUnstructured(t, sink))
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.want {
				t.Fatalf("kstatus reads %s (%s), want %s; conditions %+v", res.Status, res.Message, tc.want, sink.Status.Conditions)
			}
			var said *metav1.Condition
			for i, c := range sink.Status.Conditions {
				if (c.Type == v1alpha1.ConditionReconciling || c.Type == v1alpha1.ConditionStalled) && c.Status == metav1.ConditionTrue {
					if said != nil {
						t.Fatalf("both Reconciling and Stalled are True: %+v", sink.Status.Conditions)
					}
					said = &sink.Status.Conditions[i]
				}
			}
			if tc.want == kstatus.CurrentStatus {
				if said != nil {
					t.Fatalf("%s is True on a current SpanSink", said.Type)
				}
				return
			}
			if said == nil || said.Reason != tc.reason || said.Message == "" {
				t.Fatalf("the True condition is %+v, want reason %s with a message", said, tc.reason)
			}
		})
	}
}

// A blocked pass that waits on a person claims the generation, or kstatus
// would read InProgress forever; one retried after an API error does not.
func TestObservedGenerationOfBlockedPasses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		obs   *observation
		claim bool
	}{
		{"invalid spec", &observation{invalidSpec: errors.New("bad")}, true},
		{"child conflict", &observation{conflicts: []string{"ConfigMap sink-collector"}}, true},
		{"API error", &observation{err: errors.New("timeout")}, false},
	} {
		sink := statusFor(t, tc.obs)
		if got := sink.Status.ObservedGeneration == sink.Generation; got != tc.claim {
			t.Errorf("%s: observedGeneration %d at generation %d, claim %v", tc.name, sink.Status.ObservedGeneration, sink.Generation, tc.claim)
		}
	}
}

// status.image, the Image column, is what shard 0's Deployment runs.
func TestStatusImageIsTheRunningImage(t *testing.T) {
	if got := statusFor(t, servingObservation()).Status.Image; got != "registry.example/spansink:v0.3.1" {
		t.Errorf("status.image %q, want the Deployment's collector image", got)
	}
	if got := statusFor(t, &observation{shards: []shardObservation{{index: 0}}}).Status.Image; got != "" {
		t.Errorf("status.image %q without a Deployment, want empty", got)
	}
}

// statusFor is a generation-3 SpanSink with a PodMonitor and the status a
// pass computes from obs.
func statusFor(t *testing.T, obs *observation) *v1alpha1.SpanSink {
	t.Helper()
	sink := &v1alpha1.SpanSink{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "SpanSink"},
		ObjectMeta: metav1.ObjectMeta{Name: "sink", Namespace: "team", Generation: 3},
	}
	// Asked for, so that the monitoring states below have a condition;
	// a pass that did not get as far as monitoring sets none.
	sink.Spec.Monitoring.PodMonitor.Enabled = true
	sink.Status = computeStatus(sink, obs)
	return sink
}

// servingObservation is one shard whose Deployment runs the current spec
// with an available pod that applies the current config.
func servingObservation() *observation {
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "sink-collector", Generation: 2},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "collector", Image: "registry.example/spansink:v0.3.1"}},
		}}},
		Status: appsv1.DeploymentStatus{
			ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}},
		},
	}
	return &observation{
		shards:       []shardObservation{{index: 0, deployment: deploy}},
		serviceReady: true,
		config: &configReport{
			want:     "current",
			statuses: []configstatus.Status{{AppliedHash: "current", Generation: 1}},
		},
	}
}

func toUnstructured(t *testing.T, sink *v1alpha1.SpanSink) *unstructured.Unstructured {
	t.Helper()
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(sink)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: content}
}

// The Argo CD health check in config/argocd reads the same status the same
// way: Current is Healthy, InProgress Progressing, Failed Degraded.
func TestArgoCDHealthCheckAgreesWithKstatus(t *testing.T) {
	script, err := os.ReadFile(filepath.Join("..", "config", "argocd", "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	argo := map[kstatus.Status]string{
		kstatus.CurrentStatus: "Healthy", kstatus.InProgressStatus: "Progressing", kstatus.FailedStatus: "Degraded",
	}
	for _, tc := range healthStates {
		t.Run(tc.name, func(t *testing.T) {
			sink := statusFor(t, tc.obs())
			status, message := runHealthCheck(t, string(script), toUnstructured(t, sink).Object)
			if status != argo[tc.want] {
				t.Fatalf("Argo CD health %s (%s), want %s", status, message, argo[tc.want])
			}
			if tc.want != kstatus.CurrentStatus && !strings.HasPrefix(message, tc.reason+": ") {
				t.Errorf("message %q does not start with the reason %s", message, tc.reason)
			}
		})
	}
	t.Run("status of an older generation", func(t *testing.T) {
		sink := statusFor(t, servingObservation())
		sink.Generation++
		if status, _ := runHealthCheck(t, string(script), toUnstructured(t, sink).Object); status != "Progressing" {
			t.Fatalf("health %s, want Progressing", status)
		}
	})
}

// runHealthCheck runs an Argo CD health script as Argo CD does: with the
// object as the global table obj, returning a table of status and message.
func runHealthCheck(t *testing.T, script string, obj map[string]any) (status, message string) {
	t.Helper()
	L := lua.NewState(lua.Options{SkipOpenLibs: false})
	defer L.Close()
	L.SetGlobal("obj", luaValue(L, obj))
	if err := L.DoString(script); err != nil {
		t.Fatalf("health.lua: %v", err)
	}
	hs, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("health.lua returned %s, want a table", L.Get(-1).Type())
	}
	return lua.LVAsString(hs.RawGetString("status")), lua.LVAsString(hs.RawGetString("message"))
}

// luaValue converts decoded JSON into Lua values, arrays as 1-based tables.
func luaValue(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		table := L.NewTable()
		for k, e := range v {
			table.RawSetString(k, luaValue(L, e))
		}
		return table
	case []any:
		table := L.NewTable()
		for _, e := range v {
			table.Append(luaValue(L, e))
		}
		return table
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case nil:
		return lua.LNil
	}
	panic(fmt.Sprintf("no Lua value for %T", v))
}
