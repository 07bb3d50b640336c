package manifests

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/sink/config"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// specSetters change one collector config field, named by its path in
// config.LiveFields or config.RestartFields, through the SpanSink's spec,
// starting from defaultedSink.
var specSetters = map[string]func(*v1alpha1.SpanSink){
	"batch.size":                    func(s *v1alpha1.SpanSink) { s.Spec.Batch.Size = 500 },
	"batch.flushInterval":           func(s *v1alpha1.SpanSink) { s.Spec.Batch.FlushInterval = &metav1.Duration{Duration: time.Hour} },
	"batch.maxQueuedSpans":          func(s *v1alpha1.SpanSink) { s.Spec.Batch.MaxQueuedSpans = 200000 },
	"delivery.mode":                 func(s *v1alpha1.SpanSink) { s.Spec.Delivery.Mode = v1alpha1.DeliveryDurable },
	"storage.rotation.daily":        func(s *v1alpha1.SpanSink) { s.Spec.Storage.Rotation.Daily = ptr.To(false) },
	"storage.rotation.maxSizeBytes": func(s *v1alpha1.SpanSink) { s.Spec.Storage.Rotation.MaxSize = ptr.To(resource.MustParse("1Gi")) },
	"storage.rotation.maxFiles":     func(s *v1alpha1.SpanSink) { s.Spec.Storage.Rotation.MaxFiles = 7 },
	"storage.rotation.maxAge": func(s *v1alpha1.SpanSink) {
		s.Spec.Storage.Rotation.MaxAge = &metav1.Duration{Duration: 48 * time.Hour}
	},
	"storage.rotation.compress":     func(s *v1alpha1.SpanSink) { s.Spec.Storage.Rotation.Compress = v1alpha1.CompressionGzip },
	"limits.maxInflightBytes":       func(s *v1alpha1.SpanSink) { s.Spec.Limits.MaxInflightBytes = 128 << 20 },
	"limits.maxConcurrentRequests":  func(s *v1alpha1.SpanSink) { s.Spec.Limits.MaxConcurrentRequests = 16 },
	"limits.maxAttributesPerSpan":   func(s *v1alpha1.SpanSink) { s.Spec.Limits.MaxAttributesPerSpan = 64 },
	"limits.maxAttributeValueBytes": func(s *v1alpha1.SpanSink) { s.Spec.Limits.MaxAttributeValueBytes = ptr.To[int64](4096) },
	"debug.enabled":                 func(s *v1alpha1.SpanSink) { s.Spec.Debug.Enabled = true },
	"storage.path":                  func(s *v1alpha1.SpanSink) { s.Spec.Storage.Path = "otlp/spans.jsonl" },
	"storage.format":                func(s *v1alpha1.SpanSink) { s.Spec.Storage.Format = v1alpha1.FormatOTLPJSON },
	"storage.dbgpt.records": func(s *v1alpha1.SpanSink) {
		s.Spec.Storage.DBGPT = &v1alpha1.DBGPTStorageSpec{Records: v1alpha1.DBGPTRecordsStartEnd}
	},
	"limits.maxRequestBytes":      func(s *v1alpha1.SpanSink) { s.Spec.Limits.MaxRequestBytes = 4 << 20 },
	"limits.maxConcurrentStreams": func(s *v1alpha1.SpanSink) { s.Spec.Limits.MaxConcurrentStreams = 8 },
	"limits.requestTimeout": func(s *v1alpha1.SpanSink) {
		s.Spec.Limits.RequestTimeout = &metav1.Duration{Duration: 10 * time.Second}
	},
	"auth.bearerTokenFile": func(s *v1alpha1.SpanSink) { s.Spec.Auth = authSink().Spec.Auth },
	"tls.certFile": func(s *v1alpha1.SpanSink) {
		s.Spec.TLS = &v1alpha1.TLSSpec{SecretRef: v1alpha1.TLSSecretRef{Name: "cert"}}
	},
	"tls.keyFile": func(s *v1alpha1.SpanSink) {
		s.Spec.TLS = &v1alpha1.TLSSpec{SecretRef: v1alpha1.TLSSecretRef{Name: "cert"}}
	},
	"tls.clientCAFile": func(s *v1alpha1.SpanSink) { s.Spec.TLS = tlsSink().Spec.TLS },
	"storage.rotation.maxTotalBytes": func(s *v1alpha1.SpanSink) {
		s.Spec.Storage.Rotation.MaxTotalSize = ptr.To(resource.MustParse("8Gi"))
	},
	// An object store's fields come with its bucket (and the SpanSink's
	// names), so each setter adds a store that sets its field.
	"objectStore.endpoint":  withStore(func(o *v1alpha1.ObjectStoreSpec) { o.Endpoint = "https://s3.example.com" }),
	"objectStore.region":    withStore(func(o *v1alpha1.ObjectStoreSpec) { o.Region = "eu-west-1" }),
	"objectStore.bucket":    withStore(func(*v1alpha1.ObjectStoreSpec) {}),
	"objectStore.prefix":    withStore(func(o *v1alpha1.ObjectStoreSpec) { o.Prefix = "prod" }),
	"objectStore.pathStyle": withStore(func(o *v1alpha1.ObjectStoreSpec) { o.ForcePathStyle = true }),
	"objectStore.accessKeyIdFile": withStore(func(o *v1alpha1.ObjectStoreSpec) {
		o.CredentialsSecretRef = &v1alpha1.ObjectStoreCredentialsRef{Name: "s3"}
	}),
	"objectStore.secretAccessKeyFile": withStore(func(o *v1alpha1.ObjectStoreSpec) {
		o.CredentialsSecretRef = &v1alpha1.ObjectStoreCredentialsRef{Name: "s3"}
	}),
	"objectStore.sessionTokenFile": withStore(func(o *v1alpha1.ObjectStoreSpec) {
		o.CredentialsSecretRef = &v1alpha1.ObjectStoreCredentialsRef{Name: "s3", SessionTokenKey: "AWS_SESSION_TOKEN"}
	}),
	"objectStore.caFile": withStore(func(o *v1alpha1.ObjectStoreSpec) {
		o.Endpoint, o.CASecretRef = "https://s3.internal", &v1alpha1.ObjectStoreCARef{Name: "s3-ca"}
	}),
	"objectStore.namespace": withStore(func(*v1alpha1.ObjectStoreSpec) {}),
	"objectStore.sink":      withStore(func(*v1alpha1.ObjectStoreSpec) {}),
	"objectStore.maxDelay": withStore(func(o *v1alpha1.ObjectStoreSpec) {
		o.MaxDelay = &metav1.Duration{Duration: 15 * time.Minute}
	}),
	"objectStore.deleteAfterUpload": withStore(func(o *v1alpha1.ObjectStoreSpec) {
		o.LocalRetention = v1alpha1.LocalRetentionDeleteAfterUpload
	}),
}

// withStore is a setter that gives the SpanSink an object store, changed
// by change.
func withStore(change func(*v1alpha1.ObjectStoreSpec)) func(*v1alpha1.SpanSink) {
	return func(s *v1alpha1.SpanSink) {
		store := &v1alpha1.ObjectStoreSpec{Bucket: "spans", LocalRetention: v1alpha1.LocalRetentionKeep}
		change(store)
		s.Spec.Storage.ObjectStore = store
	}
}

// notFromSpec are the config fields no spec field sets on its own, and why.
var notFromSpec = map[string]string{
	"listen.otlpGrpc":        "the operator's fixed container port",
	"listen.otlpHttp":        "the operator's fixed container port",
	"listen.admin":           "the operator's fixed container port",
	"storage.dir":            "the operator's fixed mount path",
	"storage.rotation.utc":   "the collector's default; the API has no field",
	"limits.idleTimeout":     "the collector's default; the API has no field",
	"limits.maxHeaderBytes":  "the collector's default; the API has no field",
	"debug.recentSpansBytes": "the collector's default; the API has no field",
	"shutdownTimeout":        "follows terminationGracePeriodSeconds, a pod field, which rolls the pod by itself",
	"objectStore.shard":      "each shard's own index, given in config.ShardEnv on its pod since the shards share the config",
}

// Every field of the collector config is either set by a setter here or
// explained, so a field added to config.LiveFields or RestartFields is
// covered by the tests below as soon as the spec can set it.
func TestEveryConfigFieldHasASpecSetterOrAReason(t *testing.T) {
	for _, path := range slices.Concat(config.LiveFields, config.RestartFields) {
		_, set := specSetters[path]
		_, explained := notFromSpec[path]
		if set == explained {
			t.Errorf("config field %s: want exactly one of a spec setter or a reason in notFromSpec (setter %v, reason %v)", path, set, explained)
		}
	}
	for path := range specSetters {
		if !slices.Contains(config.LiveFields, path) && !slices.Contains(config.RestartFields, path) {
			t.Errorf("spec setter for %s, which is no config field", path)
		}
	}
}

// withMemory is defaultedSink with the memory request and limit set, as
// the sample does: the pod's memory then does not follow the config (see
// TestDerivedMemoryRollsOnlyWhenItMoves).
func withMemory() *v1alpha1.SpanSink {
	sink := defaultedSink()
	sink.Spec.Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
	}
	return sink
}

func buildOrFail(t *testing.T, sink *v1alpha1.SpanSink) Desired {
	t.Helper()
	desired, err := Build(Params{Sink: sink, DefaultImage: testImage, OperatorNamespace: testOperatorNamespace})
	if err != nil {
		t.Fatal(err)
	}
	return desired
}

// A live field changes the ConfigMap, which the kubelet projects into the
// running pod, and leaves the Deployment exactly as it was: no rollout.
func TestLiveFieldsLeaveTheDeploymentAlone(t *testing.T) {
	base := buildOrFail(t, withMemory())
	for _, path := range config.LiveFields {
		set, ok := specSetters[path]
		if !ok {
			continue
		}
		t.Run(path, func(t *testing.T) {
			sink := withMemory()
			set(sink)
			changed := buildOrFail(t, sink)
			if got := base.Config.Config.LiveChanges(changed.Config.Config); !slices.Equal(got, []string{path}) {
				t.Fatalf("the setter changes live fields %v, want [%s]", got, path)
			}
			if got := base.Config.Config.RestartChanges(changed.Config.Config); len(got) > 0 {
				t.Fatalf("the setter changes restart fields %v", got)
			}
			if diff := cmp.Diff(base.Shards[0].Deployment, changed.Shards[0].Deployment); diff != "" {
				t.Errorf("a change of %s changed the Deployment (-before +after):\n%s", path, diff)
			}
			if equality.Semantic.DeepEqual(base.ConfigMap.Data, changed.ConfigMap.Data) {
				t.Errorf("a change of %s left the ConfigMap as it was", path)
			}
			if base.Config.Hash == changed.Config.Hash {
				t.Errorf("a change of %s kept status.configHash", path)
			}
		})
	}
}

// A restart field changes the hash on the pod template, which rolls the pod.
func TestRestartFieldsRollThePod(t *testing.T) {
	base := buildOrFail(t, withMemory())
	for _, path := range config.RestartFields {
		set, ok := specSetters[path]
		if !ok {
			continue
		}
		t.Run(path, func(t *testing.T) {
			sink := withMemory()
			set(sink)
			changed := buildOrFail(t, sink)
			if got := base.Config.Config.RestartChanges(changed.Config.Config); !slices.Contains(got, path) {
				t.Fatalf("the setter changes restart fields %v, not %s", got, path)
			}
			was := base.Shards[0].Deployment.Spec.Template.Annotations[ConfigHashAnnotation]
			now := changed.Shards[0].Deployment.Spec.Template.Annotations[ConfigHashAnnotation]
			if was == now {
				t.Errorf("a change of %s kept the pod template's %s", path, ConfigHashAnnotation)
			}
			if now != changed.Config.RestartHash {
				t.Errorf("the pod template's %s is %s, not the restart hash %s", ConfigHashAnnotation, now, changed.Config.RestartHash)
			}
		})
	}
}

// With the memory left to the operator, the pod's memory request and limit
// follow the config (config.Config.MemoryBounds), some of it live fields. A
// pod's memory cannot change while it runs, so a live change that moves
// the derived memory rolls the pod: it must have room for everything the
// new settings let the collector hold. Every other live change leaves even
// such a Deployment alone.
func TestDerivedMemoryRollsOnlyWhenItMoves(t *testing.T) {
	base := buildOrFail(t, defaultedSink())
	moved := 0
	for _, path := range config.LiveFields {
		set, ok := specSetters[path]
		if !ok {
			continue
		}
		t.Run(path, func(t *testing.T) {
			sink := defaultedSink()
			set(sink)
			changed := buildOrFail(t, sink)
			wasRequest, wasLimit := base.Config.Config.MemoryBounds()
			nowRequest, nowLimit := changed.Config.Config.MemoryBounds()
			if wasRequest == nowRequest && wasLimit == nowLimit {
				if diff := cmp.Diff(base.Shards[0].Deployment, changed.Shards[0].Deployment); diff != "" {
					t.Errorf("a change of %s, which moves no memory bound, changed the Deployment:\n%s", path, diff)
				}
				return
			}
			moved++
			was, now := base.Shards[0].Deployment.DeepCopy(), changed.Shards[0].Deployment.DeepCopy()
			for _, d := range []*corev1.Container{&was.Spec.Template.Spec.Containers[0], &now.Spec.Template.Spec.Containers[0]} {
				d.Resources, d.Env = corev1.ResourceRequirements{}, nil
			}
			if diff := cmp.Diff(was, now); diff != "" {
				t.Errorf("a change of %s changed the Deployment beyond the derived memory:\n%s", path, diff)
			}
			if equality.Semantic.DeepEqual(base.Shards[0].Deployment.Spec.Template.Spec.Containers[0].Resources, changed.Shards[0].Deployment.Spec.Template.Spec.Containers[0].Resources) {
				t.Errorf("a change of %s moves the memory bounds but not the pod's resources", path)
			}
		})
	}
	if moved == 0 {
		t.Error("no live field moves the derived memory; the README's rule on default resources is out of date")
	}
}

// The pod's grace period does not follow the flush interval, a live field.
func TestGracePeriodIgnoresTheFlushInterval(t *testing.T) {
	for _, flush := range []time.Duration{time.Second, 45 * time.Second, time.Hour} {
		sink := defaultedSink()
		sink.Spec.Batch.FlushInterval = &metav1.Duration{Duration: flush}
		if got := TerminationGracePeriodSeconds(sink); got != DefaultGracePeriodSeconds {
			t.Errorf("flush interval %s: grace period %ds, want %ds", flush, got, DefaultGracePeriodSeconds)
		}
	}
}

// The NetworkPolicy admits the operator's namespace to the metrics port
// (and nothing else), so it can read GET /config, even when metricsFrom is
// empty; run outside the cluster, the operator adds no peer.
func TestNetworkPolicyAdmitsTheOperatorToTheMetricsPort(t *testing.T) {
	sink := defaultedSink()
	sink.Spec.NetworkPolicy = &v1alpha1.NetworkPolicySpec{}
	policy := NetworkPolicy(Params{Sink: sink, OperatorNamespace: "spansink-system"})
	if len(policy.Spec.Ingress) != 1 {
		t.Fatalf("want one rule (the metrics port), got %+v", policy.Spec.Ingress)
	}
	rule := policy.Spec.Ingress[0]
	if len(rule.Ports) != 1 || rule.Ports[0].Port.IntValue() != MetricsPort {
		t.Errorf("the operator's rule opens %+v, want only port %d", rule.Ports, MetricsPort)
	}
	if len(rule.From) != 1 || rule.From[0].NamespaceSelector == nil ||
		rule.From[0].NamespaceSelector.MatchLabels[corev1.LabelMetadataName] != "spansink-system" || rule.From[0].PodSelector != nil {
		t.Errorf("the operator's peer is %+v, want the namespace spansink-system", rule.From)
	}

	outside := NetworkPolicy(Params{Sink: sink})
	if len(outside.Spec.Ingress) != 0 {
		t.Errorf("with no operator namespace and empty lists the policy must admit nothing, got %+v", outside.Spec.Ingress)
	}
}

// The golden form of a live change: the default SpanSink tuned in live
// fields only renders its own ConfigMap and exactly the default Deployment.
func TestLiveChangeGolden(t *testing.T) {
	sink := defaultedSink()
	sink.Spec.Batch.FlushInterval = &metav1.Duration{Duration: time.Minute}
	sink.Spec.Delivery.Mode = v1alpha1.DeliveryDurable
	sink.Spec.Storage.Rotation.MaxFiles = 30
	sink.Spec.Storage.Rotation.Compress = v1alpha1.CompressionZstd
	desired := buildOrFail(t, sink)
	assertGolden(t, "configmap_live", desired.ConfigMap)
	assertGolden(t, "deployment_default", desired.Shards[0].Deployment)
}
