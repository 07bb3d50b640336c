package apply

import (
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// PodMonitors and PrometheusRules keep their whole spec, as NetworkPolicies
// do: the operator renders every field, and a relabeling or an alert it
// stops rendering must go, which a subset check would keep. The CRDs'
// defaults touch only fields the builders set themselves (a relabeling's
// action), so a pass over an unchanged child writes nothing.
var (
	PodMonitors = Kind[*monitoringv1.PodMonitor]{
		Name: monitoringv1.PodMonitorsKind,
		New:  func() *monitoringv1.PodMonitor { return &monitoringv1.PodMonitor{} },
		Synced: func(live, desired *monitoringv1.PodMonitor) bool {
			return equality.Semantic.DeepEqual(live.Spec, desired.Spec)
		},
		Mutate: func(live, desired *monitoringv1.PodMonitor) { live.Spec = *desired.Spec.DeepCopy() },
	}
	PrometheusRules = Kind[*monitoringv1.PrometheusRule]{
		Name: monitoringv1.PrometheusRuleKind,
		New:  func() *monitoringv1.PrometheusRule { return &monitoringv1.PrometheusRule{} },
		Synced: func(live, desired *monitoringv1.PrometheusRule) bool {
			return equality.Semantic.DeepEqual(live.Spec, desired.Spec)
		},
		Mutate: func(live, desired *monitoringv1.PrometheusRule) { live.Spec = *desired.Spec.DeepCopy() },
	}
)
