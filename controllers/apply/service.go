package apply

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
)

// Services keep their type, selector and ports. Only these: the cluster IP
// and its relatives are assigned by the API server and cannot be cleared.
var Services = Kind[*corev1.Service]{
	Name:   "Service",
	New:    func() *corev1.Service { return &corev1.Service{} },
	Synced: serviceSynced,
	Mutate: mutateService,
}

func serviceSynced(live, desired *corev1.Service) bool {
	return live.Spec.Type == desired.Spec.Type &&
		maps.Equal(live.Spec.Selector, desired.Spec.Selector) &&
		subsetOf(desired.Spec.Ports, live.Spec.Ports)
}

func mutateService(live, desired *corev1.Service) {
	live.Spec.Type, live.Spec.Selector, live.Spec.Ports = desired.Spec.Type, desired.Spec.Selector, desired.Spec.Ports
}
