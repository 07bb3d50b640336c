package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/spansink/spansink/sink/spanfile"
)

// The CEL rules below check durations with a pattern before calling
// duration(), so that a malformed value fails the rule with its message
// instead of a CEL evaluation error. The pattern is Go's duration syntax,
// which is what metav1.Duration writes and reads.
//
// Pod labels, annotations and the node selector are checked here with the
// rules the API server applies to a Deployment's pod template. Without them
// a SpanSink would be accepted and then fail to reconcile on every pass,
// with the reason only in the operator's log. Each map has a MaxProperties
// bound because the API server refuses a CRD whose rules' estimated cost,
// which grows with the number of entries, exceeds its budget.

// LabelValue is the value of a pod label or a nodeSelector term: at most
// 63 characters. The bound is declared on a type of its own because the
// schema can bound a map's values only through their type, and without it
// the API server estimates each value as long as a whole request and
// refuses the CRD, whose rules then cost too much to check.
// +kubebuilder:validation:MaxLength=63
type LabelValue string

// SpanSinkSpec is the desired state of a SpanSink: how spans are batched,
// where and how they are stored, and how the collector pod runs.
// +kubebuilder:validation:XValidation:rule="!has(self.replicas) || self.replicas <= 1 || !has(self.storage) || !has(self.storage.volume) || !has(self.storage.volume.existingClaimName)",message="spec.replicas above 1 needs claims the operator creates: storage.volume.existingClaimName names one claim, which only one shard can hold"
type SpanSinkSpec struct {
	// replicas is the number of shards: collectors that each have a claim
	// of their own and write their own files under storage.path. The
	// Service spreads new connections over the ready shards. Scaling down
	// keeps the claims of the removed shards (status.retiredShards), and
	// scaling up again mounts them back. The scale subresource sets it, so
	// kubectl scale and a HorizontalPodAutoscaler work.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64
	Replicas *int32 `json:"replicas,omitempty"`

	// batch says when queued spans are flushed to disk: DB-GPT's batch_size
	// and flush_interval.
	// +optional
	// +kubebuilder:default={}
	Batch BatchSpec `json:"batch,omitzero"`

	// delivery says when the collector acknowledges a request.
	// +optional
	// +kubebuilder:default={}
	Delivery DeliverySpec `json:"delivery,omitzero"`

	// storage says where spans are written, in which format, how the files
	// roll over, and which volume holds them.
	// +optional
	// +kubebuilder:default={}
	Storage StorageSpec `json:"storage,omitzero"`

	// image is the collector container image. Empty means the operator's own
	// image, which contains the collector.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// resources are the collector container's compute resources.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitzero"`

	// nodeSelector constrains the collector pod to nodes with these labels,
	// at most 64. Keys and values follow the syntax of labels.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$') && k.indexOf('/') <= 253)",message="nodeSelector keys must be label names: an optional DNS subdomain prefix (lowercase, at most 253 characters) and '/', then a name of at most 63 letters, digits, '-', '_' or '.' that starts and ends with a letter or digit"
	// +kubebuilder:validation:XValidation:rule="self.all(k, self[k].matches('^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$'))",message="nodeSelector values must be label values: empty, or at most 63 letters, digits, '-', '_' or '.' that start and end with a letter or digit"
	NodeSelector map[string]LabelValue `json:"nodeSelector,omitempty"`

	// topologySpreadConstraints place the shards. Unset spreads them over
	// nodes and then zones as evenly as the scheduler can without refusing
	// to place one (ScheduleAnyway): a volume bound to one zone must not
	// keep its shard from starting. Set, it replaces that default.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`

	// tolerations let the collector pod run on tainted nodes.
	// +optional
	// +listType=atomic
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// affinity holds the collector pod's scheduling constraints.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// priorityClassName is the collector pod's priority class.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PriorityClassName string `json:"priorityClassName,omitempty"`

	// podAnnotations are added to the collector pod, at most 64. The
	// operator's own annotations take precedence. Keys follow the syntax of
	// annotation names (a label name whose prefix may use capitals).
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^([A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?([.][A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$') && k.indexOf('/') <= 253)",message="podAnnotations keys must be annotation names: an optional DNS subdomain prefix (at most 253 characters) and '/', then a name of at most 63 letters, digits, '-', '_' or '.' that starts and ends with a letter or digit"
	PodAnnotations map[string]string `json:"podAnnotations,omitempty"`

	// podLabels are added to the collector pod, at most 64. They may not set
	// the labels the operator uses to select the pod. Keys and values
	// follow the syntax of labels.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="!('app.kubernetes.io/name' in self) && !('app.kubernetes.io/instance' in self)",message="podLabels must not set app.kubernetes.io/name or app.kubernetes.io/instance: the operator uses them to select the collector pod"
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$') && k.indexOf('/') <= 253)",message="podLabels keys must be label names: an optional DNS subdomain prefix (lowercase, at most 253 characters) and '/', then a name of at most 63 letters, digits, '-', '_' or '.' that starts and ends with a letter or digit"
	// +kubebuilder:validation:XValidation:rule="self.all(k, self[k].matches('^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$'))",message="podLabels values must be label values: empty, or at most 63 letters, digits, '-', '_' or '.' that start and end with a letter or digit"
	PodLabels map[string]LabelValue `json:"podLabels,omitempty"`

	// terminationGracePeriodSeconds is how long the collector may take to
	// drain its queue when the pod stops, from 10 seconds to a day. Unset
	// means 60 seconds: a stopping collector flushes what it holds at once,
	// whatever its flush interval.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self >= 10",message="terminationGracePeriodSeconds must be at least 10: a stopping collector writes out the spans it has queued, and a shorter grace lets the kubelet kill it first, losing spans already acknowledged in Batched mode"
	// +kubebuilder:validation:Maximum=86400
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`

	// auth makes clients authenticate with a bearer token on both OTLP
	// ports (and on the debug endpoints when they are enabled). Unset
	// accepts spans from anyone who can reach the collector.
	// +optional
	Auth *AuthSpec `json:"auth,omitempty"`

	// tls serves both OTLP ports over TLS, optionally requiring client
	// certificates. Unset serves plain text.
	// +optional
	TLS *TLSSpec `json:"tls,omitempty"`

	// debug serves /debug/spans and /debug/pprof on the metrics port.
	// +optional
	Debug DebugSpec `json:"debug,omitzero"`

	// networkPolicy, when set, makes a NetworkPolicy that admits the OTLP
	// ports only from ingestFrom and the metrics port only from metricsFrom.
	// +optional
	NetworkPolicy *NetworkPolicySpec `json:"networkPolicy,omitempty"`

	// limits protect the collector from oversized requests and
	// misbehaving clients. Every field left out keeps the collector's
	// default.
	// +optional
	Limits LimitsSpec `json:"limits,omitzero"`

	// monitoring makes a PodMonitor and a PrometheusRule for the
	// Prometheus Operator. Unset, the operator creates neither.
	// +optional
	Monitoring MonitoringSpec `json:"monitoring,omitzero"`
}

// BatchSpec says when queued spans are flushed.
// +kubebuilder:validation:XValidation:rule="!has(self.size) || !has(self.maxQueuedSpans) || self.maxQueuedSpans >= self.size",message="batch.maxQueuedSpans (default 100000) must be at least batch.size, so that a full batch fits in the queue: raise batch.maxQueuedSpans to batch.size or more"
type BatchSpec struct {
	// size is the number of waiting spans that triggers a flush (DB-GPT's
	// batch_size).
	// +optional
	// +kubebuilder:default=1000
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	Size int32 `json:"size,omitempty"`

	// flushInterval is the longest time a span waits before it is flushed
	// (DB-GPT's flush_interval), a duration from 10ms to 1h such as "5s".
	// +optional
	// +kubebuilder:default="5s"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('10ms') && duration(self) <= duration('1h')",message="batch.flushInterval must be a duration such as 5s or 250ms, from 10ms to 1h"
	FlushInterval *metav1.Duration `json:"flushInterval,omitempty"`

	// maxQueuedSpans bounds the spans held in memory; beyond it the collector
	// refuses new spans (HTTP 429, gRPC ResourceExhausted) until it catches up.
	// +optional
	// +kubebuilder:default=100000
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000000
	MaxQueuedSpans int32 `json:"maxQueuedSpans,omitempty"`
}

// DeliveryMode says when the collector acknowledges a request.
// +kubebuilder:validation:Enum=Batched;Durable
type DeliveryMode string

const (
	// DeliveryBatched acknowledges once the spans are queued in memory: fast,
	// but a crash loses what was not yet flushed.
	DeliveryBatched DeliveryMode = "Batched"
	// DeliveryDurable acknowledges once the spans are written and fsynced.
	DeliveryDurable DeliveryMode = "Durable"
)

// DeliverySpec says when the collector acknowledges a request.
type DeliverySpec struct {
	// mode is Batched (acknowledge when queued) or Durable (acknowledge when
	// written and fsynced).
	// +optional
	// +kubebuilder:default=Batched
	Mode DeliveryMode `json:"mode,omitempty"`
}

// Format is the on-disk line format.
// +kubebuilder:validation:Enum=dbgpt;otlp-json
type Format string

const (
	// FormatDBGPT writes one span per line with DB-GPT's keys.
	FormatDBGPT Format = "dbgpt"
	// FormatOTLPJSON writes one OTLP JSON ExportTraceServiceRequest per line.
	FormatOTLPJSON Format = "otlp-json"
)

// DBGPTRecords says how the dbgpt format writes a span that arrives
// finished, as every OTLP span does.
// +kubebuilder:validation:Enum=finished;startEnd
type DBGPTRecords string

const (
	// DBGPTRecordsFinished writes such a span as one line, its end record.
	DBGPTRecordsFinished DBGPTRecords = "finished"
	// DBGPTRecordsStartEnd writes such a span as DB-GPT's own tracer does:
	// its start record (end_time null), then its end record.
	DBGPTRecordsStartEnd DBGPTRecords = "startEnd"
)

// DBGPTStorageSpec tunes the dbgpt format.
type DBGPTStorageSpec struct {
	// records is how a span that arrives finished (every OTLP span) is
	// written: finished (one line per span, the end record) or startEnd
	// (two lines per span, DB-GPT's start record with end_time null and
	// then the end record, as DB-GPT's own tracer writes them, so that
	// DB-GPT's `dbgpt trace tree` and `chat` show OTLP spans too). DB-GPT
	// records sent to /v1/spans are written as they come either way.
	// +optional
	// +kubebuilder:default=finished
	Records DBGPTRecords `json:"records,omitempty"`
}

// StorageSpec says where spans are written and how.
// +kubebuilder:validation:XValidation:rule="!has(self.dbgpt) || !has(self.format) || self.format == 'dbgpt'",message="storage.dbgpt applies only to storage.format dbgpt: remove storage.dbgpt or set storage.format to dbgpt"
type StorageSpec struct {
	// path is the active span file, relative to the volume root, such as
	// "spans.jsonl" or "traces/app.jsonl". A path without an extension gets ".log".
	// +optional
	// +kubebuilder:default="spans.jsonl"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/')",message="storage.path must be relative to the volume root, not an absolute path"
	// +kubebuilder:validation:XValidation:rule="!self.split('/').exists(s, s == '..')",message="storage.path must not contain a '..' segment: files stay inside the volume"
	// +kubebuilder:validation:XValidation:rule="!self.endsWith('/') && self != '.' && !self.endsWith('/.')",message="storage.path must name a file, not a directory"
	// +kubebuilder:validation:XValidation:rule="!self.matches('[^/][.]([gG][zZ]|[zZ][sS][tT])$')",message="storage.path must not end in .gz or .zst: that suffix marks compressed rotated files; name the active file e.g. spans.jsonl and set storage.rotation.compress"
	Path string `json:"path,omitempty"`

	// format is the on-disk line format: dbgpt (one span per line with
	// DB-GPT's keys) or otlp-json (one OTLP JSON request per line).
	// +optional
	// +kubebuilder:default=dbgpt
	Format Format `json:"format,omitempty"`

	// dbgpt tunes the dbgpt format; it may be set only with format dbgpt.
	// +optional
	DBGPT *DBGPTStorageSpec `json:"dbgpt,omitempty"`

	// rotation says when the active file rolls over and which rotated files are kept.
	// +optional
	// +kubebuilder:default={}
	Rotation RotationSpec `json:"rotation,omitzero"`

	// volume is the persistent volume that holds the span files.
	// +optional
	// +kubebuilder:default={}
	// +kubebuilder:validation:XValidation:rule="has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)",message="storage.volume.storageClassName cannot be changed: a claim's storage class is fixed once it is bound"
	// +kubebuilder:validation:XValidation:rule="has(self.accessModes) == has(oldSelf.accessModes) && (!has(self.accessModes) || self.accessModes == oldSelf.accessModes)",message="storage.volume.accessModes cannot be changed: a claim's access modes are fixed once it is bound"
	// +kubebuilder:validation:XValidation:rule="has(self.existingClaimName) == has(oldSelf.existingClaimName) && (!has(self.existingClaimName) || self.existingClaimName == oldSelf.existingClaimName)",message="storage.volume.existingClaimName cannot be set, changed or removed after creation: the spans already written would be left behind"
	// +kubebuilder:validation:XValidation:rule="!has(self.size) || !has(oldSelf.size) || !isQuantity(string(self.size)) || !isQuantity(string(oldSelf.size)) || quantity(string(self.size)).compareTo(quantity(string(oldSelf.size))) >= 0",message="storage.volume.size can only grow: a volume cannot be shrunk"
	Volume VolumeSpec `json:"volume,omitzero"`

	// objectStore ships every sealed file to an S3-compatible bucket.
	// +optional
	ObjectStore *ObjectStoreSpec `json:"objectStore,omitempty"`
}

// Compression is how rotated files are compressed. It is the naming
// contract's type (sink/spanfile), since it decides a rotated file's
// suffix: declared there once, for the CRD, the collector and the reader.
type Compression = spanfile.Compression

const (
	// CompressionNone keeps rotated files as they are.
	CompressionNone = spanfile.None
	// CompressionGzip compresses rotated files with gzip (.gz).
	CompressionGzip = spanfile.Gzip
	// CompressionZstd compresses rotated files with zstd (.zst).
	CompressionZstd = spanfile.Zstd
)

// RotationSpec says when the active file rolls over and what is kept.
type RotationSpec struct {
	// daily renames the active file to <base>_<YYYY-MM-DD><ext> at the first
	// write of a new day (UTC), as DB-GPT does.
	// +optional
	// +kubebuilder:default=true
	Daily *bool `json:"daily,omitempty"`

	// maxSize rotates the active file before a write would take it past this
	// size, such as "100Mi". 0 turns size rotation off.
	// +optional
	// +kubebuilder:default="100Mi"
	// +kubebuilder:validation:XValidation:rule="!isQuantity(string(self)) || !quantity(string(self)).isLessThan(quantity('0'))",message="storage.rotation.maxSize must not be negative (0 turns size rotation off)"
	MaxSize *resource.Quantity `json:"maxSize,omitempty"`

	// maxFiles keeps at most this many rotated files, removing the oldest.
	// 0 keeps all.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100000
	MaxFiles int32 `json:"maxFiles,omitempty"`

	// maxAge removes rotated files older than this, such as "168h" for a
	// week (hours are the largest unit). Unset or 0 keeps them.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')",message="storage.rotation.maxAge must be a duration such as 168h or 30m; days are not a unit"
	MaxAge *metav1.Duration `json:"maxAge,omitempty"`

	// maxTotalSize removes the oldest rotated files while the span files
	// on the volume take more than this, such as "8Gi"; with an object
	// store, only files it confirmed. Unset sets no bound.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!isQuantity(string(self)) || quantity(string(self)).isGreaterThan(quantity('0'))",message="storage.rotation.maxTotalSize must be positive"
	MaxTotalSize *resource.Quantity `json:"maxTotalSize,omitempty"`

	// compress is how rotated files are compressed: none, gzip or zstd.
	// +optional
	// +kubebuilder:default=none
	Compress Compression `json:"compress,omitempty"`
}

// ReclaimPolicy says what happens to the volume claim when the SpanSink is deleted.
// +kubebuilder:validation:Enum=Retain;Delete
type ReclaimPolicy string

const (
	// ReclaimRetain keeps the claim, and so the spans, when the SpanSink is
	// deleted; a SpanSink created again under the same name picks it up.
	ReclaimRetain ReclaimPolicy = "Retain"
	// ReclaimDelete deletes the claim with the SpanSink.
	ReclaimDelete ReclaimPolicy = "Delete"
)

// VolumeSpec is the persistent volume that holds the span files.
// +kubebuilder:validation:XValidation:rule="!has(self.existingClaimName) || (!has(self.storageClassName) && !has(self.accessModes))",message="storage.volume.storageClassName and accessModes apply to a claim the operator creates; leave them out when existingClaimName is set"
type VolumeSpec struct {
	// size is the requested capacity of the claim the operator creates, such
	// as "1Gi". It can grow later if the storage class allows expansion.
	// +optional
	// +kubebuilder:default="1Gi"
	// +kubebuilder:validation:XValidation:rule="!isQuantity(string(self)) || quantity(string(self)).isGreaterThan(quantity('0'))",message="storage.volume.size must be positive"
	Size *resource.Quantity `json:"size,omitempty"`

	// storageClassName is the storage class of the claim the operator
	// creates. Unset uses the cluster's default class.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	StorageClassName *string `json:"storageClassName,omitempty"`

	// accessModes of the claim the operator creates. Unset means ReadWriteOnce.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=4
	// +kubebuilder:validation:items:Enum=ReadWriteOnce;ReadOnlyMany;ReadWriteMany;ReadWriteOncePod
	AccessModes []corev1.PersistentVolumeAccessMode `json:"accessModes,omitempty"`

	// existingClaimName mounts a claim the user made instead of creating one.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ExistingClaimName string `json:"existingClaimName,omitempty"`

	// reclaimPolicy says what deleting the SpanSink does to the claim it
	// created: Retain (keep the spans) or Delete.
	// +optional
	// +kubebuilder:default=Retain
	ReclaimPolicy ReclaimPolicy `json:"reclaimPolicy,omitempty"`
}

// Condition types of a SpanSink.
const (
	// ConditionReady is true when the collector is available at the endpoints.
	ConditionReady = "Ready"
	// ConditionProgressing is true while the collector rolls out a change.
	ConditionProgressing = "Progressing"
	// ConditionDegraded is true when the operator cannot bring the collector
	// to the desired state without help.
	ConditionDegraded = "Degraded"
	// ConditionConfigApplied is true when every ready collector pod of the
	// current pod template reports, on GET /config of its metrics port,
	// that it applies the config in the ConfigMap (status.configHash).
	ConditionConfigApplied = "ConfigApplied"
	// ConditionReconciling is true while the operator or the collector is
	// still working toward the current spec and needs no one's help: a
	// rollout, a claim waiting for its volume, a config not yet applied, a
	// request to the API server being retried. It and ConditionStalled are
	// the conditions kstatus reads (Flux, kubectl wait, cli-utils); both
	// are derived from the others, so they never disagree with them.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is true when progress toward the current spec waits
	// on a person: the Degraded condition's reasons other than a retried
	// API error, and a config the collector refused.
	ConditionStalled = "Stalled"
	// ConditionMonitoringReady is true when the PodMonitor and the
	// PrometheusRule that spec.monitoring asks for are in place; absent
	// when it asks for neither.
	ConditionMonitoringReady = "MonitoringReady"
)

// Reasons of the MonitoringReady condition.
const (
	// ReasonMonitoringCreated: every monitoring object spec.monitoring asks
	// for is in place (True).
	ReasonMonitoringCreated = "Created"
	// ReasonPrometheusOperatorNotInstalled: the cluster has no Prometheus
	// Operator CRD for a kind spec.monitoring asks for; the operator
	// creates the object once the CRD appears (False).
	ReasonPrometheusOperatorNotInstalled = "PrometheusOperatorNotInstalled"
)

// Condition reasons of a SpanSink.
const (
	// ReasonAvailable: the collector Deployment is available and up to date.
	ReasonAvailable = "Available"
	// ReasonRollingOut: the collector Deployment is rolling out a change.
	ReasonRollingOut = "RollingOut"
	// ReasonUnavailable: the collector Deployment has no available pod.
	ReasonUnavailable = "Unavailable"
	// ReasonReconciled: every child object matches the spec.
	ReasonReconciled = "Reconciled"
	// ReasonChildConflict: an object the operator did not create holds a
	// child's name; the operator leaves it alone.
	ReasonChildConflict = "ChildConflict"
	// ReasonExistingClaimNotFound: storage.volume.existingClaimName names a
	// claim that does not exist.
	ReasonExistingClaimNotFound = "ExistingClaimNotFound"
	// ReasonVolumeResizeRefused: the API server refused to grow the claim to
	// storage.volume.size.
	ReasonVolumeResizeRefused = "VolumeResizeRefused"
	// ReasonInvalidSpec: the spec passed the API server's checks but cannot be
	// turned into a collector configuration.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonReconcileError: a request to the API server failed; the operator retries.
	ReasonReconcileError = "ReconcileError"
	// ReasonVolumeUnwritable: the collector runs but cannot write its volume
	// (full, read-only or failing), so it refuses spans until writes work.
	ReasonVolumeUnwritable = "VolumeUnwritable"
	// ReasonClaimPending: the collector waits for its PersistentVolumeClaim
	// to bind (Progressing).
	ReasonClaimPending = "ClaimPending"
	// ReasonClaimUnbindable: the claim will not bind without help: its
	// StorageClass does not exist, or provisioning or binding failed
	// (Degraded).
	ReasonClaimUnbindable = "ClaimUnbindable"
	// ReasonSecretNotFound: a Secret that auth or tls names does not exist
	// in the SpanSink's namespace (Degraded). The collector keeps its
	// previous configuration until it does.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonShardUnavailable: a shard that runs the current spec has had no
	// available pod for a while (its node is gone, its volume cannot be
	// attached, it crashes); the other shards go on serving (Degraded).
	ReasonShardUnavailable = "ShardUnavailable"
	// ReasonSecretKeyMissing: a Secret that auth or tls names lacks the key
	// the SpanSink reads from it (Degraded).
	ReasonSecretKeyMissing = "SecretKeyMissing"
)

// Reasons of the ConfigApplied condition.
const (
	// ReasonApplied: the collector applies the config in the ConfigMap (True).
	ReasonApplied = "Applied"
	// ReasonPending: the collector still applies an older config: the
	// kubelet has not projected the changed ConfigMap into the pod yet
	// (about a minute), or a pod is being replaced for a setting that
	// needs a restart (False).
	ReasonPending = "Pending"
	// ReasonRefused: the collector read the config in the ConfigMap and
	// refused it; it keeps the previous one in force (False).
	ReasonRefused = "Refused"
	// ReasonNoReadyCollector: no ready collector pod runs the current pod
	// template, so there is none to ask (Unknown).
	ReasonNoReadyCollector = "NoReadyCollector"
	// ReasonCollectorUnreachable: a ready collector pod did not answer
	// GET /config on its metrics port: a NetworkPolicy or firewall keeps
	// the operator out, or the collector's image predates the endpoint
	// (Unknown).
	ReasonCollectorUnreachable = "CollectorUnreachable"
	// ReasonCurrent: nothing is in progress and nothing waits on a person
	// (Reconciling and Stalled both False).
	ReasonCurrent = "Current"
)

// Endpoints are the collector's addresses inside the cluster.
type Endpoints struct {
	// otlpGrpc is the OTLP/gRPC endpoint, such as http://sink-collector.ns.svc:4317
	// (https:// when spec.tls is set).
	// +optional
	OTLPGRPC string `json:"otlpGrpc,omitempty"`
	// otlpHttp is the OTLP/HTTP endpoint (POST /v1/traces; DB-GPT spans at
	// /v1/spans), such as http://sink-collector.ns.svc:4318 (https:// when
	// spec.tls is set).
	// +optional
	OTLPHTTP string `json:"otlpHttp,omitempty"`
}

// SpanSinkStatus is the observed state of a SpanSink.
type SpanSinkStatus struct {
	// observedGeneration is the generation the operator last acted on to the
	// end: its children match that spec, or the Stalled condition says what
	// keeps them from it until a person acts. It stays behind while a pass
	// is retried after an API error (Reconciling says so).
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are Ready, Progressing, Degraded, ConfigApplied, with an
	// object store Uploaded, and Reconciling and Stalled for kstatus.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// endpoints are the collector's addresses inside the cluster.
	// +optional
	Endpoints Endpoints `json:"endpoints,omitzero"`

	// volumeClaimName is the claim that holds the span files.
	// +optional
	VolumeClaimName string `json:"volumeClaimName,omitempty"`

	// readyReplicas is the number of ready collector pods: the shards
	// that serve.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// replicas is the number of shards that exist (the scale subresource's
	// current count).
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// selector selects every shard's pods, in the label selector's string
	// form (the scale subresource's, which a HorizontalPodAutoscaler reads).
	// +optional
	Selector string `json:"selector,omitempty"`

	// shards are the shards of spec.replicas, by index.
	// +optional
	// +listType=map
	// +listMapKey=index
	Shards []ShardStatus `json:"shards,omitempty"`

	// retiredShards are claims of shards beyond spec.replicas, kept with
	// their spans after a scale-down; scaling up to include their index
	// again mounts them back. Under reclaimPolicy Delete they go with the
	// SpanSink.
	// +optional
	// +listType=map
	// +listMapKey=index
	RetiredShards []RetiredShard `json:"retiredShards,omitempty"`

	// image is the collector image shard 0's Deployment runs: spec.image,
	// or the operator's default image (the operator's own version) when
	// the spec names none.
	// +optional
	Image string `json:"image,omitempty"`

	// configHash is the SHA-256 (lowercase hex) of collector.yaml in the
	// collector's ConfigMap: the configuration the operator wants in force.
	// +optional
	ConfigHash string `json:"configHash,omitempty"`

	// appliedConfigHash is the SHA-256 of the configuration the ready
	// collector pods report they apply, when they agree; it equals
	// configHash once the latest settings are in force (ConfigApplied).
	// +optional
	AppliedConfigHash string `json:"appliedConfigHash,omitempty"`

	// configAppliedTime is when the collector put appliedConfigHash in
	// force (the latest of the pods, as they report it): since when the
	// running settings hold.
	// +optional
	ConfigAppliedTime *metav1.Time `json:"configAppliedTime,omitempty"`
}

// ShardStatus is one shard: its Deployment, pod and claim.
type ShardStatus struct {
	// index is the shard's number, from 0.
	Index int32 `json:"index"`
	// deployment is the shard's Deployment.
	Deployment string `json:"deployment"`
	// claim is the PersistentVolumeClaim that holds the shard's files.
	// +optional
	Claim string `json:"claim,omitempty"`
	// pod is the shard's newest collector pod, empty while it has none.
	// +optional
	Pod string `json:"pod,omitempty"`
	// ready is true while the shard takes spans.
	Ready bool `json:"ready"`
	// updated is true once the shard runs the current pod template.
	Updated bool `json:"updated"`
}

// RetiredShard is the claim a removed shard left behind.
type RetiredShard struct {
	// index is the shard's number.
	Index int32 `json:"index"`
	// claim is the PersistentVolumeClaim holding its files.
	Claim string `json:"claim"`
}

// SpanSink runs a trace collector that batches spans and writes them as
// JSON-lines files to a persistent volume.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:resource:shortName=ssink,categories=spansink
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Config",type=string,JSONPath=`.status.conditions[?(@.type=="ConfigApplied")].reason`,description="Whether the collector applies the latest settings: Applied, Pending, Refused"
// +kubebuilder:printcolumn:name="Shards",type=integer,JSONPath=`.spec.replicas`,description="Shards wanted"
// +kubebuilder:printcolumn:name="Serving",type=integer,JSONPath=`.status.readyReplicas`,description="Shards that take spans"
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.status.image`,description="Collector image (and so version) the shards run"
// +kubebuilder:printcolumn:name="Batch",type=integer,JSONPath=`.spec.batch.size`
// +kubebuilder:printcolumn:name="Flush",type=string,JSONPath=`.spec.batch.flushInterval`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.status.endpoints.otlpHttp`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 63",message="a SpanSink's name must be a DNS label (lowercase letters, digits and '-', starting with a letter, at most 63 characters) because its Service is named after it"
type SpanSink struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the desired state of the SpanSink.
	// +optional
	// +kubebuilder:default={}
	Spec SpanSinkSpec `json:"spec,omitzero"`

	// status is the observed state of the SpanSink.
	// +optional
	Status SpanSinkStatus `json:"status,omitzero"`
}

// SpanSinkList is a list of SpanSinks.
// +kubebuilder:object:root=true
type SpanSinkList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	// items are the SpanSinks.
	Items []SpanSink `json:"items"`
}

func init() {
	SchemeBuilder.Register(&SpanSink{}, &SpanSinkList{})
}
