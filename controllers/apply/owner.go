package apply

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Owner is the object whose children Ensure keeps.
type Owner struct {
	// UID is the owner's, as its children's owner references name it.
	UID types.UID
	// AdoptionLabels are the labels an adoptable child without a controller
	// must carry for the owner to take it over: its own labels, which a
	// child left behind by an earlier owner of the same name still carries.
	AdoptionLabels map[string]string
}

// Controls reports whether obj belongs to the owner: it names the owner as
// its controller or, when adoptable, it has no controller and carries every
// adoption label.
func (o Owner) Controls(obj client.Object, adoptable bool) bool {
	if ref := metav1.GetControllerOf(obj); ref != nil {
		return ref.UID == o.UID
	}
	if !adoptable || len(o.AdoptionLabels) == 0 {
		return false
	}
	labels := obj.GetLabels()
	for key, value := range o.AdoptionLabels {
		if labels[key] != value {
			return false
		}
	}
	return true
}

// owns reports whether obj has an owner reference to the owner, controller
// or not.
func (o Owner) owns(obj client.Object) bool {
	for _, ref := range obj.GetOwnerReferences() {
		if ref.UID == o.UID {
			return true
		}
	}
	return false
}
