package apply

import (
	"context"
	"fmt"
	"maps"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// Kind is how Ensure keeps one kind of child; T is a pointer to its API
// type. Synced and Mutate look only at the fields the operator sets, so
// that defaults the API server fills in, and fields other controllers own,
// never cause a write.
type Kind[T client.Object] struct {
	// Name is the kind as messages and Events name it ("ConfigMap").
	Name string
	// New is an empty object to read the live child into.
	New func() T
	// Adoptable children are taken over without a controller reference when
	// they carry the owner's adoption labels: the claim a Retain policy left
	// behind.
	Adoptable bool
	// Synced reports whether live already holds what desired sets.
	Synced func(live, desired T) bool
	// Mutate copies what desired sets onto live.
	Mutate func(live, desired T)
}

// Clients are what Ensure reads and writes with.
type Clients struct {
	// Client reads from the cache and writes to the API server.
	client.Client
	// Uncached reads from the API server what the cache does not hold: the
	// cache may hold only objects with the operator's labels, so a foreign
	// object under a child's name is invisible to Client.
	Uncached client.Reader
}

// Action is what Ensure did to a child.
type Action int

const (
	// Unchanged: the child already matched.
	Unchanged Action = iota
	// MetadataUpdated: only labels, annotations or owner references were
	// written; the spec already matched.
	MetadataUpdated
	// Created: the child did not exist and was created.
	Created
	// Updated: the child's spec was written (its metadata maybe too).
	Updated
	// Conflict: the name is held by an object the owner does not control,
	// which was left untouched.
	Conflict
)

// Result is the outcome of Ensure for one child.
type Result[T client.Object] struct {
	// Live is the child as it is now; the zero T on a Conflict.
	Live T
	// Action is what Ensure did.
	Action Action
}

// Ours reports whether the child belongs to the owner (no Conflict).
func (r Result[T]) Ours() bool { return r.Action != Conflict }

// Ensure makes one child match desired, as kind says. A child that already
// matches costs no write. An object under the child's name that the owner
// does not control is left untouched and reported as a Conflict.
//
// A refused spec update of a child that is otherwise ours is a
// *SpecUpdateError, returned with the child as it was read in Live: the
// caller decides whether the child is usable as it is (a claim that cannot
// grow yet still holds the spans).
func Ensure[T client.Object](ctx context.Context, c Clients, owner Owner, kind Kind[T], desired T) (Result[T], error) {
	log := logf.FromContext(ctx).WithValues("kind", kind.Name, "name", desired.GetName())
	key := client.ObjectKeyFromObject(desired)
	live := kind.New()
	err := c.Get(ctx, key, live)
	if apierrors.IsNotFound(err) {
		err = c.Create(ctx, desired)
		if err == nil {
			log.Info("created child")
			return Result[T]{Live: desired, Action: Created}, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return Result[T]{}, fmt.Errorf("create %s %s: %w", kind.Name, desired.GetName(), err)
		}
		// The cache did not hold it, but it is there all the same: read it
		// from the API server and judge it like any other, or every pass
		// would retry the create.
		live = kind.New()
		err = c.Uncached.Get(ctx, key, live)
	}
	if err != nil {
		return Result[T]{}, fmt.Errorf("get %s %s: %w", kind.Name, desired.GetName(), err)
	}
	if !owner.Controls(live, kind.Adoptable) {
		return Result[T]{Action: Conflict}, nil
	}

	action := Unchanged
	// Metadata and spec are written separately: the API server may refuse a
	// spec change (a claim that cannot grow yet) and that must not hold back
	// labels or owner references.
	if !metadataSynced(live, desired, owner) {
		updated := live.DeepCopyObject().(T)
		mutateMetadata(updated, desired, owner)
		if err := c.Update(ctx, updated); err != nil {
			return Result[T]{}, fmt.Errorf("update metadata of %s %s: %w", kind.Name, desired.GetName(), err)
		}
		log.Info("updated child metadata")
		live, action = updated, MetadataUpdated
	}
	if kind.Synced(live, desired) {
		return Result[T]{Live: live, Action: action}, nil
	}
	updated := live.DeepCopyObject().(T)
	kind.Mutate(updated, desired)
	if err := c.Update(ctx, updated); err != nil {
		return Result[T]{Live: live, Action: action}, &SpecUpdateError{Kind: kind.Name, Name: desired.GetName(), Err: err}
	}
	log.Info("updated child")
	return Result[T]{Live: updated, Action: Updated}, nil
}

// SpecUpdateError is a refused spec update of a child that is otherwise
// the owner's.
type SpecUpdateError struct {
	// Kind and Name say which child.
	Kind, Name string
	// Err is the API server's answer.
	Err error
}

func (e *SpecUpdateError) Error() string {
	return fmt.Sprintf("update %s %s: %v", e.Kind, e.Name, e.Err)
}

func (e *SpecUpdateError) Unwrap() error { return e.Err }

// metadataSynced reports whether live carries desired's labels and
// annotations, and is owned by owner exactly when desired says so.
func metadataSynced(live, desired client.Object, owner Owner) bool {
	return subsetOf(desired.GetLabels(), live.GetLabels()) &&
		subsetOf(metadataAnnotations(desired), live.GetAnnotations()) &&
		owner.owns(live) == owner.owns(desired)
}

// mutateMetadata adds desired's labels and annotations to live, keeping
// other writers' keys, and sets owner's reference as desired has it,
// keeping other owners' references.
func mutateMetadata(live, desired client.Object, owner Owner) {
	live.SetLabels(mergeMaps(live.GetLabels(), desired.GetLabels()))
	live.SetAnnotations(mergeMaps(live.GetAnnotations(), metadataAnnotations(desired)))
	var refs []metav1.OwnerReference
	for _, ref := range live.GetOwnerReferences() {
		if ref.UID != owner.UID {
			refs = append(refs, ref)
		}
	}
	for _, ref := range desired.GetOwnerReferences() {
		if ref.UID == owner.UID {
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

// mergeMaps is base with overlay's keys written over it.
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
