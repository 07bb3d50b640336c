package manifests

import (
	"github.com/spansink/spansink/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"time"
)

const testImage = "ghcr.io/spansink/spansink:v0.1.0"

// testOperatorNamespace is where the operator runs in the golden files.
const testOperatorNamespace = "spansink-system"

// minimalSink is a SpanSink as a Go program would build it: no spec at all,
// none of the API server's defaults applied.
func minimalSink() *v1alpha1.SpanSink {
	return &v1alpha1.SpanSink{
		ObjectMeta: metav1.ObjectMeta{Name: "traces", Namespace: "observability", UID: types.UID("0c4f2f43-6a7c-4f61-9b1e-5d0a3c2b7e10")},
	}
}

// defaultedSink is the minimal SpanSink as the API server stores it, with
// every CRD default filled in.
func defaultedSink() *v1alpha1.SpanSink {
	sink := minimalSink()
	sink.Spec = v1alpha1.SpanSinkSpec{
		Replicas: ptr.To[int32](1),
		Batch:    v1alpha1.BatchSpec{Size: 1000, FlushInterval: &metav1.Duration{Duration: 5 * time.Second}, MaxQueuedSpans: 100000},
		Delivery: v1alpha1.DeliverySpec{Mode: v1alpha1.DeliveryBatched},
		Storage: v1alpha1.StorageSpec{
			Path:     "spans.jsonl",
			Format:   v1alpha1.FormatDBGPT,
			Rotation: v1alpha1.RotationSpec{Daily: ptr.To(true), MaxSize: ptr.To(resource.MustParse("100Mi")), Compress: v1alpha1.CompressionNone},
			Volume:   v1alpha1.VolumeSpec{Size: ptr.To(resource.MustParse("1Gi")), ReclaimPolicy: v1alpha1.ReclaimRetain},
		},
	}
	return sink
}

// customSink sets every field to something other than its default.
func customSink() *v1alpha1.SpanSink {
	sink := defaultedSink()
	sink.Name = "dbgpt"
	sink.Spec.Batch = v1alpha1.BatchSpec{Size: 200, FlushInterval: &metav1.Duration{Duration: 90 * time.Second}, MaxQueuedSpans: 5000}
	sink.Spec.Delivery.Mode = v1alpha1.DeliveryDurable
	sink.Spec.Storage = v1alpha1.StorageSpec{
		Path:   "dbgpt/spans",
		Format: v1alpha1.FormatOTLPJSON,
		Rotation: v1alpha1.RotationSpec{
			Daily:    ptr.To(false),
			MaxSize:  ptr.To(resource.MustParse("0")),
			MaxFiles: 14,
			MaxAge:   &metav1.Duration{Duration: 168 * time.Hour},
			Compress: v1alpha1.CompressionZstd,
		},
		Volume: v1alpha1.VolumeSpec{
			Size:             ptr.To(resource.MustParse("20Gi")),
			StorageClassName: ptr.To("fast-ssd"),
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod},
			ReclaimPolicy:    v1alpha1.ReclaimDelete,
		},
	}
	sink.Spec.Image = "registry.example.com/spansink:v0.2.0"
	sink.Spec.Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
	}
	sink.Spec.NodeSelector = map[string]v1alpha1.LabelValue{"kubernetes.io/os": "linux"}
	sink.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "observability", Effect: corev1.TaintEffectNoSchedule}}
	sink.Spec.PriorityClassName = "observability-critical"
	sink.Spec.PodAnnotations = map[string]string{"prometheus.io/scrape": "true", ConfigHashAnnotation: "user-value-is-overridden"}
	sink.Spec.PodLabels = map[string]v1alpha1.LabelValue{"team": "llm-platform", LabelManagedBy: "user-value-is-overridden"}
	sink.Spec.TerminationGracePeriodSeconds = ptr.To[int64](300)
	return sink
}

// authSink takes bearer tokens from a Secret key of its own name.
func authSink() *v1alpha1.SpanSink {
	sink := defaultedSink()
	sink.Spec.Auth = &v1alpha1.AuthSpec{BearerTokenSecretRef: v1alpha1.BearerTokenSecretRef{Name: "ingest-tokens", Key: "tokens.txt"}}
	sink.Spec.Debug.Enabled = true
	return sink
}

// tlsSink serves TLS with cert-manager's Secret and requires client
// certificates signed by the CA in another Secret (its key defaulted by
// the API server).
func tlsSink() *v1alpha1.SpanSink {
	sink := defaultedSink()
	sink.Spec.TLS = &v1alpha1.TLSSpec{
		SecretRef:         v1alpha1.TLSSecretRef{Name: "traces-serving-cert"},
		ClientCASecretRef: &v1alpha1.ClientCASecretRef{Name: "traces-client-ca", Key: "ca.crt"},
	}
	return sink
}

// networkPolicySink admits ingest from two namespaces' pods and an IP
// block, and scraping from the monitoring namespace.
func networkPolicySink() *v1alpha1.SpanSink {
	sink := defaultedSink()
	sink.Spec.NetworkPolicy = &v1alpha1.NetworkPolicySpec{
		IngestFrom: []networkingv1.NetworkPolicyPeer{
			{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "llm-apps"}}},
			{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "agents"}}, PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"traces": "send"}}},
			{IPBlock: &networkingv1.IPBlock{CIDR: "10.20.0.0/16", Except: []string{"10.20.99.0/24"}}},
		},
		MetricsFrom: []networkingv1.NetworkPolicyPeer{
			{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "monitoring"}}},
		},
	}
	return sink
}

// limitsSink tunes every limit the API offers.
func limitsSink() *v1alpha1.SpanSink {
	sink := defaultedSink()
	sink.Spec.Limits = v1alpha1.LimitsSpec{
		MaxRequestBytes:        4 << 20,
		MaxInflightBytes:       16 << 20,
		MaxConcurrentRequests:  16,
		MaxConcurrentStreams:   8,
		RequestTimeout:         &metav1.Duration{Duration: 10 * time.Second},
		MaxAttributesPerSpan:   64,
		MaxAttributeValueBytes: ptr.To[int64](0),
	}
	return sink
}

// securedSink sets auth, TLS with client certificates, a network policy,
// debug and limits together.
func securedSink() *v1alpha1.SpanSink {
	sink := networkPolicySink()
	sink.Spec.Auth = authSink().Spec.Auth
	sink.Spec.TLS = tlsSink().Spec.TLS
	sink.Spec.Limits = limitsSink().Spec.Limits
	sink.Spec.Debug.Enabled = true
	return sink
}

// objectStoreSink ships its files to a bucket with static credentials, a
// session token, a CA bundle, a bound on the wait and a size bound on the
// volume.
func objectStoreSink() *v1alpha1.SpanSink {
	sink := defaultedSink()
	sink.Spec.Replicas = ptr.To[int32](2)
	sink.Spec.Storage.Rotation.Compress = v1alpha1.CompressionZstd
	sink.Spec.Storage.Rotation.MaxTotalSize = ptr.To(resource.MustParse("8Gi"))
	sink.Spec.Storage.ObjectStore = &v1alpha1.ObjectStoreSpec{
		Endpoint: "https://s3.internal:9000", Bucket: "traces", Prefix: "prod", Region: "eu-west-1", ForcePathStyle: true,
		CredentialsSecretRef: &v1alpha1.ObjectStoreCredentialsRef{
			Name: "s3-creds", AccessKeyIDKey: "AWS_ACCESS_KEY_ID", SecretAccessKeyKey: "AWS_SECRET_ACCESS_KEY", SessionTokenKey: "AWS_SESSION_TOKEN",
		},
		CASecretRef:    &v1alpha1.ObjectStoreCARef{Name: "s3-ca", Key: "ca.crt"},
		MaxDelay:       &metav1.Duration{Duration: 15 * time.Minute},
		LocalRetention: v1alpha1.LocalRetentionDeleteAfterUpload,
	}
	return sink
}
