package manifests

import (
	"strings"
	"testing"

	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/sink/config"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestBuildersGolden(t *testing.T) {
	cases := []struct {
		name string
		sink *v1alpha1.SpanSink
	}{
		{"default", defaultedSink()},
		{"custom", customSink()},
		{"auth", authSink()},
		{"tls", tlsSink()},
		{"networkpolicy", networkPolicySink()},
		{"limits", limitsSink()},
		{"objectstore", objectStoreSink()},
		{"dbgptstartend", dbgptStartEndSink()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			desired, err := Build(Params{Sink: tc.sink, DefaultImage: testImage, OperatorNamespace: testOperatorNamespace})
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			assertGolden(t, "configmap_"+tc.name, desired.ConfigMap)
			assertGolden(t, "deployment_"+tc.name, desired.Shards[0].Deployment)
			assertGolden(t, "service_"+tc.name, desired.Service)
			if tc.sink.Spec.Auth == nil && tc.sink.Spec.TLS == nil && tc.sink.Spec.NetworkPolicy == nil && tc.sink.Spec.Limits == (v1alpha1.LimitsSpec{}) {
				// The security settings leave these two alone.
				assertGolden(t, "serviceaccount_"+tc.name, desired.ServiceAccount)
				assertGolden(t, "persistentvolumeclaim_"+tc.name, desired.Shards[0].Claim)
			}
			if desired.NetworkPolicy != nil {
				assertGolden(t, "networkpolicy_"+tc.name, desired.NetworkPolicy)
			}
		})
	}
}

// dbgptStartEndSink writes DB-GPT's start and end records for OTLP spans.
func dbgptStartEndSink() *v1alpha1.SpanSink {
	sink := defaultedSink()
	sink.Spec.Storage.DBGPT = &v1alpha1.DBGPTStorageSpec{Records: v1alpha1.DBGPTRecordsStartEnd}
	return sink
}

// A SpanSink that names the default records (finished), or leaves them to
// the API server's default in an empty storage.dbgpt, gets the config of
// one from before the option existed: the same bytes and hash, so an
// operator upgrade rolls no pod and the files stay as they were. startEnd
// changes the restart hash, since the collector builds its encoder once.
func TestDBGPTRecordsConfig(t *testing.T) {
	base, err := RenderConfig(defaultedSink())
	if err != nil {
		t.Fatal(err)
	}
	for _, records := range []v1alpha1.DBGPTRecords{v1alpha1.DBGPTRecordsFinished, ""} {
		sink := defaultedSink()
		sink.Spec.Storage.DBGPT = &v1alpha1.DBGPTStorageSpec{Records: records}
		got, err := RenderConfig(sink)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Bytes) != string(base.Bytes) || got.Hash != base.Hash || got.RestartHash != base.RestartHash {
			t.Errorf("records %q renders a config other than the default's:\n%s", records, got.Bytes)
		}
	}
	pairs, err := RenderConfig(dbgptStartEndSink())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(pairs.Bytes)
	if err != nil {
		t.Fatalf("the collector refuses the startEnd config: %v", err)
	}
	if !cfg.Storage.DBGPT.StartEnd() || pairs.RestartHash == base.RestartHash {
		t.Errorf("startEnd: config records %q, restart hash %s (default %s); want startEnd under a new restart hash", cfg.Storage.DBGPT.Records, pairs.RestartHash, base.RestartHash)
	}
}

// A SpanSink built in Go without the API server's defaults must produce the
// same children as the defaulted one: the builders fall back to the CRD's
// defaults, so the two can never disagree.
func TestBuildDefaultsMatchCRDDefaults(t *testing.T) {
	fromMinimal, err := Build(Params{Sink: minimalSink(), DefaultImage: testImage})
	if err != nil {
		t.Fatal(err)
	}
	fromDefaulted, err := Build(Params{Sink: defaultedSink(), DefaultImage: testImage})
	if err != nil {
		t.Fatal(err)
	}
	if fromMinimal.Config.Hash != fromDefaulted.Config.Hash {
		t.Errorf("config differs:\nminimal:\n%s\ndefaulted:\n%s", fromMinimal.Config.Bytes, fromDefaulted.Config.Bytes)
	}
	assertGolden(t, "deployment_default", fromMinimal.Shards[0].Deployment)
	assertGolden(t, "persistentvolumeclaim_default", fromMinimal.Shards[0].Claim)
}

func TestBuildExistingClaim(t *testing.T) {
	sink := defaultedSink()
	sink.Spec.Storage.Volume.ExistingClaimName = "team-spans"
	desired, err := Build(Params{Sink: sink, DefaultImage: testImage})
	if err != nil {
		t.Fatal(err)
	}
	if desired.Shards[0].Claim != nil {
		t.Errorf("no claim should be built for an existing claim, got %s", desired.Shards[0].Claim.Name)
	}
	if got := desired.Shards[0].Deployment.Spec.Template.Spec.Volumes[1].PersistentVolumeClaim.ClaimName; got != "team-spans" {
		t.Errorf("deployment mounts claim %q, want team-spans", got)
	}
}

func TestBuildRejects(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(*v1alpha1.SpanSink)
		image   string
		wantErr string
	}{
		{"no image anywhere", func(*v1alpha1.SpanSink) {}, "", "no collector image"},
		{"queue smaller than batch", func(s *v1alpha1.SpanSink) { s.Spec.Batch.MaxQueuedSpans = 10 }, testImage, "batch.maxQueuedSpans (10) must be at least batch.size (1000)"},
		{"path escapes volume", func(s *v1alpha1.SpanSink) { s.Spec.Storage.Path = "../etc/passwd" }, testImage, `storage.path must not contain ".."`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sink := defaultedSink()
			tc.mutate(sink)
			_, err := Build(Params{Sink: sink, DefaultImage: tc.image})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestCollectorProcessorsFollowTheCPULimit(t *testing.T) {
	cases := []struct {
		name      string
		limits    corev1.ResourceList
		wantProcs string // "" means no GOMAXPROCS: the collector's default of one
	}{
		{"no limits", nil, ""},
		{"memory limit only", corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}, ""},
		{"below two cores", corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")}, ""},
		{"two cores", corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}, "2"},
		{"fractional cores round down", corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3700m")}, "3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sink := defaultedSink()
			sink.Spec.Resources = corev1.ResourceRequirements{Limits: tc.limits}
			desired, err := Build(Params{Sink: sink, DefaultImage: "spansink:test"})
			if err != nil {
				t.Fatal(err)
			}
			var got string
			for _, env := range desired.Shards[0].Deployment.Spec.Template.Spec.Containers[0].Env {
				if env.Name == "GOMAXPROCS" {
					got = env.Value
				}
			}
			if got != tc.wantProcs {
				t.Errorf("GOMAXPROCS = %q, want %q", got, tc.wantProcs)
			}
		})
	}
}
