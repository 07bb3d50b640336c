package apply

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
)

// ConfigMaps keep their data exactly: the operator renders all of it, and
// a key it stops writing must go.
var ConfigMaps = Kind[*corev1.ConfigMap]{
	Name:   "ConfigMap",
	New:    func() *corev1.ConfigMap { return &corev1.ConfigMap{} },
	Synced: configMapSynced,
	Mutate: mutateConfigMap,
}

func configMapSynced(live, desired *corev1.ConfigMap) bool {
	return maps.Equal(live.Data, desired.Data)
}

func mutateConfigMap(live, desired *corev1.ConfigMap) {
	live.Data = desired.Data
}
