package manifests

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spansink/spansink/sink/config"
	"sigs.k8s.io/yaml"
)

// testdata/previous holds the children the operator built for a default
// SpanSink before the security fields existed (the golden files of commit
// 3e15a8e). Such a SpanSink reads back unchanged (the new fields have no
// defaults; the envtest suite checks that), so upgrading the operator must
// change only what new collector settings force: the config gains the
// limits and debug settings, which changes its hash and so rolls the pod
// once, and the default resources ride on that same rollout. The volume
// claim, the Service, the ServiceAccount, the pod's selector, volumes and
// everything the spans' location depends on stay exactly as they were.
func TestUpgradeFromPreviousOperatorChangesOnlyTheNewSettings(t *testing.T) {
	desired, err := Build(Params{Sink: defaultedSink(), DefaultImage: testImage})
	if err != nil {
		t.Fatal(err)
	}
	if desired.NetworkPolicy != nil {
		t.Error("an old SpanSink gets a NetworkPolicy")
	}
	for name, obj := range map[string]any{
		"serviceaccount_default":        desired.ServiceAccount,
		"persistentvolumeclaim_default": withoutShardFields(asMap(t, desired.Shards[0].Claim)),
		"service_default":               desired.Service,
	} {
		if diff := cmp.Diff(previous(t, "previous", name), asMap(t, obj)); diff != "" {
			t.Errorf("%s changed on upgrade (-previous +now):\n%s", name, diff)
		}
	}

	// The Deployment: only the config hash, the resources and the runtime
	// environment that follows them. The hash's key is the same, but it now
	// covers only the settings that need a restart, so its value changes
	// once on upgrade and rolls the pod once (with the new image); from
	// then on, live settings leave it alone.
	was, now := previous(t, "previous", "deployment_default"), withoutShardFields(asMap(t, desired.Shards[0].Deployment))
	wasHash := was["spec"].(map[string]any)["template"].(map[string]any)["metadata"].(map[string]any)["annotations"].(map[string]any)[ConfigHashAnnotation]
	if nowHash := desired.Shards[0].Deployment.Spec.Template.Annotations[ConfigHashAnnotation]; nowHash != desired.Config.RestartHash || nowHash == wasHash {
		t.Errorf("the pod template's %s after the upgrade is %s, want the restart hash %s, which differs from the previous %v",
			ConfigHashAnnotation, nowHash, desired.Config.RestartHash, wasHash)
	}
	for _, m := range []map[string]any{was, now} {
		tmpl := m["spec"].(map[string]any)["template"].(map[string]any)
		delete(tmpl["metadata"].(map[string]any)["annotations"].(map[string]any), ConfigHashAnnotation)
		container := tmpl["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
		delete(container, "resources")
		delete(container, "env")
	}
	if diff := cmp.Diff(was, now); diff != "" {
		t.Errorf("the Deployment changed beyond the config hash and resources (-previous +now):\n%s", diff)
	}

	// The config: every setting it had keeps its value; what is new is
	// limits and debug, at the collector's defaults, with debug off.
	wasConfig := configOf(t, previous(t, "previous", "configmap_default"))
	nowConfig := configOf(t, asMap(t, desired.ConfigMap))
	for _, section := range []string{"batch", "delivery", "listen", "storage", "shutdownTimeout"} {
		if diff := cmp.Diff(wasConfig[section], nowConfig[section]); diff != "" {
			t.Errorf("config %s changed on upgrade (-previous +now):\n%s", section, diff)
		}
	}
	for key, value := range wasConfig["limits"].(map[string]any) {
		if nowConfig["limits"].(map[string]any)[key] != value {
			t.Errorf("config limits.%s changed from %v to %v", key, value, nowConfig["limits"].(map[string]any)[key])
		}
	}
	if got := desired.Config.Config; got.Limits != config.DefaultLimits() || got.Debug.Enabled || got.Auth.Enabled() || got.TLS.Enabled() {
		t.Errorf("an old SpanSink's new settings are not the collector's defaults with auth, TLS and debug off: %+v", got)
	}
}

// TestUpgradeToShardsChangesOnlyTheShardIdentity: testdata/unsharded holds
// the children the operator built for a default SpanSink before shards
// existed (the golden files of commit 999ce97). Such a SpanSink is shard 0
// of one: its claim keeps its name, size and everything else and gains
// only the shard label; its Deployment keeps its name and selector (which
// cannot change) and its pod gains the shard label, a hostname and
// subdomain under the headless Service, and the spread constraints, which
// roll it once (with the operator's new image). The config, the Service
// and the ServiceAccount do not change at all, and one shard gets no
// PodDisruptionBudget.
func TestUpgradeToShardsChangesOnlyTheShardIdentity(t *testing.T) {
	desired, err := Build(Params{Sink: defaultedSink(), DefaultImage: testImage})
	if err != nil {
		t.Fatal(err)
	}
	if len(desired.Shards) != 1 || desired.PodDisruptionBudget != nil {
		t.Fatalf("a SpanSink from before shards gets %d shards and PodDisruptionBudget %v, want 1 and none", len(desired.Shards), desired.PodDisruptionBudget)
	}
	for name, obj := range map[string]any{
		"serviceaccount_default":        asMap(t, desired.ServiceAccount),
		"configmap_default":             asMap(t, desired.ConfigMap),
		"service_default":               asMap(t, desired.Service),
		"persistentvolumeclaim_default": withoutShardFields(asMap(t, desired.Shards[0].Claim)),
		"deployment_default":            withoutShardFields(asMap(t, desired.Shards[0].Deployment)),
	} {
		if diff := cmp.Diff(previous(t, "unsharded", name), obj); diff != "" {
			t.Errorf("%s changed beyond the shard identity on upgrade (-unsharded +now):\n%s", name, diff)
		}
	}
	if got := desired.Shards[0].Deployment.Spec.Selector.MatchLabels; !maps.Equal(got, SelectorLabels(defaultedSink())) {
		t.Errorf("shard 0's selector is %v, want the unsharded Deployment's %v", got, SelectorLabels(defaultedSink()))
	}
}

// withoutShardFields removes from a claim or Deployment, as a map, what
// sharding added: the shard label and, in the pod template, the label,
// hostname, subdomain and spread constraints.
func withoutShardFields(obj map[string]any) map[string]any {
	metadata := obj["metadata"].(map[string]any)
	delete(metadata["labels"].(map[string]any), LabelShard)
	if spec, ok := obj["spec"].(map[string]any)["template"].(map[string]any); ok {
		delete(spec["metadata"].(map[string]any)["labels"].(map[string]any), LabelShard)
		pod := spec["spec"].(map[string]any)
		delete(pod, "hostname")
		delete(pod, "subdomain")
		delete(pod, "topologySpreadConstraints")
	}
	return obj
}

// previous reads a golden file an earlier operator wrote, from testdata/dir.
func previous(t *testing.T, dir, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", dir, name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func asMap(t *testing.T, obj any) map[string]any {
	t.Helper()
	data, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func configOf(t *testing.T, configMap map[string]any) map[string]any {
	t.Helper()
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(configMap["data"].(map[string]any)[config.FileName].(string)), &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}
