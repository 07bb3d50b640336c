package apply

import (
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// PodDisruptionBudgets keep their spec as the builder makes it: a
// maxUnavailable over the selector, and no minAvailable beside it (the API
// refuses both).
var PodDisruptionBudgets = Kind[*policyv1.PodDisruptionBudget]{
	Name:   "PodDisruptionBudget",
	New:    func() *policyv1.PodDisruptionBudget { return &policyv1.PodDisruptionBudget{} },
	Synced: podDisruptionBudgetSynced,
	Mutate: mutatePodDisruptionBudget,
}

func podDisruptionBudgetSynced(live, desired *policyv1.PodDisruptionBudget) bool {
	return equality.Semantic.DeepEqual(live.Spec.MaxUnavailable, desired.Spec.MaxUnavailable) &&
		equality.Semantic.DeepEqual(live.Spec.Selector, desired.Spec.Selector) &&
		live.Spec.MinAvailable == nil
}

func mutatePodDisruptionBudget(live, desired *policyv1.PodDisruptionBudget) {
	live.Spec.MaxUnavailable, live.Spec.Selector, live.Spec.MinAvailable = desired.Spec.MaxUnavailable, desired.Spec.Selector, nil
}
