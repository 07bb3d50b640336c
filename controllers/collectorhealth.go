package controllers

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// NotReadyGrace is how long a running collector may stay not ready before
// the operator counts it as unable to write its volume. The collector is
// ready within a second of starting unless its volume refuses writes; the
// grace covers the readiness probe's period and failure threshold.
const NotReadyGrace = 30 * time.Second

// observeCollectorHealth finds a collector pod that runs but is not ready,
// which the collector reports only while it cannot write its volume (full,
// read-only or failing): /readyz answers 503 then, and it refuses spans
// with 503/Unavailable until writes work again. Stopping is the other
// cause, and a stopping pod is being deleted, so it is left out.
//
// Readiness is the signal because it is the one the kubelet already
// carries from the collector to the API server: no extra permission for
// the collector, no connection from the operator to the pod. Its message
// cannot name the cause; the Degraded message points to the metric and log
// that do. The pods are the ones observePods read from the cache, which
// watches them, so this costs no request.
func (r *SpanSinkReconciler) observeCollectorHealth(obs *observation, now time.Time) {
	for i := range obs.pods {
		failing, recheck := volumeFailing(&obs.pods[i], now)
		if failing {
			obs.volumeFailingPod = obs.pods[i].Name
			return
		}
		obs.recheckAfter = sooner(obs.recheckAfter, recheck)
	}
}

// volumeFailing reports whether pod's collector runs and is not ready
// because it cannot write: it turned not ready after its container
// started, or has been running NotReadyGrace without becoming ready (a
// volume that was already full when it started). When it cannot tell yet,
// recheck says when to look again.
func volumeFailing(pod *corev1.Pod, now time.Time) (failing bool, recheck time.Duration) {
	if pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning {
		return false, 0
	}
	var ready *corev1.PodCondition
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			ready = &pod.Status.Conditions[i]
		}
	}
	if ready == nil || ready.Status != corev1.ConditionFalse {
		return false, 0
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Ready || cs.State.Running == nil {
			continue
		}
		started := cs.State.Running.StartedAt.Time
		if ready.LastTransitionTime.After(started) {
			return true, 0
		}
		running := now.Sub(started)
		if running >= NotReadyGrace {
			return true, 0
		}
		recheck = NotReadyGrace - running
	}
	return false, recheck
}

// volumeMessage is the Degraded message for a collector that cannot write
// its volume. It names the pod, which changes only when the pod is
// replaced, so it does not make every pass write the status.
func volumeMessage(pod string) string {
	return "The collector pod " + pod + " runs but is not ready, which it reports only when it cannot write its volume " +
		"(full, read-only or failing): it refuses spans with 503/Unavailable and keeps those it acknowledged. " +
		"Its spansink_storage_errors_total{cause} metric and its log name the cause; it takes spans again by itself once writes work."
}
