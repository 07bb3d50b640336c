package manifests

import (
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
)

// Desired is the whole desired state of one SpanSink.
type Desired struct {
	// Config is the rendered collector config and its hash.
	Config RenderedConfig
	// ServiceAccount is the collector's identity.
	ServiceAccount *corev1.ServiceAccount
	// ConfigMap holds the collector config, which every shard shares.
	ConfigMap *corev1.ConfigMap
	// Shards are the Deployment and claim of each of spec.replicas shards,
	// by index.
	Shards []Shard
	// Service spreads clients over the shards.
	Service *corev1.Service
	// HeadlessService gives each shard an address.
	HeadlessService *corev1.Service
	// PodDisruptionBudget keeps all but one shard up through evictions;
	// nil below two shards.
	PodDisruptionBudget *policyv1.PodDisruptionBudget
	// NetworkPolicy admits traffic to the collector; nil when the SpanSink
	// sets no spec.networkPolicy.
	NetworkPolicy *networkingv1.NetworkPolicy
	// PodMonitor scrapes every shard's metrics; nil unless
	// spec.monitoring.podMonitor is enabled.
	PodMonitor *monitoringv1.PodMonitor
	// PrometheusRule holds the SpanSink's alerts; nil unless
	// spec.monitoring.rules is enabled.
	PrometheusRule *monitoringv1.PrometheusRule
}

// Build makes every child of the SpanSink. It fails only when the spec
// cannot become a collector config the collector would accept.
func Build(p Params) (Desired, error) {
	rendered, err := RenderConfig(p.Sink)
	if err != nil {
		return Desired{}, err
	}
	shards := make([]Shard, ShardCount(p.Sink))
	for i := range shards {
		index := int32(i)
		deploy, err := Deployment(p, rendered, index)
		if err != nil {
			return Desired{}, err
		}
		shards[i] = Shard{Index: index, Deployment: deploy, Claim: PersistentVolumeClaim(p.Sink, index)}
	}
	return Desired{
		Config:              rendered,
		ServiceAccount:      ServiceAccount(p.Sink),
		ConfigMap:           ConfigMap(p.Sink, rendered),
		Shards:              shards,
		Service:             Service(p.Sink),
		HeadlessService:     HeadlessService(p.Sink),
		PodDisruptionBudget: PodDisruptionBudget(p.Sink),
		NetworkPolicy:       NetworkPolicy(p),
		PodMonitor:          PodMonitor(p.Sink),
		PrometheusRule:      PrometheusRule(p.Sink),
	}, nil
}
