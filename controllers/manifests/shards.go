package manifests

import (
	"strconv"

	"github.com/spansink/spansink/api/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// A SpanSink runs spec.replicas shards. Each shard is a Deployment of one
// collector pod with a claim of its own, rather than one StatefulSet:
//
//   - Shard 0 is the collector a SpanSink had before shards existed: the
//     Deployment <name>-collector and the claim <name>-data keep their
//     names, so an operator upgrade renames and moves nothing. A
//     StatefulSet names its claims <template>-<set>-<ordinal> and cannot
//     take over an existing claim under another name.
//   - storage.volume.size can grow: the operator resizes each claim, where
//     a StatefulSet's volumeClaimTemplates cannot be changed at all.
//   - Rollouts are the operator's: it moves one shard at a time to a new pod
//     template and waits for it to serve (see RolloutPlan), and a shard
//     that is down is replaced at once, which a StatefulSet's ordered
//     rolling update does not do for a pod that never becomes ready.
//
// Shard i ≥ 1 is <name>-collector-<i> with claim <name>-data-<i>. Every
// shard's pod carries the selector labels, so the Service, the
// PodDisruptionBudget and the NetworkPolicy cover all shards, plus
// LabelShard with its index.

// LabelShard carries a shard's index on its Deployment, pod and claim.
const LabelShard = "tracing.spansink.dev/shard"

// headlessSuffix names the headless Service that gives each shard's pod a
// DNS name (shard-<i>.<name>-shards.<namespace>.svc).
const headlessSuffix = "shards"

// Shard is one shard's children.
type Shard struct {
	// Index is the shard's number, from 0.
	Index int32
	// Deployment runs the shard's collector pod.
	Deployment *appsv1.Deployment
	// Claim holds the shard's files; nil when the SpanSink mounts an
	// existing claim (shard 0 only).
	Claim *corev1.PersistentVolumeClaim
}

// ShardCount is spec.replicas, 1 when unset (a SpanSink built in Go that
// never went through the API server's defaults).
func ShardCount(sink *v1alpha1.SpanSink) int32 {
	if sink.Spec.Replicas == nil || *sink.Spec.Replicas < 1 {
		return 1
	}
	return *sink.Spec.Replicas
}

// ShardDeploymentName is the name of shard i's Deployment.
func ShardDeploymentName(sink *v1alpha1.SpanSink, i int32) string {
	if i == 0 {
		return CollectorName(sink)
	}
	return childName(sink.Name, collectorSuffix+"-"+strconv.Itoa(int(i)))
}

// ShardClaimName is the name of the claim holding shard i's files.
func ShardClaimName(sink *v1alpha1.SpanSink, i int32) string {
	if i == 0 {
		return ClaimName(sink)
	}
	return childName(sink.Name, dataSuffix+"-"+strconv.Itoa(int(i)))
}

// HeadlessServiceName is the Service that gives each shard's pod an address.
func HeadlessServiceName(sink *v1alpha1.SpanSink) string {
	return childName(sink.Name, headlessSuffix)
}

// ShardHostname is shard i's pod hostname, its DNS label under the headless
// Service.
func ShardHostname(i int32) string {
	return "shard-" + strconv.Itoa(int(i))
}

// ShardIndex reads the shard index from an object's LabelShard. Objects
// from before shards carry no such label; they are shard 0's, the only
// shard there was.
func ShardIndex(obj metav1.Object) (int32, bool) {
	value, ok := obj.GetLabels()[LabelShard]
	if !ok {
		return 0, true
	}
	i, err := strconv.ParseInt(value, 10, 32)
	if err != nil || i < 0 {
		return 0, false
	}
	return int32(i), true
}

// shardLabels are Labels plus the shard's index.
func shardLabels(sink *v1alpha1.SpanSink, i int32) map[string]string {
	l := Labels(sink)
	l[LabelShard] = strconv.Itoa(int(i))
	return l
}

// shardSelector selects shard i's pod. Shard 0's is SelectorLabels, the
// selector its Deployment had before shards existed: a Deployment's
// selector cannot change. It also matches the other shards' pods, which is
// harmless because a ReplicaSet only counts the pods it owns.
func shardSelector(sink *v1alpha1.SpanSink, i int32) map[string]string {
	selector := SelectorLabels(sink)
	if i > 0 {
		selector[LabelShard] = strconv.Itoa(int(i))
	}
	return selector
}

// Selector is the label selector of every shard's pods in its string form,
// as the scale subresource publishes it.
func Selector(sink *v1alpha1.SpanSink) string {
	return labels.SelectorFromSet(SelectorLabels(sink)).String()
}

// defaultSpread spreads the shards over nodes, then zones, without ever
// leaving one unscheduled: a shard whose volume is bound to a zone must
// still start there.
func defaultSpread(sink *v1alpha1.SpanSink) []corev1.TopologySpreadConstraint {
	spread := func(key string) corev1.TopologySpreadConstraint {
		return corev1.TopologySpreadConstraint{
			MaxSkew:           1,
			TopologyKey:       key,
			WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector:     &metav1.LabelSelector{MatchLabels: SelectorLabels(sink)},
		}
	}
	return []corev1.TopologySpreadConstraint{spread(corev1.LabelHostname), spread(corev1.LabelTopologyZone)}
}

// topologySpread is the user's constraints, or defaultSpread.
func topologySpread(sink *v1alpha1.SpanSink) []corev1.TopologySpreadConstraint {
	if len(sink.Spec.TopologySpreadConstraints) == 0 {
		return defaultSpread(sink)
	}
	out := make([]corev1.TopologySpreadConstraint, len(sink.Spec.TopologySpreadConstraints))
	for i := range sink.Spec.TopologySpreadConstraints {
		out[i] = *sink.Spec.TopologySpreadConstraints[i].DeepCopy()
	}
	return out
}

// PodDisruptionBudget lets a drain or other eviction take at most one shard
// at a time, or is nil below two shards: a budget on a single pod would
// block every node drain.
func PodDisruptionBudget(sink *v1alpha1.SpanSink) *policyv1.PodDisruptionBudget {
	if ShardCount(sink) < 2 {
		return nil
	}
	one := intstr.FromInt32(1)
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: objectMeta(sink, CollectorName(sink)),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: &one,
			Selector:       &metav1.LabelSelector{MatchLabels: SelectorLabels(sink)},
		},
	}
}

// HeadlessService gives each shard's ready pod a DNS name,
// shard-<i>.<name>-shards.<namespace>.svc, for clients that pin a shard.
// It has the collector Service's ports.
func HeadlessService(sink *v1alpha1.SpanSink) *corev1.Service {
	svc := Service(sink)
	svc.ObjectMeta = objectMeta(sink, HeadlessServiceName(sink))
	svc.Spec.ClusterIP = corev1.ClusterIPNone
	return svc
}
