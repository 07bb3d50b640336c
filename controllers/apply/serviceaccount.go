package apply

import corev1 "k8s.io/api/core/v1"

// ServiceAccounts keep whether the account mounts a token.
var ServiceAccounts = Kind[*corev1.ServiceAccount]{
	Name:   "ServiceAccount",
	New:    func() *corev1.ServiceAccount { return &corev1.ServiceAccount{} },
	Synced: serviceAccountSynced,
	Mutate: mutateServiceAccount,
}

func serviceAccountSynced(live, desired *corev1.ServiceAccount) bool {
	return equalBoolPtr(live.AutomountServiceAccountToken, desired.AutomountServiceAccountToken)
}

func mutateServiceAccount(live, desired *corev1.ServiceAccount) {
	live.AutomountServiceAccountToken = desired.AutomountServiceAccountToken
}

// equalBoolPtr compares two optional booleans: unset is neither true nor
// false.
func equalBoolPtr(a, b *bool) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}
