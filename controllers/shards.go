package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/controllers/apply"
	"github.com/spansink/spansink/controllers/manifests"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// ShardDownGrace is how long a shard that runs the current spec may have no
// available pod before the SpanSink says Degraded naming it. A lost node is
// noticed by the node controller after 40 s, and a replacement pod takes
// its time to attach the volume elsewhere; a minute keeps a slow start
// from counting as a failure.
const ShardDownGrace = time.Minute

// shardObservation is what one pass learned about one shard.
type shardObservation struct {
	index int32
	// deployment is the shard's live Deployment, nil when it is not there
	// (yet) or not ours.
	deployment *appsv1.Deployment
	// claim is the shard's live claim when it is there and usable.
	claim *corev1.PersistentVolumeClaim
	// held is true when the shard's new pod template waits for another
	// shard to finish rolling out (see rolloutPlan).
	held bool
	// pod is the shard's newest collector pod, nil when it has none.
	pod *corev1.Pod
}

// shardRollout is what rolloutPlan needs to know of one shard.
type shardRollout struct {
	// exists is true when the shard's Deployment is there and ours.
	exists bool
	// outdated is true when it does not run the desired pod template yet.
	outdated bool
	// serving is true when it is rolled out and available.
	serving bool
}

// rolloutPlan says which shards may be given their desired Deployment now.
// A new pod template restarts the shard's only pod (Recreate: its volume
// is ReadWriteOnce), so shards move one at a time, as a rolling update with
// maxUnavailable 1 would move pods:
//
//   - a shard without a Deployment is created at once: it adds capacity;
//   - an outdated shard that serves nothing is replaced at once: that costs
//     no availability, and its fix may be in the new spec;
//   - otherwise the lowest outdated shard moves, but only while every other
//     shard serves with its current spec, so one shard is down at a time
//     and the next waits until the previous one serves again.
func rolloutPlan(shards []shardRollout) []bool {
	plan := make([]bool, len(shards))
	othersServe := func(i int) bool {
		for j, s := range shards {
			if j != i && (!s.exists || !s.serving) {
				return false
			}
		}
		return true
	}
	moving := false
	for i, s := range shards {
		switch {
		case !s.exists:
			plan[i] = true
		case s.outdated && !s.serving:
			plan[i] = true
			moving = true
		}
	}
	if moving {
		return plan
	}
	for i, s := range shards {
		if s.outdated && othersServe(i) {
			plan[i] = true
			break
		}
	}
	return plan
}

// ensureShardDeployments writes each shard's Deployment as rolloutPlan
// allows, filling obs.shards[i].deployment (the live one when it is held).
// A shard whose claim is not usable is left alone: its pod would wait for
// the volume without a word.
func (r *SpanSinkReconciler) ensureShardDeployments(ctx context.Context, sink *v1alpha1.SpanSink, desired manifests.Desired, obs *observation, claimsOK []bool) error {
	wanted := make([]*appsv1.Deployment, len(desired.Shards))
	lives := make([]*appsv1.Deployment, len(desired.Shards))
	states := make([]shardRollout, len(desired.Shards))
	for i, shard := range desired.Shards {
		deploy, err := apply.WithSpecRecord(shard.Deployment)
		if err != nil {
			return err
		}
		wanted[i] = deploy
		live := &appsv1.Deployment{}
		found, err := r.getControlled(ctx, sink, deploy, live)
		if err != nil {
			return err
		}
		// A name held by someone else's Deployment counts as no Deployment:
		// ensure reports the conflict, and the shard serves nothing.
		if found {
			lives[i] = live
			states[i] = shardRollout{exists: true, outdated: !apply.DeploymentSynced(live, deploy), serving: rolledOut(live) && available(live)}
		}
	}
	plan := rolloutPlan(states)
	for i := range desired.Shards {
		shard := &obs.shards[i]
		if !claimsOK[i] || !plan[i] {
			shard.deployment = lives[i]
			shard.held = lives[i] != nil && states[i].outdated
			continue
		}
		deploy, err := ensureChild(ctx, r, sink, obs, apply.Deployments, wanted[i])
		if err != nil {
			return err
		}
		if deploy.Ours() {
			shard.deployment = deploy.Live
		}
	}
	return nil
}

// removeShardsBeyond deletes the Deployments of shards at or above
// spec.replicas. Their pods drain their queues as any stopping collector
// does; their claims stay (see observeRetiredClaims).
func (r *SpanSinkReconciler) removeShardsBeyond(ctx context.Context, sink *v1alpha1.SpanSink) error {
	deployments := &appsv1.DeploymentList{}
	if err := r.List(ctx, deployments, client.InNamespace(sink.Namespace), client.MatchingLabels(manifests.SelectorLabels(sink))); err != nil {
		return fmt.Errorf("list collector Deployments: %w", err)
	}
	count := manifests.ShardCount(sink)
	for i := range deployments.Items {
		deploy := &deployments.Items[i]
		index, ok := manifests.ShardIndex(deploy)
		if !ok || index < count || !controlledBy(deploy, sink, false) || deploy.DeletionTimestamp != nil {
			continue
		}
		if err := r.Delete(ctx, deploy, client.Preconditions{UID: &deploy.UID}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete Deployment %s of shard %d: %w", deploy.Name, index, err)
		}
		logf.FromContext(ctx).Info("deleted child", "kind", "Deployment", "name", deploy.Name, "shard", index)
		r.event(sink, deploy, corev1.EventTypeNormal, "Deleted", "Delete",
			"Deleted Deployment %s: shard %d is beyond spec.replicas %d; its claim keeps its spans", deploy.Name, index, count)
	}
	return nil
}

// observeRetiredClaims lists the claims of shards at or above
// spec.replicas that belong to this SpanSink: left by a scale-down, kept
// with their spans, and mounted again by a scale-up.
func (r *SpanSinkReconciler) observeRetiredClaims(ctx context.Context, sink *v1alpha1.SpanSink, obs *observation) error {
	claims := &corev1.PersistentVolumeClaimList{}
	if err := r.List(ctx, claims, client.InNamespace(sink.Namespace), client.MatchingLabels(manifests.SelectorLabels(sink))); err != nil {
		return fmt.Errorf("list claims: %w", err)
	}
	count := manifests.ShardCount(sink)
	obs.retired = nil
	for i := range claims.Items {
		claim := &claims.Items[i]
		index, ok := manifests.ShardIndex(claim)
		if !ok || index < count || claim.DeletionTimestamp != nil || !controlledBy(claim, sink, apply.Claims.Adoptable) {
			continue
		}
		obs.retired = append(obs.retired, v1alpha1.RetiredShard{Index: index, Claim: claim.Name})
	}
	slices.SortFunc(obs.retired, func(a, b v1alpha1.RetiredShard) int { return int(a.Index - b.Index) })
	return nil
}

// removePodDisruptionBudget deletes the SpanSink's budget once it runs a
// single shard, on which a budget would block every node drain.
func (r *SpanSinkReconciler) removePodDisruptionBudget(ctx context.Context, sink *v1alpha1.SpanSink) error {
	name := manifests.CollectorName(sink)
	budget := &policyv1.PodDisruptionBudget{}
	err := r.Get(ctx, client.ObjectKey{Namespace: sink.Namespace, Name: name}, budget)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get PodDisruptionBudget %s: %w", name, err)
	}
	if !controlledBy(budget, sink, false) {
		return nil
	}
	if err := r.Delete(ctx, budget, client.Preconditions{UID: &budget.UID}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete PodDisruptionBudget %s: %w", name, err)
	}
	logf.FromContext(ctx).Info("deleted child", "kind", "PodDisruptionBudget", "name", name)
	r.event(sink, budget, corev1.EventTypeNormal, "Deleted", "Delete", "Deleted PodDisruptionBudget %s: one shard needs none", name)
	return nil
}

// observePods reads the collector pods of every shard from the cache and
// gives each shard its newest one.
func (r *SpanSinkReconciler) observePods(ctx context.Context, sink *v1alpha1.SpanSink, obs *observation) error {
	pods := &corev1.PodList{}
	if err := r.List(ctx, pods, client.InNamespace(sink.Namespace), client.MatchingLabels(manifests.SelectorLabels(sink))); err != nil {
		return fmt.Errorf("list collector pods: %w", err)
	}
	obs.pods = pods.Items
	for i := range obs.pods {
		pod := &obs.pods[i]
		index, ok := manifests.ShardIndex(pod)
		if !ok || int(index) >= len(obs.shards) {
			continue
		}
		shard := &obs.shards[index]
		if shard.pod == nil || shard.pod.CreationTimestamp.Before(&pod.CreationTimestamp) {
			shard.pod = pod
		}
	}
	return nil
}

// observeShardsDown finds shards that run the current spec and have had no
// available pod for ShardDownGrace, and says when to look again at those
// that may become so.
func (r *SpanSinkReconciler) observeShardsDown(obs *observation, now time.Time) {
	for _, shard := range obs.shards {
		down, recheck := shardDown(shard.deployment, now)
		if down {
			obs.downShards = append(obs.downShards, shard.index)
		}
		obs.recheckAfter = sooner(obs.recheckAfter, recheck)
	}
}

// shardDown reports whether deploy has acted on its spec and has said it
// is not available for ShardDownGrace. A Deployment whose controller has
// said nothing yet is not down.
func shardDown(deploy *appsv1.Deployment, now time.Time) (down bool, recheck time.Duration) {
	if deploy == nil || deploy.Status.ObservedGeneration < deploy.Generation || deploy.Status.AvailableReplicas > 0 {
		return false, 0
	}
	for _, c := range deploy.Status.Conditions {
		if c.Type != appsv1.DeploymentAvailable || c.Status != corev1.ConditionFalse {
			continue
		}
		since := now.Sub(c.LastTransitionTime.Time)
		if since >= ShardDownGrace {
			return true, 0
		}
		return false, ShardDownGrace - since
	}
	return false, 0
}

// shardStatuses is status.shards from what the pass saw.
func shardStatuses(sink *v1alpha1.SpanSink, obs *observation) []v1alpha1.ShardStatus {
	out := make([]v1alpha1.ShardStatus, 0, len(obs.shards))
	for _, shard := range obs.shards {
		s := v1alpha1.ShardStatus{Index: shard.index, Deployment: manifests.ShardDeploymentName(sink, shard.index)}
		if shard.claim != nil {
			s.Claim = shard.claim.Name
		}
		if shard.pod != nil {
			s.Pod = shard.pod.Name
		}
		if d := shard.deployment; d != nil {
			s.Ready = d.Status.ReadyReplicas > 0
			s.Updated = !shard.held && rolledOut(d)
		}
		out = append(out, s)
	}
	return out
}

// shardList names shards for a message: "shard 1", "shards 0, 2".
func shardList(indexes []int32) string {
	words := make([]string, len(indexes))
	for i, index := range indexes {
		words[i] = fmt.Sprint(index)
	}
	if len(words) == 1 {
		return "shard " + words[0]
	}
	return "shards " + strings.Join(words, ", ")
}
