package manifests

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/sink/config"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// threeShardSink is the default SpanSink with three shards.
func threeShardSink() *v1alpha1.SpanSink {
	sink := defaultedSink()
	sink.Spec.Replicas = ptr.To[int32](3)
	return sink
}

// The children of a sharded SpanSink, pinned: shard 1's Deployment and
// claim, the budget and the headless Service.
func TestShardsGolden(t *testing.T) {
	desired, err := Build(Params{Sink: threeShardSink(), DefaultImage: testImage})
	if err != nil {
		t.Fatal(err)
	}
	if len(desired.Shards) != 3 {
		t.Fatalf("built %d shards, want 3", len(desired.Shards))
	}
	assertGolden(t, "deployment_shard1", desired.Shards[1].Deployment)
	assertGolden(t, "persistentvolumeclaim_shard1", desired.Shards[1].Claim)
	assertGolden(t, "poddisruptionbudget_shards", desired.PodDisruptionBudget)
	assertGolden(t, "service_headless", desired.HeadlessService)
}

// Each shard has its own names, claim, selector and pod identity, and
// everything else of the pod is the same for all shards: they run one
// config.
func TestShardsDifferOnlyInTheirIdentity(t *testing.T) {
	sink := threeShardSink()
	desired, err := Build(Params{Sink: sink, DefaultImage: testImage})
	if err != nil {
		t.Fatal(err)
	}
	wantDeployments := []string{"traces-collector", "traces-collector-1", "traces-collector-2"}
	wantClaims := []string{"traces-data", "traces-data-1", "traces-data-2"}
	seenClaims := map[string]bool{}
	for i, shard := range desired.Shards {
		deploy, claim := shard.Deployment, shard.Claim
		if shard.Index != int32(i) || deploy.Name != wantDeployments[i] || claim.Name != wantClaims[i] {
			t.Errorf("shard %d: index %d, Deployment %s, claim %s; want %s and %s", i, shard.Index, deploy.Name, claim.Name, wantDeployments[i], wantClaims[i])
		}
		pod := deploy.Spec.Template
		if got := pod.Spec.Volumes[1].PersistentVolumeClaim.ClaimName; got != claim.Name {
			t.Errorf("shard %d mounts claim %s, want its own %s", i, got, claim.Name)
		}
		seenClaims[pod.Spec.Volumes[1].PersistentVolumeClaim.ClaimName] = true
		index := fmt.Sprint(i)
		for what, labels := range map[string]map[string]string{"pod": pod.Labels, "Deployment": deploy.Labels, "claim": claim.Labels} {
			if labels[LabelShard] != index {
				t.Errorf("shard %d: %s label %s = %q, want %q", i, what, LabelShard, labels[LabelShard], index)
			}
		}
		// The selector must select this shard's pod, and no other shard's
		// pod may match it except through shard 0's unchangeable selector.
		for j, other := range desired.Shards {
			matches := selects(deploy.Spec.Selector.MatchLabels, other.Deployment.Spec.Template.Labels)
			if want := i == j || i == 0; matches != want {
				t.Errorf("shard %d's selector matches shard %d's pod: %v, want %v", i, j, matches, want)
			}
		}
		if pod.Spec.Hostname != "shard-"+index || pod.Spec.Subdomain != "traces-shards" {
			t.Errorf("shard %d: hostname %q subdomain %q, want shard-%s under traces-shards", i, pod.Spec.Hostname, pod.Spec.Subdomain, index)
		}
		if got, ok := ShardIndex(deploy); !ok || got != int32(i) {
			t.Errorf("ShardIndex of shard %d's Deployment is %d, %v", i, got, ok)
		}

		base := desired.Shards[0].Deployment.Spec.Template.DeepCopy()
		this := pod.DeepCopy()
		for _, tmpl := range []*corev1.PodTemplateSpec{base, this} {
			delete(tmpl.Labels, LabelShard)
			tmpl.Spec.Hostname = ""
			tmpl.Spec.Volumes[1].PersistentVolumeClaim.ClaimName = ""
		}
		if !maps.Equal(base.Annotations, this.Annotations) || fmt.Sprint(base) != fmt.Sprint(this) {
			t.Errorf("shard %d's pod differs from shard 0's beyond its identity", i)
		}
	}
	if len(seenClaims) != 3 {
		t.Errorf("the shards mount %d distinct claims, want 3", len(seenClaims))
	}
	for _, selector := range []map[string]string{desired.Service.Spec.Selector, desired.HeadlessService.Spec.Selector, desired.PodDisruptionBudget.Spec.Selector.MatchLabels} {
		for i, shard := range desired.Shards {
			if !selects(selector, shard.Deployment.Spec.Template.Labels) {
				t.Errorf("selector %v misses shard %d's pod", selector, i)
			}
		}
	}
	if got := Selector(sink); got != "app.kubernetes.io/instance=traces,app.kubernetes.io/name=spansink" {
		t.Errorf("Selector = %q", got)
	}
}

func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// A budget on one pod blocks every node drain, so one shard gets none; from
// two on, at most one shard may be evicted at a time.
func TestPodDisruptionBudgetFromTwoShards(t *testing.T) {
	for replicas, want := range map[int32]bool{1: false, 2: true, 5: true} {
		sink := defaultedSink()
		sink.Spec.Replicas = ptr.To(replicas)
		budget := PodDisruptionBudget(sink)
		if (budget != nil) != want {
			t.Errorf("%d shards: budget %v, want one: %v", replicas, budget, want)
			continue
		}
		if budget != nil && (budget.Spec.MaxUnavailable.IntValue() != 1 || budget.Spec.MinAvailable != nil) {
			t.Errorf("%d shards: budget %+v, want maxUnavailable 1", replicas, budget.Spec)
		}
	}
}

// The user's constraints replace the default spread; without them the
// shards spread softly over nodes, then zones.
func TestTopologySpread(t *testing.T) {
	sink := threeShardSink()
	spread := Deployment
	deploy, err := spread(Params{Sink: sink, DefaultImage: testImage}, mustRender(t, sink), 2)
	if err != nil {
		t.Fatal(err)
	}
	got := deploy.Spec.Template.Spec.TopologySpreadConstraints
	if len(got) != 2 || got[0].TopologyKey != corev1.LabelHostname || got[1].TopologyKey != corev1.LabelTopologyZone {
		t.Fatalf("default spread %+v, want hostname then zone", got)
	}
	for _, c := range got {
		if c.WhenUnsatisfiable != corev1.ScheduleAnyway || c.MaxSkew != 1 || !maps.Equal(c.LabelSelector.MatchLabels, SelectorLabels(sink)) {
			t.Errorf("default constraint %+v, want maxSkew 1, ScheduleAnyway, over every shard's pods", c)
		}
	}

	sink.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "rack", WhenUnsatisfiable: corev1.DoNotSchedule}}
	deploy, err = spread(Params{Sink: sink, DefaultImage: testImage}, mustRender(t, sink), 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := deploy.Spec.Template.Spec.TopologySpreadConstraints; len(got) != 1 || got[0].TopologyKey != "rack" || got[0].WhenUnsatisfiable != corev1.DoNotSchedule {
		t.Errorf("user spread %+v, want exactly the user's", got)
	}
}

func mustRender(t *testing.T, sink *v1alpha1.SpanSink) RenderedConfig {
	t.Helper()
	rendered, err := RenderConfig(sink)
	if err != nil {
		t.Fatal(err)
	}
	return rendered
}

// Long SpanSink names still give every shard distinct names within a DNS
// label, and objects without the shard label are shard 0's.
func TestShardNames(t *testing.T) {
	sink := defaultedSink()
	sink.Name = strings.Repeat("a", 60)
	seen := map[string]bool{}
	for i := range int32(12) {
		for _, name := range []string{ShardDeploymentName(sink, i), ShardClaimName(sink, i)} {
			if len(name) > maxNameLength || seen[name] {
				t.Errorf("shard %d name %q: longer than %d or taken", i, name, maxNameLength)
			}
			seen[name] = true
		}
	}
	unlabelled := defaultedSink().DeepCopy()
	unlabelled.Labels = map[string]string{}
	if index, ok := ShardIndex(unlabelled); !ok || index != 0 {
		t.Errorf("an object without %s is shard %d (%v), want 0", LabelShard, index, ok)
	}
	unlabelled.Labels[LabelShard] = "x"
	if _, ok := ShardIndex(unlabelled); ok {
		t.Errorf("a bad %s value reads as a shard index", LabelShard)
	}
}

// With an object store, each shard's pod is told its index for the keys;
// without one, the pod carries no such variable (and so keeps the template
// it had).
func TestShardEnvOnlyWithAnObjectStore(t *testing.T) {
	desired, err := Build(Params{Sink: objectStoreSink(), DefaultImage: testImage})
	if err != nil {
		t.Fatal(err)
	}
	for i, shard := range desired.Shards {
		var value string
		for _, env := range shard.Deployment.Spec.Template.Spec.Containers[0].Env {
			if env.Name == config.ShardEnv {
				value = env.Value
			}
		}
		if value != fmt.Sprint(i) {
			t.Errorf("shard %d's pod has %s=%q", i, config.ShardEnv, value)
		}
	}
	plain, err := Build(Params{Sink: threeShardSink(), DefaultImage: testImage})
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range plain.Shards[2].Deployment.Spec.Template.Spec.Containers[0].Env {
		if env.Name == config.ShardEnv {
			t.Errorf("a SpanSink without an object store got %s", config.ShardEnv)
		}
	}
	if got := desired.Config.Config.ObjectStore; got.Namespace != "observability" || got.Sink != "traces" || got.Shard != 0 ||
		got.AccessKeyIDFile == "" || got.SessionTokenFile == "" || got.CAFile == "" || !got.DeleteAfterUpload {
		t.Errorf("objectStore config %+v", got)
	}
}
