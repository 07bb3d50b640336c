package controllers

import (
	"context"
	"fmt"
	"strings"

	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/controllers/manifests"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// updateStatus computes the status from what the pass observed and patches
// it, only if it changed: a pass that changes nothing writes nothing.
func (r *SpanSinkReconciler) updateStatus(ctx context.Context, sink *v1alpha1.SpanSink, obs *observation) error {
	before := sink.DeepCopy()
	sink.Status = computeStatus(sink, obs)
	if equality.Semantic.DeepEqual(before.Status, sink.Status) {
		return nil
	}
	r.announceDegraded(before, sink)
	if err := r.Status().Patch(ctx, sink, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("patch status: %w", err)
	}
	return nil
}

// announceDegraded emits a Warning when the SpanSink becomes Degraded or the
// reason changes. Emitting on every pass would write an Event each retry.
func (r *SpanSinkReconciler) announceDegraded(before, after *v1alpha1.SpanSink) {
	now := meta.FindStatusCondition(after.Status.Conditions, v1alpha1.ConditionDegraded)
	if now == nil || now.Status != metav1.ConditionTrue {
		return
	}
	was := meta.FindStatusCondition(before.Status.Conditions, v1alpha1.ConditionDegraded)
	if was != nil && was.Status == now.Status && was.Reason == now.Reason && was.Message == now.Message {
		return
	}
	r.event(after, nil, corev1.EventTypeWarning, now.Reason, "Reconcile", "%s", now.Message)
}

// computeStatus is the status a pass leads to. It starts from the current
// status so that condition transition times survive unchanged conditions.
func computeStatus(sink *v1alpha1.SpanSink, obs *observation) v1alpha1.SpanSinkStatus {
	status := *sink.Status.DeepCopy()
	set := func(condType string, state metav1.ConditionStatus, reason, message string) {
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type: condType, Status: state, Reason: reason, Message: message, ObservedGeneration: sink.Generation,
		})
	}

	degradedReason, degradedMessage := degradation(obs)
	switch {
	case degradedReason != "":
		set(v1alpha1.ConditionDegraded, metav1.ConditionTrue, degradedReason, degradedMessage)
		if degradedReason != v1alpha1.ReasonReconcileError {
			// The pass judged this generation to the end: what blocks it
			// waits on a person (Stalled), not on a retry.
			status.ObservedGeneration = sink.Generation
		}
	case obs.volumeFailingPod != "":
		// The children match the spec; the volume under them fails.
		set(v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonVolumeUnwritable, volumeMessage(obs.volumeFailingPod))
		status.ObservedGeneration = sink.Generation
	case obs.claimWait != nil && obs.claimWait.unbindable != "":
		// The children match the spec; the cluster cannot give the claim a volume.
		set(v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonClaimUnbindable, obs.claimWait.unbindableMessage())
		status.ObservedGeneration = sink.Generation
	case len(obs.downShards) > 0:
		// The children match the spec; a shard's pod does not run.
		set(v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonShardUnavailable, shardsDownMessage(sink, obs.downShards))
		status.ObservedGeneration = sink.Generation
	default:
		set(v1alpha1.ConditionDegraded, metav1.ConditionFalse, v1alpha1.ReasonReconciled, "All children match the spec")
		status.ObservedGeneration = sink.Generation
	}

	rollout := summarize(obs.shards)
	switch {
	case rollout.deployments == 0 && degradedReason != "":
		set(v1alpha1.ConditionProgressing, metav1.ConditionFalse, degradedReason, "The collector cannot be rolled out until the Degraded condition is resolved")
	case rollout.deployments == 0 && obs.claimWait != nil:
		set(v1alpha1.ConditionProgressing, metav1.ConditionTrue, v1alpha1.ReasonClaimPending, obs.claimWait.pendingMessage())
	case len(obs.secretProblems) > 0:
		set(v1alpha1.ConditionProgressing, metav1.ConditionFalse, degradedReason, "The collector keeps running its previous spec until the Degraded condition is resolved")
	case rollout.deployments == len(obs.shards) && len(rollout.notRolledOut) == 0:
		set(v1alpha1.ConditionProgressing, metav1.ConditionFalse, v1alpha1.ReasonAvailable, "The collector runs the current spec")
	case obs.claimWait != nil:
		// No pod can start before its volume is bound: say so rather
		// than that the rollout goes on.
		set(v1alpha1.ConditionProgressing, metav1.ConditionTrue, v1alpha1.ReasonClaimPending, obs.claimWait.pendingMessage())
	case rollout.deployments == 0:
		set(v1alpha1.ConditionProgressing, metav1.ConditionTrue, v1alpha1.ReasonRollingOut, "Waiting for the collector Deployment")
	case len(obs.shards) == 1:
		set(v1alpha1.ConditionProgressing, metav1.ConditionTrue, v1alpha1.ReasonRollingOut, "The collector Deployment is rolling out the current spec")
	default:
		set(v1alpha1.ConditionProgressing, metav1.ConditionTrue, v1alpha1.ReasonRollingOut, fmt.Sprintf(
			"Rolling out the current spec one shard at a time; %s not yet serving it", verbFor(rollout.notRolledOut, "is", "are")))
	}
	switch {
	case rollout.available > 0 && len(obs.shards) == 1:
		set(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonAvailable, "The collector is available at the endpoints")
	case rollout.available > 0:
		set(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonAvailable, fmt.Sprintf(
			"%d of %d shards are available at the endpoints", rollout.available, len(obs.shards)))
	case rollout.deployments == 0:
		set(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonUnavailable, "The collector Deployment is not running")
	default:
		set(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonUnavailable, "The collector Deployment has no available pod")
	}

	status.Endpoints = v1alpha1.Endpoints{}
	if obs.serviceReady {
		status.Endpoints = manifests.Endpoints(sink)
	}
	status.VolumeClaimName = ""
	if len(obs.shards) > 0 && obs.shards[0].claim != nil {
		status.VolumeClaimName = obs.shards[0].claim.Name
	}
	status.ReadyReplicas = 0
	status.Replicas = int32(rollout.deployments)
	for _, shard := range obs.shards {
		if shard.deployment != nil {
			status.ReadyReplicas += shard.deployment.Status.ReadyReplicas
		}
	}
	status.Selector = manifests.Selector(sink)
	status.Shards = shardStatuses(sink, obs)
	status.RetiredShards = obs.retired
	status.Image = ""
	if len(obs.shards) > 0 && obs.shards[0].deployment != nil {
		status.Image = manifests.RunningImage(obs.shards[0].deployment)
	}
	status.ConfigHash = ""
	if obs.configMap != nil {
		status.ConfigHash = configMapHash(obs.configMap)
	}
	setConfigStatus(sink, &status, obs, set)
	setMonitoringCondition(sink, &status, obs, set)
	setKstatusConditions(&status, set)
	return status
}

// degradation returns the Degraded reason and message of a pass, or "" when
// the pass brought every child to the desired state.
func degradation(obs *observation) (reason, message string) {
	switch {
	case obs.invalidSpec != nil:
		return v1alpha1.ReasonInvalidSpec, obs.invalidSpec.Error()
	case obs.err != nil:
		return v1alpha1.ReasonReconcileError, obs.err.Error()
	case len(obs.conflicts) > 0:
		verb := "exists and is"
		if len(obs.conflicts) > 1 {
			verb = "exist and are"
		}
		return v1alpha1.ReasonChildConflict, fmt.Sprintf(
			"%s already %s not controlled by this SpanSink; the operator leaves it alone: delete or rename it, or rename the SpanSink",
			strings.Join(obs.conflicts, ", "), verb)
	case len(obs.secretProblems) > 0:
		return secretDegradation(obs.secretProblems)
	case obs.resizeRefused:
		return v1alpha1.ReasonVolumeResizeRefused,
			"The PersistentVolumeClaim cannot grow to storage.volume.size: it is not bound yet, or its storage class does not allow volume expansion"
	case obs.claimMissing:
		return v1alpha1.ReasonExistingClaimNotFound,
			"storage.volume.existingClaimName names a PersistentVolumeClaim that does not exist in this namespace"
	}
	return "", ""
}

// rolloutSummary counts the shards' Deployments by state.
type rolloutSummary struct {
	// deployments is the number of shards whose Deployment is ours.
	deployments int
	// available is the number of shards with an available pod.
	available int
	// notRolledOut are the shards that do not serve the current spec yet.
	notRolledOut []int32
}

func summarize(shards []shardObservation) rolloutSummary {
	var sum rolloutSummary
	for _, shard := range shards {
		deploy := shard.deployment
		if deploy == nil {
			sum.notRolledOut = append(sum.notRolledOut, shard.index)
			continue
		}
		sum.deployments++
		if available(deploy) {
			sum.available++
		}
		if shard.held || !rolledOut(deploy) {
			sum.notRolledOut = append(sum.notRolledOut, shard.index)
		}
	}
	return sum
}

// verbFor is "shard 1 is" or "shards 0, 2 are".
func verbFor(indexes []int32, one, many string) string {
	return shardList(indexes) + " " + pluralVerb(indexes, one, many)
}

// shardsDownMessage is the Degraded message for shards without a pod.
func shardsDownMessage(sink *v1alpha1.SpanSink, down []int32) string {
	names := make([]string, len(down))
	for i, index := range down {
		names[i] = manifests.ShardDeploymentName(sink, index)
	}
	return fmt.Sprintf("%s (Deployment %s) %s had no available pod for over %s: its node may be gone, its volume may not attach, or the collector may crash (see the pod's events and log). "+
		"The other shards keep taking spans; the shard's acknowledged spans stay on its claim",
		shardList(down), strings.Join(names, ", "), pluralVerb(down, "has", "have"), ShardDownGrace)
}

func pluralVerb(indexes []int32, one, many string) string {
	if len(indexes) == 1 {
		return one
	}
	return many
}

// rolledOut reports whether the Deployment controller has acted on the
// latest spec and the shard's pod runs it.
func rolledOut(deploy *appsv1.Deployment) bool {
	want := int32(1)
	if deploy.Spec.Replicas != nil {
		want = *deploy.Spec.Replicas
	}
	return deploy.Status.ObservedGeneration >= deploy.Generation &&
		deploy.Status.UpdatedReplicas >= want &&
		deploy.Status.Replicas == deploy.Status.UpdatedReplicas &&
		deploy.Status.AvailableReplicas >= want
}

// available reports whether the Deployment controller says the collector
// has an available pod.
func available(deploy *appsv1.Deployment) bool {
	for _, c := range deploy.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			return c.Status == corev1.ConditionTrue && deploy.Status.AvailableReplicas > 0
		}
	}
	return false
}
