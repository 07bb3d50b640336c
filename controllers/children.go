package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/controllers/apply"
	"github.com/spansink/spansink/controllers/manifests"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// observation is what one pass learned, for the status.
type observation struct {
	// shards are the spec.replicas shards, by index.
	shards []shardObservation
	// retired are the claims of shards beyond spec.replicas.
	retired []v1alpha1.RetiredShard
	// pods are the collector pods of every shard, from the cache.
	pods []corev1.Pod
	// downShards are shards that run the current spec and have had no
	// available pod for ShardDownGrace.
	downShards []int32
	// configMap is the live collector ConfigMap, nil if it is not ours.
	configMap *corev1.ConfigMap
	// config is what the collector pods report about the config they
	// apply, nil when there was no Deployment to ask (see
	// observeConfigApplied).
	config *configReport
	// serviceReady is true when the Service is ours.
	serviceReady bool
	// conflicts name children ("ConfigMap x") held by objects this SpanSink does not control.
	conflicts []string
	// claimMissing is true when the existing claim the spec names is absent.
	claimMissing bool
	// secretProblems are Secrets the spec names that are missing or lack a
	// key; while there are any, the pod's inputs are left as they are.
	secretProblems []secretProblem
	// resizeRefused is true when the API server refused to grow the claim.
	resizeRefused bool
	// claimWait is a claim a shard waits for while it is Pending (see
	// observeClaim).
	claimWait *claimWait
	// invalidSpec is why the spec cannot become a collector config.
	invalidSpec error
	// volumeFailingPod names a collector pod that runs but cannot write
	// its volume (see observeCollectorHealth).
	volumeFailingPod string
	// recheckAfter is when to look at a not-ready collector pod again.
	recheckAfter time.Duration
	// created and updated name the children ("ConfigMap x") this pass
	// created or changed, for the one Event that tells of them.
	created, updated []string
	// firstCreated and firstUpdated are the first of each, the Events'
	// related object. The Event recorder counts an Event with the same
	// reason, action, regarding and related object as a repeat of the
	// first and drops its note, so without it a pass that re-creates a
	// Service minutes after one that re-created a ServiceAccount would
	// only count again "Created ServiceAccount …".
	firstCreated, firstUpdated client.Object
	// monitoring is what the pass found of spec.monitoring's children.
	monitoring monitoringObservation
	// err is the first API error of the pass.
	err error
}

// blocked reports whether the pass waits for something no watched object
// announces: a foreign object or a missing existing claim going away, a
// claim becoming able to grow, a Pending claim's provisioner failing or its
// StorageClass being created, a named Secret being created or completed
// (Secrets are not watched). Such a SpanSink is polled.
func (o *observation) blocked() bool {
	return o.claimWait != nil || o.blockedBeyondClaim()
}

// blockedBeyondClaim reports whether something other than a Pending claim
// blocks the pass: what a person is likely fixing right now.
func (o *observation) blockedBeyondClaim() bool {
	return len(o.conflicts) > 0 || o.claimMissing || o.resizeRefused || len(o.secretProblems) > 0
}

// ensureChildren creates or updates every child, filling obs. It stops at
// the first API error; conflicts do not stop it, but a conflict on anything
// the pods mount keeps the Deployments from being touched, so that no pod is
// rolled onto someone else's config or volume; a conflict on one shard's
// claim holds back only that shard.
//
// A missing Secret (or key) holds back the ConfigMap and the Deployments:
// a pod whose Secret volume cannot be mounted never starts, and the
// Recreate strategy would stop the running collector first; a restarted
// collector would read a config naming files it does not have. So the
// running collectors keep their config and serve on until the Secret is
// there, and the SpanSink says Degraded meanwhile.
func (r *SpanSinkReconciler) ensureChildren(ctx context.Context, sink *v1alpha1.SpanSink, desired manifests.Desired, obs *observation) error {
	defer r.announceChildChanges(sink, obs)
	obs.shards = make([]shardObservation, len(desired.Shards))
	for i := range obs.shards {
		obs.shards[i].index = int32(i)
	}
	if err := r.checkSecrets(ctx, sink, obs); err != nil {
		return err
	}
	podInputsOK := len(obs.secretProblems) == 0

	if sa, err := ensureChild(ctx, r, sink, obs, apply.ServiceAccounts, desired.ServiceAccount); err != nil {
		return err
	} else if !sa.Ours() {
		podInputsOK = false
	}
	if podInputsOK {
		if cm, err := ensureChild(ctx, r, sink, obs, apply.ConfigMaps, desired.ConfigMap); err != nil {
			return err
		} else if !cm.Ours() {
			podInputsOK = false
		} else {
			obs.configMap = cm.Live
		}
	}
	// The policy goes in before the pods, so a new collector never starts open.
	if desired.NetworkPolicy != nil {
		if _, err := ensureChild(ctx, r, sink, obs, apply.NetworkPolicies, desired.NetworkPolicy); err != nil {
			return err
		}
	} else if err := r.removeNetworkPolicy(ctx, sink); err != nil {
		return err
	}
	claimsOK, err := r.ensureClaims(ctx, sink, desired, obs)
	if err != nil {
		return err
	}
	service, err := ensureChild(ctx, r, sink, obs, apply.Services, desired.Service)
	if err != nil {
		return err
	}
	obs.serviceReady = service.Ours()
	if _, err := ensureChild(ctx, r, sink, obs, apply.Services, desired.HeadlessService); err != nil {
		return err
	}
	if desired.PodDisruptionBudget != nil {
		if _, err := ensureChild(ctx, r, sink, obs, apply.PodDisruptionBudgets, desired.PodDisruptionBudget); err != nil {
			return err
		}
	} else if err := r.removePodDisruptionBudget(ctx, sink); err != nil {
		return err
	}
	if err := r.ensureMonitoring(ctx, sink, desired, obs); err != nil {
		return err
	}
	if err := r.observeRetiredClaims(ctx, sink, obs); err != nil {
		return err
	}
	if !podInputsOK {
		if len(obs.secretProblems) > 0 {
			return r.observeHeldBack(ctx, sink, desired, obs)
		}
		return nil
	}
	if err := r.ensureShardDeployments(ctx, sink, desired, obs, claimsOK); err != nil {
		return err
	}
	return r.removeShardsBeyond(ctx, sink)
}

// ensureClaims creates or grows each shard's claim, or checks the existing
// claim the spec names, and reports per shard whether its pod can mount one.
func (r *SpanSinkReconciler) ensureClaims(ctx context.Context, sink *v1alpha1.SpanSink, desired manifests.Desired, obs *observation) ([]bool, error) {
	claimsOK := make([]bool, len(desired.Shards))
	for i, shard := range desired.Shards {
		if shard.Claim == nil {
			claim, err := r.checkExistingClaim(ctx, sink, obs)
			if err != nil {
				return nil, err
			}
			obs.shards[i].claim = claim
			// The pod waits for a missing existing claim, as it did before
			// the check existed; the status says so.
			claimsOK[i] = true
			continue
		}
		claim, err := ensureChild(ctx, r, sink, obs, apply.Claims, shard.Claim)
		var refused *apply.SpecUpdateError
		if errors.As(err, &refused) && (apierrors.IsInvalid(err) || apierrors.IsForbidden(err)) {
			// The claim is ours and usable; it just cannot grow (yet).
			obs.resizeRefused = true
			err = nil
		}
		if err != nil {
			return nil, err
		}
		if claim.Ours() {
			obs.shards[i].claim = claim.Live
		}
		claimsOK[i] = claim.Ours()
	}
	return claimsOK, nil
}

// checkExistingClaim looks for the claim the user named; the pod would
// otherwise wait for it without a word. It returns the claim, nil when it
// is missing.
func (r *SpanSinkReconciler) checkExistingClaim(ctx context.Context, sink *v1alpha1.SpanSink, obs *observation) (*corev1.PersistentVolumeClaim, error) {
	name := manifests.ClaimName(sink)
	// The user's claim carries none of the operator's labels, so the cache
	// (see CacheOptions) never holds it.
	claim := &corev1.PersistentVolumeClaim{}
	err := r.apiReader().Get(ctx, client.ObjectKey{Namespace: sink.Namespace, Name: name}, claim)
	switch {
	case apierrors.IsNotFound(err):
		obs.claimMissing = true
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("get existing claim %s: %w", name, err)
	}
	return claim, nil
}

// ensureChild keeps one child through apply.Ensure and notes in obs what
// it did: a creation or spec update for the pass's Event, a name held by a
// foreign object as a conflict.
func ensureChild[T client.Object](ctx context.Context, r *SpanSinkReconciler, sink *v1alpha1.SpanSink, obs *observation,
	kind apply.Kind[T], desired T) (apply.Result[T], error) {
	result, err := apply.Ensure(ctx, r.applyClients(), childOwner(sink), kind, desired)
	child := kind.Name + " " + desired.GetName()
	switch result.Action {
	case apply.Created:
		if obs.firstCreated == nil {
			obs.firstCreated = desired
		}
		obs.created = append(obs.created, child)
	case apply.Updated:
		if obs.firstUpdated == nil {
			obs.firstUpdated = desired
		}
		obs.updated = append(obs.updated, child)
	case apply.Conflict:
		obs.conflicts = append(obs.conflicts, child)
	}
	return result, err
}

// applyClients are the clients apply.Ensure reads and writes with.
func (r *SpanSinkReconciler) applyClients() apply.Clients {
	return apply.Clients{Client: r.Client, Uncached: r.apiReader()}
}

// childOwner is sink as the owner of its children. The adoption labels are
// those the builders put on every child: a claim a Retain policy left
// behind still carries them.
func childOwner(sink *v1alpha1.SpanSink) apply.Owner {
	return apply.Owner{UID: sink.UID, AdoptionLabels: map[string]string{
		manifests.LabelInstance:  sink.Name,
		manifests.LabelManagedBy: manifests.ManagedByValue,
	}}
}

// controlledBy reports whether obj belongs to sink (see apply.Owner.Controls).
func controlledBy(obj client.Object, sink *v1alpha1.SpanSink, adoptable bool) bool {
	return childOwner(sink).Controls(obj, adoptable)
}

// maxEventNote bounds an Event's note below the API's 1 kB limit.
const maxEventNote = 1000

// announceChildChanges records one Event for the children a pass created
// and one for those it changed, however many there are, so that a person
// reading `kubectl describe` learns what the operator did. The children
// of a new SpanSink are not announced: making them is what was asked, and
// its status tells how that goes; a child made again later (someone
// deleted it, a shard was added) is news. So a thousand new SpanSinks
// cost no Event write at all, where they cost one per child.
func (r *SpanSinkReconciler) announceChildChanges(sink *v1alpha1.SpanSink, obs *observation) {
	if len(obs.created) > 0 && sink.Status.ObservedGeneration > 0 {
		r.event(sink, obs.firstCreated, corev1.EventTypeNormal, "Created", "Create", "%s", childrenNote("Created", obs.created))
	}
	if len(obs.updated) > 0 {
		r.event(sink, obs.firstUpdated, corev1.EventTypeNormal, "Updated", "Update", "%s", childrenNote("Updated", obs.updated))
	}
}

// childrenNote is "<verb> Kind a, Kind b", cut to maxEventNote with a
// count of the children it leaves out.
func childrenNote(verb string, children []string) string {
	note := verb + " " + children[0]
	for i, child := range children[1:] {
		left := len(children) - 1 - i // child and those after it
		need := len(note) + len(", ") + len(child)
		rest := fmt.Sprintf(" and %d more", left)
		if left > 1 {
			// Room for the count of those after child, should they not fit.
			need += len(fmt.Sprintf(" and %d more", left-1))
		}
		if need > maxEventNote {
			return note + rest
		}
		note += ", " + child
	}
	return note
}

// event records an Event on the SpanSink about a child.
func (r *SpanSinkReconciler) event(sink *v1alpha1.SpanSink, related runtime.Object, eventType, reason, action, note string, args ...any) {
	if r.Recorder == nil {
		return
	}
	r.Recorder.Eventf(sink, related, eventType, reason, action, note, args...)
}
