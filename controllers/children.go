package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/controllers/manifests"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// SpecHashAnnotation on the Deployment records the hash of the spec the
// operator last wrote. The operator compares live objects only with the
// fields it sets, so a field it stops setting (a removed nodeSelector, say)
// would otherwise go unnoticed.
const SpecHashAnnotation = "tracing.spansink.dev/spec-sha256"

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
	// err is the first API error of the pass.
	err error
}

// blocked reports whether the pass waits for something no watched object
// announces: a foreign object or a missing existing claim going away, a
// claim becoming able to grow, a Pending claim's provisioner failing or its
// StorageClass being created, a named Secret being created or completed
// (Secrets are not watched). Such a SpanSink is polled.
func (o *observation) blocked() bool {
	return len(o.conflicts) > 0 || o.claimMissing || o.resizeRefused || o.claimWait != nil || len(o.secretProblems) > 0
}

// kind says how to reconcile one kind of child. Only the fields the operator
// sets are compared, so that defaults the API server fills in, and fields
// other controllers own, never cause a write.
type kind struct {
	name      string
	newObject func() client.Object
	// adoptable children are taken over without a controller reference when
	// they carry this SpanSink's labels: the claim a Retain policy left behind.
	adoptable bool
	// synced reports whether live already has what desired sets.
	synced func(live, desired client.Object) bool
	// sync copies what desired sets onto live.
	sync func(live, desired client.Object)
}

var (
	serviceAccountKind = kind{
		name:      "ServiceAccount",
		newObject: func() client.Object { return &corev1.ServiceAccount{} },
		synced: func(live, desired client.Object) bool {
			return equalBoolPtr(live.(*corev1.ServiceAccount).AutomountServiceAccountToken, desired.(*corev1.ServiceAccount).AutomountServiceAccountToken)
		},
		sync: func(live, desired client.Object) {
			live.(*corev1.ServiceAccount).AutomountServiceAccountToken = desired.(*corev1.ServiceAccount).AutomountServiceAccountToken
		},
	}
	configMapKind = kind{
		name:      "ConfigMap",
		newObject: func() client.Object { return &corev1.ConfigMap{} },
		synced: func(live, desired client.Object) bool {
			return maps.Equal(live.(*corev1.ConfigMap).Data, desired.(*corev1.ConfigMap).Data)
		},
		sync: func(live, desired client.Object) {
			live.(*corev1.ConfigMap).Data = desired.(*corev1.ConfigMap).Data
		},
	}
	claimKind = kind{
		name:      "PersistentVolumeClaim",
		newObject: func() client.Object { return &corev1.PersistentVolumeClaim{} },
		adoptable: true,
		// A claim's class and access modes are immutable and the CRD refuses
		// to change them; only the requested size is kept up, and only upward.
		synced: func(live, desired client.Object) bool {
			have := live.(*corev1.PersistentVolumeClaim).Spec.Resources.Requests[corev1.ResourceStorage]
			want := desired.(*corev1.PersistentVolumeClaim).Spec.Resources.Requests[corev1.ResourceStorage]
			return have.Cmp(want) >= 0
		},
		sync: func(live, desired client.Object) {
			l := live.(*corev1.PersistentVolumeClaim)
			if l.Spec.Resources.Requests == nil {
				l.Spec.Resources.Requests = corev1.ResourceList{}
			}
			l.Spec.Resources.Requests[corev1.ResourceStorage] = desired.(*corev1.PersistentVolumeClaim).Spec.Resources.Requests[corev1.ResourceStorage]
		},
	}
	serviceKind = kind{
		name:      "Service",
		newObject: func() client.Object { return &corev1.Service{} },
		synced: func(live, desired client.Object) bool {
			l, d := live.(*corev1.Service), desired.(*corev1.Service)
			return l.Spec.Type == d.Spec.Type && maps.Equal(l.Spec.Selector, d.Spec.Selector) && subsetOf(d.Spec.Ports, l.Spec.Ports)
		},
		// Only these fields: the cluster IP and its relatives are assigned by
		// the API server and cannot be cleared.
		sync: func(live, desired client.Object) {
			l, d := live.(*corev1.Service), desired.(*corev1.Service)
			l.Spec.Type, l.Spec.Selector, l.Spec.Ports = d.Spec.Type, d.Spec.Selector, d.Spec.Ports
		},
	}
	deploymentKind = kind{
		name:      "Deployment",
		newObject: func() client.Object { return &appsv1.Deployment{} },
		synced: func(live, desired client.Object) bool {
			l, d := live.(*appsv1.Deployment), desired.(*appsv1.Deployment)
			return l.Annotations[SpecHashAnnotation] == d.Annotations[SpecHashAnnotation] &&
				l.Annotations[PodTemplateKeysAnnotation] == d.Annotations[PodTemplateKeysAnnotation] &&
				subsetOf(d.Spec, l.Spec)
		},
		// The selector is left alone: it is immutable and never depends on the
		// spec. The pod template's labels and annotations are merged, not
		// replaced, so keys others set (kubectl rollout restart's restartedAt)
		// survive. The spec hash and template keys are written with the spec
		// they describe.
		sync: func(live, desired client.Object) {
			l, d := live.(*appsv1.Deployment), desired.(*appsv1.Deployment)
			l.Spec.Replicas, l.Spec.Strategy = d.Spec.Replicas, d.Spec.Strategy
			mergeTemplate(l, d)
			metav1.SetMetaDataAnnotation(&l.ObjectMeta, SpecHashAnnotation, d.Annotations[SpecHashAnnotation])
			metav1.SetMetaDataAnnotation(&l.ObjectMeta, PodTemplateKeysAnnotation, d.Annotations[PodTemplateKeysAnnotation])
		},
	}
)

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
	step := func(k kind, obj client.Object) (client.Object, bool, error) {
		live, conflict, err := r.ensure(ctx, sink, obs, k, obj)
		if conflict {
			obs.conflicts = append(obs.conflicts, k.name+" "+obj.GetName())
		}
		return live, live != nil, err
	}

	if _, ok, err := step(serviceAccountKind, desired.ServiceAccount); err != nil {
		return err
	} else if !ok {
		podInputsOK = false
	}
	if podInputsOK {
		if live, ok, err := step(configMapKind, desired.ConfigMap); err != nil {
			return err
		} else if !ok {
			podInputsOK = false
		} else {
			obs.configMap = live.(*corev1.ConfigMap)
		}
	}
	// The policy goes in before the pods, so a new collector never starts open.
	if desired.NetworkPolicy != nil {
		if _, _, err := step(networkPolicyKind, desired.NetworkPolicy); err != nil {
			return err
		}
	} else if err := r.removeNetworkPolicy(ctx, sink); err != nil {
		return err
	}
	claimsOK, err := r.ensureClaims(ctx, sink, desired, obs, step)
	if err != nil {
		return err
	}
	_, serviceOK, err := step(serviceKind, desired.Service)
	if err != nil {
		return err
	}
	obs.serviceReady = serviceOK
	if _, _, err := step(serviceKind, desired.HeadlessService); err != nil {
		return err
	}
	if desired.PodDisruptionBudget != nil {
		if _, _, err := step(podDisruptionBudgetKind, desired.PodDisruptionBudget); err != nil {
			return err
		}
	} else if err := r.removePodDisruptionBudget(ctx, sink); err != nil {
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
func (r *SpanSinkReconciler) ensureClaims(ctx context.Context, sink *v1alpha1.SpanSink, desired manifests.Desired, obs *observation,
	step func(kind, client.Object) (client.Object, bool, error)) ([]bool, error) {
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
		live, ok, err := step(claimKind, shard.Claim)
		var refused *specUpdateError
		if errors.As(err, &refused) && (apierrors.IsInvalid(err) || apierrors.IsForbidden(err)) {
			// The claim is ours and usable; it just cannot grow (yet).
			obs.resizeRefused = true
			ok, err = true, nil
		}
		if err != nil {
			return nil, err
		}
		if ok {
			obs.shards[i].claim = live.(*corev1.PersistentVolumeClaim)
		}
		claimsOK[i] = ok
	}
	return claimsOK, nil
}

// withSpecRecord is a copy of the desired Deployment annotated with the
// hash of its spec and the pod template keys it sets, which the next
// passes compare and merge by (see SpecHashAnnotation and
// PodTemplateKeysAnnotation).
func withSpecRecord(desired *appsv1.Deployment) (*appsv1.Deployment, error) {
	deploy := desired.DeepCopy()
	hash, err := specHash(deploy.Spec)
	if err != nil {
		return nil, err
	}
	metav1.SetMetaDataAnnotation(&deploy.ObjectMeta, SpecHashAnnotation, hash)
	keys, err := templateKeysOf(&deploy.Spec.Template)
	if err != nil {
		return nil, err
	}
	metav1.SetMetaDataAnnotation(&deploy.ObjectMeta, PodTemplateKeysAnnotation, keys)
	return deploy, nil
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

// ensure makes one child match desired. It returns the live object, or nil
// and conflict=true when the name is held by an object this SpanSink does
// not control, which it leaves untouched. A child that already matches costs
// no write.
func (r *SpanSinkReconciler) ensure(ctx context.Context, sink *v1alpha1.SpanSink, obs *observation, k kind, desired client.Object) (client.Object, bool, error) {
	log := logf.FromContext(ctx).WithValues("kind", k.name, "name", desired.GetName())
	live := k.newObject()
	err := r.Get(ctx, client.ObjectKeyFromObject(desired), live)
	if apierrors.IsNotFound(err) {
		err = r.Create(ctx, desired)
		if err == nil {
			log.Info("created child")
			obs.created = append(obs.created, k.name+" "+desired.GetName())
			return desired, false, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, false, fmt.Errorf("create %s %s: %w", k.name, desired.GetName(), err)
		}
		// The cache holds only objects with the operator's managed-by label
		// (see CacheOptions): one without it is there all the same. Read it
		// from the API server and judge it like any other, or the pass would
		// retry the create forever.
		live = k.newObject()
		err = r.apiReader().Get(ctx, client.ObjectKeyFromObject(desired), live)
	}
	if err != nil {
		return nil, false, fmt.Errorf("get %s %s: %w", k.name, desired.GetName(), err)
	}
	if !controlledBy(live, sink, k.adoptable) {
		return nil, true, nil
	}
	// Metadata and spec are written separately: the API server may refuse a
	// spec change (a claim that cannot grow yet) and that must not hold back
	// labels or owner references.
	if !metadataSynced(live, desired, sink) {
		updated := live.DeepCopyObject().(client.Object)
		syncMetadata(updated, desired, sink)
		if err := r.Update(ctx, updated); err != nil {
			return nil, false, fmt.Errorf("update metadata of %s %s: %w", k.name, desired.GetName(), err)
		}
		log.Info("updated child metadata")
		live = updated
	}
	if k.synced(live, desired) {
		return live, false, nil
	}
	updated := live.DeepCopyObject().(client.Object)
	k.sync(updated, desired)
	if err := r.Update(ctx, updated); err != nil {
		return live, false, &specUpdateError{kind: k.name, name: desired.GetName(), err: err}
	}
	log.Info("updated child")
	obs.updated = append(obs.updated, k.name+" "+desired.GetName())
	return updated, false, nil
}

// specUpdateError is a refused spec update of a child that is otherwise ours.
type specUpdateError struct {
	kind, name string
	err        error
}

func (e *specUpdateError) Error() string {
	return fmt.Sprintf("update %s %s: %v", e.kind, e.name, e.err)
}

func (e *specUpdateError) Unwrap() error { return e.err }

// controlledBy reports whether obj belongs to sink: it names sink as its
// controller or, for an adoptable kind, it has no controller and carries
// the labels this operator puts on sink's children.
func controlledBy(obj client.Object, sink *v1alpha1.SpanSink, adoptable bool) bool {
	if ref := metav1.GetControllerOf(obj); ref != nil {
		return ref.UID == sink.UID
	}
	labels := obj.GetLabels()
	return adoptable &&
		labels[manifests.LabelInstance] == sink.Name &&
		labels[manifests.LabelManagedBy] == manifests.ManagedByValue
}

// metadataSynced reports whether live carries desired's labels and
// annotations, and is owned by sink exactly when desired says so.
func metadataSynced(live, desired client.Object, sink *v1alpha1.SpanSink) bool {
	return subsetOf(desired.GetLabels(), live.GetLabels()) &&
		subsetOf(metadataAnnotations(desired), live.GetAnnotations()) &&
		ownedBy(live, sink) == ownedBy(desired, sink)
}

// syncMetadata adds desired's labels and annotations to live, keeping other
// writers' keys, and sets sink's owner reference as desired has it.
func syncMetadata(live, desired client.Object, sink *v1alpha1.SpanSink) {
	live.SetLabels(mergeMaps(live.GetLabels(), desired.GetLabels()))
	live.SetAnnotations(mergeMaps(live.GetAnnotations(), metadataAnnotations(desired)))
	var refs []metav1.OwnerReference
	for _, ref := range live.GetOwnerReferences() {
		if ref.UID != sink.UID {
			refs = append(refs, ref)
		}
	}
	for _, ref := range desired.GetOwnerReferences() {
		if ref.UID == sink.UID {
			refs = append(refs, ref)
		}
	}
	live.SetOwnerReferences(refs)
}

// metadataAnnotations are desired's annotations except the spec hash and
// the pod template keys, which belong to the spec update: written early,
// they would claim a spec the object does not have yet.
func metadataAnnotations(desired client.Object) map[string]string {
	annotations := desired.GetAnnotations()
	_, hasHash := annotations[SpecHashAnnotation]
	_, hasKeys := annotations[PodTemplateKeysAnnotation]
	if !hasHash && !hasKeys {
		return annotations
	}
	annotations = maps.Clone(annotations)
	delete(annotations, SpecHashAnnotation)
	delete(annotations, PodTemplateKeysAnnotation)
	return annotations
}

func ownedBy(obj client.Object, sink *v1alpha1.SpanSink) bool {
	for _, ref := range obj.GetOwnerReferences() {
		if ref.UID == sink.UID {
			return true
		}
	}
	return false
}

func mergeMaps(base, overlay map[string]string) map[string]string {
	if len(overlay) == 0 {
		return base
	}
	out := maps.Clone(base)
	if out == nil {
		out = make(map[string]string, len(overlay))
	}
	maps.Copy(out, overlay)
	return out
}

func equalBoolPtr(a, b *bool) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

// specHash is the SHA-256 of a spec's JSON form (maps are written with
// sorted keys, so equal specs hash equally).
func specHash(spec any) (string, error) {
	data, err := json.Marshal(spec)
	if err != nil {
		return "", fmt.Errorf("hash spec: %w", err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
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
		r.event(sink, nil, corev1.EventTypeNormal, "Created", "Create", "%s", childrenNote("Created", obs.created))
	}
	if len(obs.updated) > 0 {
		r.event(sink, nil, corev1.EventTypeNormal, "Updated", "Update", "%s", childrenNote("Updated", obs.updated))
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
