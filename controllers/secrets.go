package controllers

import (
	"context"
	"fmt"
	"strings"

	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/controllers/manifests"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The operator never holds Secrets: it reads each one a SpanSink names by
// name, straight from the API server, only to tell the user when it is
// missing. A cached client would start an informer that lists and watches
// every Secret in the cluster, and the RBAC to go with it. So a Secret
// created later is noticed by polling (observation.blocked), not by a watch.

// secretProblem is a Secret the spec names that the pod could not mount.
type secretProblem struct {
	// missing is true when the Secret does not exist; false when it lacks a key.
	missing bool
	// message says which Secret or key and what to do.
	message string
}

// checkSecrets looks up every Secret the SpanSink names and records in obs
// each one that is missing or lacks a key the collector reads.
func (r *SpanSinkReconciler) checkSecrets(ctx context.Context, sink *v1alpha1.SpanSink, obs *observation) error {
	for _, use := range manifests.SecretUses(sink) {
		secret := &corev1.Secret{}
		err := r.apiReader().Get(ctx, client.ObjectKey{Namespace: sink.Namespace, Name: use.Name}, secret)
		if apierrors.IsNotFound(err) {
			obs.secretProblems = append(obs.secretProblems, secretProblem{missing: true, message: fmt.Sprintf(
				"Secret %s named by %s does not exist in this namespace: create it with %s holding %s",
				use.Name, use.Field, keyList(use.Keys), use.Holds)})
			continue
		}
		if err != nil {
			return fmt.Errorf("get Secret %s named by %s: %w", use.Name, use.Field, err)
		}
		var absent []string
		for _, k := range use.Keys {
			if _, ok := secret.Data[k]; !ok {
				absent = append(absent, k)
			}
		}
		if len(absent) > 0 {
			obs.secretProblems = append(obs.secretProblems, secretProblem{message: fmt.Sprintf(
				"Secret %s named by %s has no %s: add %s holding %s%s",
				use.Name, use.Field, keyList(absent), keyList(absent), use.Holds, keyHint(use))})
		}
	}
	return nil
}

// keyHint tells how to point the SpanSink at another key, where it can.
func keyHint(use manifests.SecretUse) string {
	if use.Field == "spec.tls.secretRef" {
		return ""
	}
	return ", or set " + use.Field + ".key to the key that holds them"
}

func keyList(keys []string) string {
	quoted := make([]string, len(keys))
	for i, k := range keys {
		quoted[i] = fmt.Sprintf("key %q", k)
	}
	return strings.Join(quoted, " and ")
}

// secretDegradation is the Degraded reason and message for the pass's
// Secret problems: SecretNotFound when any Secret is missing, else
// SecretKeyMissing.
func secretDegradation(problems []secretProblem) (reason, message string) {
	reason = v1alpha1.ReasonSecretKeyMissing
	messages := make([]string, len(problems))
	for i, p := range problems {
		if p.missing {
			reason = v1alpha1.ReasonSecretNotFound
		}
		messages[i] = p.message
	}
	return reason, strings.Join(messages, "; ") +
		". The collector keeps its current configuration until then, because a pod cannot start without its Secret volumes"
}

// observeHeldBack reads the shards' Deployments and the ConfigMap that a
// missing Secret holds back, without touching them, so that the status
// tells whether the collector that keeps running is available and which
// config it applies.
func (r *SpanSinkReconciler) observeHeldBack(ctx context.Context, sink *v1alpha1.SpanSink, desired manifests.Desired, obs *observation) error {
	for i, shard := range desired.Shards {
		deploy := &appsv1.Deployment{}
		if found, err := r.getControlled(ctx, sink, shard.Deployment, deploy); err != nil {
			return err
		} else if found {
			obs.shards[i].deployment = deploy
		}
	}
	cm := &corev1.ConfigMap{}
	if found, err := r.getControlled(ctx, sink, desired.ConfigMap, cm); err != nil {
		return err
	} else if found {
		obs.configMap = cm
	}
	return nil
}

// getControlled reads the child named like desired into live from the
// cache, and reports whether it is there and controlled by sink.
func (r *SpanSinkReconciler) getControlled(ctx context.Context, sink *v1alpha1.SpanSink, desired, live client.Object) (bool, error) {
	err := r.Get(ctx, client.ObjectKeyFromObject(desired), live)
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("get %s %s: %w", desired.GetObjectKind().GroupVersionKind().Kind, desired.GetName(), err)
	}
	return controlledBy(live, sink, false), nil
}
