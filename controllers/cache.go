package controllers

import (
	"context"

	"github.com/spansink/spansink/controllers/manifests"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CacheOptions are the manager's cache settings; the operator and the test
// suite both use them, so the suite sees what production sees.
//
// The child kinds, and the collector pods, are cached only when they carry
// the managed-by label the builders put on every child and pod template.
// Without the selector the operator would hold every ConfigMap, Service,
// ServiceAccount, claim, Deployment, NetworkPolicy and PodDisruptionBudget
// of the cluster in memory. The price: an object under a child's name that
// lacks the label is invisible to the cached client, so the reconciler
// looks such names up with the uncached APIReader before it decides
// anything. Secrets are not cached at all (see checkSecrets).
//
// PodMonitors and PrometheusRules cannot be listed here: cache options for
// a kind the API server does not serve keep the manager from starting, and
// the Prometheus Operator may come later (see monitoring.go). They are
// cached whole once their CRDs exist; a cluster has few of them. The
// metadata of CRDs is cached too, to see those CRDs appear.
//
// StorageClasses (few, cluster-wide) and the Events of claims are cached
// too: while a claim is Pending each pass looks at its class and at the
// PersistentVolume controller's latest Event on it (observeClaim), and
// reading those from the API server cost two requests per Pending SpanSink
// per pass, thousands at a resync.
func CacheOptions() cache.Options {
	managed := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{
		manifests.LabelManagedBy: manifests.ManagedByValue,
	})}
	return cache.Options{
		// managedFields are a large share of every object and the operator
		// never reads them: a thousand SpanSinks' children hold tens of
		// megabytes of them.
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&storagev1.StorageClass{}:       {},
			&corev1.Event{}:                 {Field: fields.OneTermEqualSelector("involvedObject.kind", "PersistentVolumeClaim")},
			&corev1.ConfigMap{}:             managed,
			&corev1.Service{}:               managed,
			&corev1.ServiceAccount{}:        managed,
			&corev1.PersistentVolumeClaim{}: managed,
			&appsv1.Deployment{}:            managed,
			&networkingv1.NetworkPolicy{}:   managed,
			&policyv1.PodDisruptionBudget{}: managed,
			&corev1.Pod{}:                   managed,
		}}
}

// eventObjectUIDField indexes cached Events by the object they are about,
// so that a claim's Events are found without scanning every claim's.
const eventObjectUIDField = "involvedObject.uid"

// indexEvents registers eventObjectUIDField with the manager's cache. The
// name is also a field selector the API server knows, so a reconciler
// reading Events from the API server (no manager) lists them the same way.
func indexEvents(ctx context.Context, indexer client.FieldIndexer) error {
	return indexer.IndexField(ctx, &corev1.Event{}, eventObjectUIDField, func(obj client.Object) []string {
		return []string{string(obj.(*corev1.Event).InvolvedObject.UID)}
	})
}
