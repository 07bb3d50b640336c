package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spansink/spansink/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// unbindableEventReasons are the Warning events the PersistentVolume
// controller records on a claim it cannot bind or provision for: no volume
// matches and no class can make one, or the class's provisioner failed.
// They repeat while the cause lasts, so the latest event on the claim
// tells whether it still holds.
var unbindableEventReasons = map[string]bool{"ProvisioningFailed": true, "FailedBinding": true}

// maxEventMessage bounds how much of a provisioner's message goes into the
// Degraded condition; provisioners are free to write long ones.
const maxEventMessage = 300

// claimWait is a claim the collector pod waits for.
type claimWait struct {
	// name is the claim's name.
	name string
	// class is its storageClassName, "" when it names none.
	class string
	// existing is true when the user made the claim (existingClaimName).
	existing bool
	// classMissing is true when the StorageClass it names does not exist.
	classMissing bool
	// unbindable says why the claim will not bind without help, "" when
	// nothing says so (yet): it may just be waiting for its provisioner.
	unbindable string
	// since is when the claim was created: how long it has waited.
	since time.Time
}

// observeClaim finds out whether the collector waits for a claim that is
// still Pending, and whether it is known not to bind by itself: its
// StorageClass does not exist, or the PersistentVolume controller's latest
// event on it is a failure. Without this the SpanSink would only say that
// the Deployment is rolling out, forever.
//
// It looks only at shards without an available pod: a pod that runs has
// its volume. The claim is the one ensureChildren already read; the
// StorageClass and the Events come from the cache, which holds every class
// and the Events of claims.
func (r *SpanSinkReconciler) observeClaim(ctx context.Context, sink *v1alpha1.SpanSink, obs *observation) error {
	claim := pendingClaim(obs.shards)
	if claim == nil {
		return nil
	}
	existing := sink.Spec.Storage.Volume.ExistingClaimName != ""
	wait := &claimWait{name: claim.Name, existing: existing, since: claim.CreationTimestamp.Time}
	if claim.Spec.StorageClassName != nil {
		wait.class = *claim.Spec.StorageClassName
	}
	obs.claimWait = wait

	if wait.class != "" {
		err := r.Get(ctx, client.ObjectKey{Name: wait.class}, &storagev1.StorageClass{})
		switch {
		case apierrors.IsNotFound(err):
			wait.classMissing = true
			wait.unbindable = fmt.Sprintf("its StorageClass %q does not exist", wait.class)
			return nil
		case err != nil:
			return fmt.Errorf("get StorageClass %s of claim %s: %w", wait.class, claim.Name, err)
		}
	}

	events := &corev1.EventList{}
	if err := r.List(ctx, events, client.InNamespace(claim.Namespace),
		client.MatchingFields{eventObjectUIDField: string(claim.UID)}); err != nil {
		return fmt.Errorf("list events of claim %s: %w", claim.Name, err)
	}
	if latest := latestEvent(events.Items); latest != nil &&
		latest.Type == corev1.EventTypeWarning && unbindableEventReasons[latest.Reason] {
		wait.unbindable = latest.Reason + ": " + truncate(strings.TrimSpace(latest.Message), maxEventMessage)
	}
	return nil
}

// pendingClaim is the first shard's claim that is Pending while the shard
// has no available pod, nil when there is none.
func pendingClaim(shards []shardObservation) *corev1.PersistentVolumeClaim {
	for _, shard := range shards {
		if shard.claim == nil || (shard.deployment != nil && available(shard.deployment)) {
			continue
		}
		if shard.claim.Status.Phase == corev1.ClaimPending {
			return shard.claim
		}
	}
	return nil
}

// latestEvent is the event last observed, by the newest of its timestamps
// (core Events carry lastTimestamp, events.k8s.io ones eventTime and a
// series). Of events observed in the same instant the later in the list,
// which the API server returns in creation order, wins.
func latestEvent(events []corev1.Event) *corev1.Event {
	var latest *corev1.Event
	var latestAt int64
	for i := range events {
		at := events[i].LastTimestamp.UnixNano()
		if t := events[i].EventTime.UnixNano(); t > at {
			at = t
		}
		if s := events[i].Series; s != nil && s.LastObservedTime.UnixNano() > at {
			at = s.LastObservedTime.UnixNano()
		}
		if latest == nil || at >= latestAt {
			latest, latestAt = &events[i], at
		}
	}
	return latest
}

// truncate shortens s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// describe names the claim and its class for a person.
func (w *claimWait) describe() string {
	what := "PersistentVolumeClaim " + w.name
	if w.existing {
		what = "The PersistentVolumeClaim " + w.name + " named by storage.volume.existingClaimName"
	}
	if w.class == "" {
		return what + " (no StorageClass: only a matching PersistentVolume can bind it)"
	}
	return fmt.Sprintf("%s (StorageClass %q)", what, w.class)
}

// pendingMessage is the Progressing message while the claim waits.
func (w *claimWait) pendingMessage() string {
	return "Waiting for " + w.describe() + " to bind; the collector pod cannot start before it does"
}

// unbindableMessage is the Degraded message for a claim that will not bind
// by itself. It holds no count or time, so repeated events do not rewrite
// the status.
func (w *claimWait) unbindableMessage() string {
	fix := "create that StorageClass, or recreate the SpanSink with an existing storage.volume.storageClassName (it cannot be changed)"
	switch {
	case w.existing:
		fix = "fix the claim or its StorageClass; the SpanSink mounts it once it is bound"
	case w.class == "":
		fix = "create a PersistentVolume that matches it, or recreate the SpanSink with a storage.volume.storageClassName that provisions volumes"
	case !w.classMissing:
		fix = "check the StorageClass's provisioner; the claim binds by itself once it succeeds"
	}
	return fmt.Sprintf("%s cannot bind: %s. To fix it, %s", w.describe(), w.unbindable, fix)
}

// pendingRetryCap bounds, in blocked retries, how long a SpanSink whose
// claim stays Pending waits between two looks.
const pendingRetryCap = 10

// blockedJitter spreads the retries of SpanSinks blocked at the same time
// (an operator restart, a storage class that provisions nothing) by up to
// this fraction of the wait, so they do not come back in step.
const blockedJitter = 0.2

// blockedWait is how long a blocked SpanSink waits for its next look.
// A claim that stays Pending is looked at less and less often, a quarter
// of the time it has waited, from one blocked retry up to pendingRetryCap
// of them: its binding is announced by the claim's own watch event, so
// the polls only refresh the reason, and on a cluster where a thousand
// claims wait for storage they would otherwise keep the operator busy.
// Whatever else blocks keeps the base wait, since a person is likely
// fixing it right now.
func blockedWait(base time.Duration, obs *observation, now time.Time) time.Duration {
	if obs.claimWait == nil || obs.blockedBeyondClaim() {
		return base
	}
	return min(max(now.Sub(obs.claimWait.since)/4, base), pendingRetryCap*base)
}

// jittered lengthens d by up to blockedJitter of it; r is in [0, 1).
func jittered(d time.Duration, r float64) time.Duration {
	return d + time.Duration(r*blockedJitter*float64(d))
}
