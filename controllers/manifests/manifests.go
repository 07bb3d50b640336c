package manifests

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Desired is the whole desired state of one SpanSink.
type Desired struct {
	// Config is the rendered collector config and its hash.
	Config RenderedConfig
	// ServiceAccount is the collector's identity.
	ServiceAccount *corev1.ServiceAccount
	// ConfigMap holds the collector config.
	ConfigMap *corev1.ConfigMap
	// PersistentVolumeClaim holds the span files; nil when the SpanSink
	// mounts an existing claim.
	PersistentVolumeClaim *corev1.PersistentVolumeClaim
	// Deployment runs the collector.
	Deployment *appsv1.Deployment
	// Service exposes the collector.
	Service *corev1.Service
	// NetworkPolicy admits traffic to the collector; nil when the SpanSink
	// sets no spec.networkPolicy.
	NetworkPolicy *networkingv1.NetworkPolicy
}

// Build makes every child of the SpanSink. It fails only when the spec
// cannot become a collector config the collector would accept.
func Build(p Params) (Desired, error) {
	rendered, err := RenderConfig(p.Sink)
	if err != nil {
		return Desired{}, err
	}
	deploy, err := Deployment(p, rendered)
	if err != nil {
		return Desired{}, err
	}
	return Desired{
		Config:                rendered,
		ServiceAccount:        ServiceAccount(p.Sink),
		ConfigMap:             ConfigMap(p.Sink, rendered),
		PersistentVolumeClaim: PersistentVolumeClaim(p.Sink),
		Deployment:            deploy,
		Service:               Service(p.Sink),
		NetworkPolicy:         NetworkPolicy(p),
	}, nil
}
