package controllers

import (
	"context"
	"fmt"

	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/controllers/manifests"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// removeNetworkPolicy deletes the SpanSink's NetworkPolicy once the spec no
// longer asks for one. It reads from the cache, so a SpanSink that never
// had a policy costs no request; an object under the name that the
// SpanSink does not control is left alone.
func (r *SpanSinkReconciler) removeNetworkPolicy(ctx context.Context, sink *v1alpha1.SpanSink) error {
	name := manifests.CollectorName(sink)
	policy := &networkingv1.NetworkPolicy{}
	err := r.Get(ctx, client.ObjectKey{Namespace: sink.Namespace, Name: name}, policy)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get NetworkPolicy %s: %w", name, err)
	}
	if !controlledBy(policy, sink, false) {
		return nil
	}
	if err := r.Delete(ctx, policy, client.Preconditions{UID: &policy.UID}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete NetworkPolicy %s: %w", name, err)
	}
	logf.FromContext(ctx).Info("deleted child", "kind", "NetworkPolicy", "name", name)
	r.event(sink, policy, corev1.EventTypeNormal, "Deleted", "Delete", "Deleted NetworkPolicy %s: spec.networkPolicy is unset", name)
	return nil
}
