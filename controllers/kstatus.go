package controllers

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/spansink/spansink/api/v1alpha1"
)

// setKstatusConditions sets Reconciling and Stalled, the two conditions
// that kstatus (Flux's health checks, cli-utils, kubectl-based waits) and
// the Argo CD health check in config/argocd read, from the conditions
// computed before them. Deriving them here, in one place, keeps the two
// views of a SpanSink's health from disagreeing: Stalled when progress
// waits on a person, else Reconciling while anything still moves toward
// the current spec, else both False (kstatus: Current).
func setKstatusConditions(status *v1alpha1.SpanSinkStatus, set func(condType string, state metav1.ConditionStatus, reason, message string)) {
	if stalled := stalledBy(status.Conditions); stalled != nil {
		set(v1alpha1.ConditionStalled, metav1.ConditionTrue, stalled.Reason, stalled.Message)
		set(v1alpha1.ConditionReconciling, metav1.ConditionFalse, stalled.Reason,
			"Nothing moves until the Stalled condition is resolved")
		return
	}
	set(v1alpha1.ConditionStalled, metav1.ConditionFalse, v1alpha1.ReasonCurrent, "Nothing waits on a person")
	if moving := reconcilingBy(status.Conditions); moving != nil {
		set(v1alpha1.ConditionReconciling, metav1.ConditionTrue, moving.Reason, moving.Message)
		return
	}
	set(v1alpha1.ConditionReconciling, metav1.ConditionFalse, v1alpha1.ReasonCurrent,
		"The collector runs the current spec and applies its config")
}

// stalledBy is the condition that keeps the SpanSink from its spec until a
// person acts, or nil: Degraded for any reason but an API error the
// operator retries, a config the collector refused, and a monitoring
// object held by someone else. Monitoring that waits for the Prometheus
// Operator's CRDs is not stalled: it comes by itself once they appear.
func stalledBy(conditions []metav1.Condition) *metav1.Condition {
	if c := meta.FindStatusCondition(conditions, v1alpha1.ConditionDegraded); c != nil &&
		c.Status == metav1.ConditionTrue && c.Reason != v1alpha1.ReasonReconcileError {
		return c
	}
	if c := meta.FindStatusCondition(conditions, v1alpha1.ConditionConfigApplied); c != nil &&
		c.Status == metav1.ConditionFalse && c.Reason == v1alpha1.ReasonRefused {
		return c
	}
	if c := meta.FindStatusCondition(conditions, v1alpha1.ConditionMonitoringReady); c != nil &&
		c.Status == metav1.ConditionFalse && c.Reason == v1alpha1.ReasonChildConflict {
		return c
	}
	return nil
}

// reconcilingBy is the first condition that says work toward the current
// spec goes on, or nil: an API error being retried, a rollout or a claim
// waiting for its volume, no available collector yet, a config not yet
// applied by every pod.
func reconcilingBy(conditions []metav1.Condition) *metav1.Condition {
	for _, want := range []struct {
		condType string
		status   metav1.ConditionStatus
	}{
		{v1alpha1.ConditionDegraded, metav1.ConditionTrue},
		{v1alpha1.ConditionProgressing, metav1.ConditionTrue},
		{v1alpha1.ConditionReady, metav1.ConditionFalse},
	} {
		if c := meta.FindStatusCondition(conditions, want.condType); c != nil && c.Status == want.status {
			return c
		}
	}
	if c := meta.FindStatusCondition(conditions, v1alpha1.ConditionConfigApplied); c != nil && c.Status != metav1.ConditionTrue {
		return c
	}
	return nil
}
