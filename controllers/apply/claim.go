package apply

import corev1 "k8s.io/api/core/v1"

// Claims keep their requested size, and only upward: a claim's class and
// access modes are immutable (the CRD refuses to change them), and a claim
// cannot shrink. A claim without a controller that carries the owner's
// labels is adopted: a Retain policy left it behind.
var Claims = Kind[*corev1.PersistentVolumeClaim]{
	Name:      "PersistentVolumeClaim",
	New:       func() *corev1.PersistentVolumeClaim { return &corev1.PersistentVolumeClaim{} },
	Adoptable: true,
	Synced:    claimSynced,
	Mutate:    mutateClaim,
}

func claimSynced(live, desired *corev1.PersistentVolumeClaim) bool {
	have := live.Spec.Resources.Requests[corev1.ResourceStorage]
	want := desired.Spec.Resources.Requests[corev1.ResourceStorage]
	return have.Cmp(want) >= 0
}

func mutateClaim(live, desired *corev1.PersistentVolumeClaim) {
	if live.Spec.Resources.Requests == nil {
		live.Spec.Resources.Requests = corev1.ResourceList{}
	}
	live.Spec.Resources.Requests[corev1.ResourceStorage] = desired.Spec.Resources.Requests[corev1.ResourceStorage]
}
