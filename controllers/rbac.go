package controllers

// Every permission the operator has, in one place: controller-gen turns
// these markers into config/rbac/role.yaml, and rbac_test.go fails on a
// rule no request uses and on a request no rule covers.

// SpanSinks and their children are read from the cache only, so no request
// ever gets one by name: list and watch fill the cache, and the status is
// patched without being read first. The children are got by name only
// through the uncached reader, for an object under a child's name that
// lacks the operator's labels (see CacheOptions).
// +kubebuilder:rbac:groups=tracing.spansink.dev,resources=spansinks,verbs=list;watch
// +kubebuilder:rbac:groups=tracing.spansink.dev,resources=spansinks/status,verbs=patch
// +kubebuilder:rbac:groups=tracing.spansink.dev,resources=spansinks/finalizers,verbs=update
// +kubebuilder:rbac:groups=core,resources=configmaps;services;serviceaccounts;persistentvolumeclaims,verbs=get;list;watch;create;update

// Deployments are deleted when a scale-down removes their shard, budgets
// when one shard is left, policies when spec.networkPolicy is unset.
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;delete

// Delete on claims is not for deleting any (the garbage collector does
// that for a Delete policy): where OwnerReferencesPermissionEnforcement runs
// (OpenShift), moving a claim's owner reference when reclaimPolicy changes
// needs it.
// +kubebuilder:rbac:groups=core,resources=persistentvolumeclaims,verbs=delete

// Events on SpanSinks; patch counts a repeated Event in its series.
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Collector pods are cached and watched (CacheOptions, SetupWithManager) to
// ask the ready ones which config they apply (observeConfigApplied).
// +kubebuilder:rbac:groups=core,resources=pods,verbs=list;watch

// A Pending claim's Events and its StorageClass say why it waits
// (observeClaim); both are read from the cache.
// +kubebuilder:rbac:groups=core,resources=events,verbs=list;watch
// +kubebuilder:rbac:groups=storage.k8s.io,resources=storageclasses,verbs=list;watch

// Each Secret a SpanSink names is got by name, never listed or watched
// (see checkSecrets).
// +kubebuilder:rbac:groups=core,resources=secrets,verbs=get

// The Prometheus Operator's kinds, when spec.monitoring asks for them; a
// child is deleted when it stops asking. They are cached whole (a kind the
// cluster may not serve cannot have cache options, see CacheOptions), so
// the cache sees a foreign object under a child's name; get by name is for
// a create that races the cache (the child exists, the cache has not seen
// it yet: AlreadyExists), which the apply layer then reads uncached.
// +kubebuilder:rbac:groups=monitoring.coreos.com,resources=podmonitors;prometheusrules,verbs=get;list;watch;create;update;delete

// CRDs' metadata is watched to notice the Prometheus Operator's CRDs
// appearing while the operator runs (monitoring.go).
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=list;watch
