package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/controllers/apply"
	"github.com/spansink/spansink/controllers/manifests"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// The Prometheus Operator may be installed before the spansink operator,
// after it, or never. So its kinds are not watched from the start: a watch
// on a kind the API server does not serve never syncs, and the manager
// would not start. Instead the operator watches the metadata of
// CustomResourceDefinitions; when the monitoring.coreos.com ones appear it
// requeues the SpanSinks that ask for monitoring, and the first pass that
// finds them present starts the watches on PodMonitors and PrometheusRules
// (monitoringWatches), so a child someone deletes or edits is put back.

// MonitoringRecheck is how soon a SpanSink whose monitoring CRD exists but
// is not served yet (just created, not yet established) is looked at again.
const MonitoringRecheck = 5 * time.Second

// crdGVK is the kind whose metadata the operator watches.
var crdGVK = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}

// monitoringKind is one Prometheus Operator kind the operator creates.
type monitoringKind struct {
	// name is the kind, as messages name it.
	name string
	// crd is the name of its CustomResourceDefinition.
	crd string
	// object is an empty object of the kind, for watches.
	object client.Object
}

var (
	podMonitorKind     = monitoringKind{name: monitoringv1.PodMonitorsKind, crd: monitoringv1.PodMonitorName + "." + monitoringv1.SchemeGroupVersion.Group, object: &monitoringv1.PodMonitor{}}
	prometheusRuleKind = monitoringKind{name: monitoringv1.PrometheusRuleKind, crd: monitoringv1.PrometheusRuleName + "." + monitoringv1.SchemeGroupVersion.Group, object: &monitoringv1.PrometheusRule{}}
)

// monitoringObservation is what a pass learned about spec.monitoring.
type monitoringObservation struct {
	// observed is true once the pass got as far as the monitoring children.
	observed bool
	// notInstalled names the CRDs the spec needs that the cluster lacks.
	notInstalled []string
	// conflicts name the monitoring children held by foreign objects.
	conflicts []string
}

// monitoringWatches starts the watches on the monitoring kinds once each,
// after the manager has started.
type monitoringWatches struct {
	mu      sync.Mutex
	started map[string]bool
	// start starts one watch and waits until it delivers events; nil
	// until SetupWithManager sets it.
	start func(ctx context.Context, kind monitoringKind) error
}

// ensure starts the watch on kind unless it runs already. A watch whose
// start failed to sync is not started again (its source keeps trying on
// its own), but the pass fails, so that it is retried.
func (w *monitoringWatches) ensure(ctx context.Context, kind monitoringKind) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started[kind.name] || w.start == nil {
		return nil
	}
	if w.started == nil {
		w.started = map[string]bool{}
	}
	err := w.start(ctx, kind)
	w.started[kind.name] = err == nil || !errors.Is(err, errWatchNotStarted)
	if err != nil {
		return fmt.Errorf("watch %ss: %w", kind.name, err)
	}
	return nil
}

// errWatchNotStarted is a start that left no watch behind.
var errWatchNotStarted = errors.New("the watch did not start")

// ensureMonitoring creates, updates or deletes the PodMonitor and the
// PrometheusRule as spec.monitoring says, where the cluster has their CRDs.
//
// A SpanSink that has never asked for monitoring (it has no
// MonitoringReady condition) cannot have such children, so its pass skips
// them: in a cluster where no SpanSink asks, the operator never caches the
// cluster's PodMonitors and PrometheusRules, which a kube-prometheus-stack
// makes many of.
func (r *SpanSinkReconciler) ensureMonitoring(ctx context.Context, sink *v1alpha1.SpanSink, desired manifests.Desired, obs *observation) error {
	hadMonitoring := meta.FindStatusCondition(sink.Status.Conditions, v1alpha1.ConditionMonitoringReady) != nil
	if err := ensureMonitoringChild(ctx, r, sink, obs, podMonitorKind, apply.PodMonitors, desired.PodMonitor, hadMonitoring); err != nil {
		return err
	}
	if err := ensureMonitoringChild(ctx, r, sink, obs, prometheusRuleKind, apply.PrometheusRules, desired.PrometheusRule, hadMonitoring); err != nil {
		return err
	}
	// Only now: a pass that failed to delete a child keeps the condition,
	// and so tries again.
	obs.monitoring.observed = true
	return nil
}

// ensureMonitoringChild keeps one monitoring child, or removes it when
// desired is nil and the SpanSink may have one. Without the kind's CRD
// there is nothing to remove, and a wanted child is noted as not installed.
func ensureMonitoringChild[T client.Object](ctx context.Context, r *SpanSinkReconciler, sink *v1alpha1.SpanSink, obs *observation,
	kind monitoringKind, applyKind apply.Kind[T], desired T, mayHaveOne bool) error {
	wanted := !isNil(desired)
	if !wanted && !mayHaveOne {
		return nil
	}
	installed, err := r.crdInstalled(ctx, kind.crd)
	if err != nil {
		return err
	}
	if installed {
		installed, err = r.kindServed(kind)
		if err != nil {
			return err
		}
		if !installed {
			// The CRD exists but the API server does not serve it yet.
			obs.recheckAfter = sooner(obs.recheckAfter, MonitoringRecheck)
		}
	}
	if !installed {
		if wanted {
			obs.monitoring.notInstalled = append(obs.monitoring.notInstalled, kind.crd)
		}
		return nil
	}
	if err := r.monitoringWatches.ensure(ctx, kind); err != nil {
		return err
	}
	if !wanted {
		return removeMonitoringChild(ctx, r, sink, applyKind)
	}
	result, err := ensureChild(ctx, r, sink, obs, applyKind, desired)
	if err != nil {
		return err
	}
	if !result.Ours() {
		obs.monitoring.conflicts = append(obs.monitoring.conflicts, kind.name+" "+desired.GetName())
	}
	return nil
}

// isNil reports whether a builder returned no object.
func isNil[T client.Object](obj T) bool {
	var zero T
	return any(obj) == any(zero)
}

// crdInstalled reports whether the cluster has the CRD, from the cache of
// CRD metadata.
func (r *SpanSinkReconciler) crdInstalled(ctx context.Context, name string) (bool, error) {
	crd := &metav1.PartialObjectMetadata{}
	crd.SetGroupVersionKind(crdGVK)
	err := r.Get(ctx, client.ObjectKey{Name: name}, crd)
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("get CustomResourceDefinition %s: %w", name, err)
	}
	return crd.DeletionTimestamp.IsZero(), nil
}

// kindServed reports whether the API server serves kind, as the client's
// REST mapper sees it. Until it does, the kind's watch is not started: its
// source would fail to find the kind and try again only ten seconds later,
// and a child deleted meanwhile would not be put back until a resync.
func (r *SpanSinkReconciler) kindServed(kind monitoringKind) (bool, error) {
	gk := schema.GroupKind{Group: monitoringv1.SchemeGroupVersion.Group, Kind: kind.name}
	_, err := r.RESTMapper().RESTMapping(gk, monitoringv1.SchemeGroupVersion.Version)
	switch {
	case meta.IsNoMatchError(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("map %s: %w", gk, err)
	}
	return true, nil
}

// removeMonitoringChild deletes the SpanSink's child of kind once the
// spec no longer asks for it. It reads from the cache, so a SpanSink that
// never had one costs no request; an object under the name that the
// SpanSink does not control is left alone.
func removeMonitoringChild[T client.Object](ctx context.Context, r *SpanSinkReconciler, sink *v1alpha1.SpanSink, kind apply.Kind[T]) error {
	name := manifests.CollectorName(sink)
	child := kind.New()
	err := r.Get(ctx, client.ObjectKey{Namespace: sink.Namespace, Name: name}, child)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %s %s: %w", kind.Name, name, err)
	}
	if !controlledBy(child, sink, false) {
		return nil
	}
	uid := child.GetUID()
	if err := r.Delete(ctx, child, client.Preconditions{UID: &uid}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete %s %s: %w", kind.Name, name, err)
	}
	logf.FromContext(ctx).Info("deleted child", "kind", kind.Name, "name", name)
	r.event(sink, child, corev1.EventTypeNormal, "Deleted", "Delete", "Deleted %s %s: spec.monitoring no longer asks for it", kind.Name, name)
	return nil
}

// setMonitoringCondition sets MonitoringReady when spec.monitoring asks
// for anything, and removes it once nothing is asked for and the children
// are gone. A pass that did not get through the monitoring children leaves
// the condition as it was.
func setMonitoringCondition(sink *v1alpha1.SpanSink, status *v1alpha1.SpanSinkStatus, obs *observation, set func(condType string, state metav1.ConditionStatus, reason, message string)) {
	wanted := wantedMonitoring(sink)
	switch {
	case !obs.monitoring.observed:
	case len(wanted) == 0:
		meta.RemoveStatusCondition(&status.Conditions, v1alpha1.ConditionMonitoringReady)
	case len(obs.monitoring.notInstalled) > 0:
		set(v1alpha1.ConditionMonitoringReady, metav1.ConditionFalse, v1alpha1.ReasonPrometheusOperatorNotInstalled, fmt.Sprintf(
			"spec.monitoring asks for a %s, but the cluster has no CustomResourceDefinition %s: install the Prometheus Operator (or its CRDs) and the operator creates them, without a restart",
			strings.Join(wanted, " and a "), strings.Join(obs.monitoring.notInstalled, ", ")))
	case len(obs.monitoring.conflicts) > 0:
		verb := "is"
		if len(obs.monitoring.conflicts) > 1 {
			verb = "are"
		}
		set(v1alpha1.ConditionMonitoringReady, metav1.ConditionFalse, v1alpha1.ReasonChildConflict, fmt.Sprintf(
			"%s %s held by an object this SpanSink does not control; the operator leaves it alone", strings.Join(obs.monitoring.conflicts, " and "), verb))
	default:
		verb := "is"
		if len(wanted) > 1 {
			verb = "are"
		}
		set(v1alpha1.ConditionMonitoringReady, metav1.ConditionTrue, v1alpha1.ReasonMonitoringCreated, fmt.Sprintf(
			"The %s %s in place", strings.Join(wanted, " and the "), verb))
	}
}

// wantedMonitoring names the kinds spec.monitoring asks for.
func wantedMonitoring(sink *v1alpha1.SpanSink) []string {
	var kinds []string
	if sink.Spec.Monitoring.PodMonitor.Enabled {
		kinds = append(kinds, podMonitorKind.name)
	}
	if sink.Spec.Monitoring.Rules.Enabled {
		kinds = append(kinds, prometheusRuleKind.name)
	}
	return kinds
}

// sinksWantingMonitoring maps a monitoring CRD's creation or change to
// every SpanSink that asks for monitoring, from the cache.
func (r *SpanSinkReconciler) sinksWantingMonitoring(ctx context.Context, crd client.Object) []reconcile.Request {
	var sinks v1alpha1.SpanSinkList
	if err := r.List(ctx, &sinks); err != nil {
		logf.FromContext(ctx).Error(err, "list SpanSinks for a monitoring CRD", "crd", crd.GetName())
		return nil
	}
	var requests []reconcile.Request
	for i := range sinks.Items {
		if len(wantedMonitoring(&sinks.Items[i])) > 0 {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&sinks.Items[i])})
		}
	}
	return requests
}

// isMonitoringCRD selects the CRDs of the kinds the operator creates.
var isMonitoringCRD = predicate.NewPredicateFuncs(func(obj client.Object) bool {
	return obj.GetName() == podMonitorKind.crd || obj.GetName() == prometheusRuleKind.crd
})

// crdMetadata is an empty CRD as its metadata, for the CRD watch.
func crdMetadata() *metav1.PartialObjectMetadata {
	crd := &metav1.PartialObjectMetadata{}
	crd.SetGroupVersionKind(crdGVK)
	return crd
}

// monitoringWatchStarter starts, on the running controller, the watch a
// monitoring kind's children need: each enqueues its controlling SpanSink,
// as Owns does for the other kinds.
//
// Watch on a running controller returns before the source has added its
// handler to the informer; it waits for that, so that a child deleted
// after the pass that started the watch is seen.
func monitoringWatchStarter(mgr ctrl.Manager, c controller.Controller) func(ctx context.Context, kind monitoringKind) error {
	return func(ctx context.Context, kind monitoringKind) error {
		src := source.Kind(mgr.GetCache(), kind.object,
			handler.EnqueueRequestForOwner(mgr.GetScheme(), mgr.GetRESTMapper(), &v1alpha1.SpanSink{}, handler.OnlyControllerOwner()))
		if err := c.Watch(src); err != nil {
			return errors.Join(errWatchNotStarted, err)
		}
		ctx, cancel := context.WithTimeout(ctx, monitoringWatchSync)
		defer cancel()
		return src.WaitForSync(ctx)
	}
}

// monitoringWatchSync bounds the wait for a new monitoring watch; the kind
// is served by then (kindServed), so its informer needs one list.
const monitoringWatchSync = 30 * time.Second
