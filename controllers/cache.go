package controllers

import (
	"github.com/spansink/spansink/controllers/manifests"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
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
func CacheOptions() cache.Options {
	managed := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{
		manifests.LabelManagedBy: manifests.ManagedByValue,
	})}
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
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
