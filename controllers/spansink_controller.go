// Package controllers holds the SpanSink reconciler: it turns each SpanSink
// into running collector shards (a ServiceAccount and ConfigMap they share,
// a Deployment and PersistentVolumeClaim per shard, a Service and a headless
// Service, a PodDisruptionBudget from two shards on and, when asked, a
// NetworkPolicy) and reports how that is going in the status.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/controllers/manifests"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// DefaultBlockedRetry is how often a SpanSink blocked by a foreign object
// (or a missing existing claim) is looked at again: the operator does not
// watch objects it does not own, so it polls for the way being cleared.
const DefaultBlockedRetry = 30 * time.Second

// SpanSinkReconciler reconciles SpanSink objects.
type SpanSinkReconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	client.Client
	// Recorder emits Events on the SpanSink.
	Recorder events.EventRecorder
	// CollectorImage is the image used when a SpanSink names none.
	CollectorImage string
	// BlockedRetry overrides DefaultBlockedRetry when positive.
	BlockedRetry time.Duration
	// APIReader reads straight from the API server what the cache does not
	// hold (see CacheOptions): objects without the operator's labels under
	// a child's name, the user's existing claim, the Secrets it names.
	// SetupWithManager sets it to the manager's when nil; a reconciler used
	// without a manager falls back to Client.
	APIReader client.Reader
	// CollectorStatus asks collector pods which config they apply; nil
	// means HTTPCollectorStatus on the metrics port.
	CollectorStatus CollectorStatusReader
	// ConfigRecheck overrides DefaultConfigRecheck when positive.
	ConfigRecheck time.Duration
	// OperatorNamespace is where the operator runs (POD_NAMESPACE), empty
	// outside a cluster; NetworkPolicies admit it to the metrics port.
	OperatorNamespace string

	// monitoringWatches are the watches on the Prometheus Operator's kinds,
	// started once their CRDs exist (see monitoring.go).
	monitoringWatches monitoringWatches
}

// apiReader is the uncached reader.
func (r *SpanSinkReconciler) apiReader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}

// Reconcile brings one SpanSink's children to the desired state and writes
// its status once, at the end.
func (r *SpanSinkReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	sink := &v1alpha1.SpanSink{}
	if err := r.Get(ctx, req.NamespacedName, sink); err != nil {
		// Deleted: its children go with it through their owner references.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !sink.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}

	obs := observation{}
	desired, err := manifests.Build(manifests.Params{Sink: sink, DefaultImage: r.CollectorImage, OperatorNamespace: r.OperatorNamespace})
	if err != nil {
		obs.invalidSpec = err
	} else {
		obs.err = r.ensureChildren(ctx, sink, desired, &obs)
	}
	if obs.err == nil {
		obs.err = r.observePods(ctx, sink, &obs)
	}
	if obs.err == nil {
		now := time.Now()
		r.observeCollectorHealth(&obs, now)
		r.observeShardsDown(&obs, now)
		obs.err = r.observeClaim(ctx, sink, &obs)
	}
	if obs.err == nil {
		obs.err = r.observeConfigApplied(ctx, sink, &obs)
	}
	if isTransient(obs.err) {
		// Someone changed a child between our read and write; the next pass
		// reads the new version. Not worth a Degraded condition.
		return ctrl.Result{}, obs.err
	}

	if err := r.updateStatus(ctx, sink, &obs); err != nil {
		return ctrl.Result{}, errors.Join(obs.err, err)
	}
	if obs.err != nil {
		return ctrl.Result{}, obs.err
	}
	if obs.blocked() {
		logf.FromContext(ctx).Info("waiting for a blocked child",
			"conflicts", obs.conflicts, "claimMissing", obs.claimMissing, "resizeRefused", obs.resizeRefused,
			"claimPending", obs.claimWait != nil, "secretProblems", len(obs.secretProblems))
		return ctrl.Result{RequeueAfter: jittered(blockedWait(r.blockedRetry(), &obs, time.Now()), rand.Float64())}, nil
	}
	// A collector that is not ready yet gets the time to become so, and
	// one that applies an older config the time to load the new one; no
	// event says when that time is up.
	return ctrl.Result{RequeueAfter: sooner(sooner(obs.recheckAfter, r.configRecheckAfter(&obs)), r.uploadRecheckAfter(sink))}, nil
}

// uploadRecheckAfter is how often the collectors of a SpanSink with an
// object store are asked how their uploads go: nothing the operator
// watches changes when the store fails or comes back.
func (r *SpanSinkReconciler) uploadRecheckAfter(sink *v1alpha1.SpanSink) time.Duration {
	if sink.Spec.Storage.ObjectStore == nil {
		return 0
	}
	return jittered(r.blockedRetry(), rand.Float64())
}

// sooner is the shorter of two waits, zero meaning none.
func sooner(a, b time.Duration) time.Duration {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

func (r *SpanSinkReconciler) blockedRetry() time.Duration {
	if r.BlockedRetry > 0 {
		return r.BlockedRetry
	}
	return DefaultBlockedRetry
}

// isTransient reports errors that a retry resolves by itself.
func isTransient(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
}

// SetupWithManager registers the reconciler, watching SpanSinks, every
// kind of child they own, and their collector pods (owned by the
// Deployment's ReplicaSet, so matched by label): a pod that turns ready or
// is replaced changes which config runs. The Prometheus Operator's kinds are
// watched only once their CRDs appear (see monitoring.go).
func (r *SpanSinkReconciler) SetupWithManager(mgr ctrl.Manager, maxConcurrentReconciles int) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if err := indexEvents(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return fmt.Errorf("index Events by object: %w", err)
	}
	c, err := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.SpanSink{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.PersistentVolumeClaim{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(collectorPodSink)).
		WatchesMetadata(crdMetadata(), handler.EnqueueRequestsFromMapFunc(r.sinksWantingMonitoring), builder.WithPredicates(isMonitoringCRD)).
		WithOptions(controller.Options{MaxConcurrentReconciles: maxConcurrentReconciles}).
		Named("spansink").
		Build(r)
	if err != nil {
		return err
	}
	r.monitoringWatches.start = monitoringWatchStarter(mgr, c)
	return nil
}
