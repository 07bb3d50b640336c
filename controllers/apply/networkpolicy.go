package apply

import (
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// NetworkPolicies keep their whole spec, unlike the other kinds: the
// operator owns every field of it, and a peer it stops admitting must go.
// A subset check would keep a removed selector, and so admit what the
// SpanSink no longer does. The API server defaults only the fields the
// builder sets itself (policyTypes, each port's protocol).
var NetworkPolicies = Kind[*networkingv1.NetworkPolicy]{
	Name:   "NetworkPolicy",
	New:    func() *networkingv1.NetworkPolicy { return &networkingv1.NetworkPolicy{} },
	Synced: networkPolicySynced,
	Mutate: mutateNetworkPolicy,
}

func networkPolicySynced(live, desired *networkingv1.NetworkPolicy) bool {
	return equality.Semantic.DeepEqual(live.Spec, desired.Spec)
}

func mutateNetworkPolicy(live, desired *networkingv1.NetworkPolicy) {
	live.Spec = *desired.Spec.DeepCopy()
}
