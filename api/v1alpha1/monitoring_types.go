package v1alpha1

import (
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MonitoringSpec hands the collector's metrics to a Prometheus run by the
// Prometheus Operator: a PodMonitor that scrapes every shard's pod and a
// PrometheusRule with alerts on them. Both need the Prometheus Operator's
// CRDs (monitoring.coreos.com); without them the SpanSink says so in its
// MonitoringReady condition and runs on.
type MonitoringSpec struct {
	// podMonitor scrapes the metrics port of every shard's collector pod.
	// +optional
	PodMonitor PodMonitorSpec `json:"podMonitor,omitzero"`

	// rules are alerts on the collector's metrics, scoped to this SpanSink.
	// +optional
	Rules RulesSpec `json:"rules,omitzero"`
}

// PodMonitorSpec says how the collector pods are scraped. A PodMonitor,
// not a ServiceMonitor: the collector Service and the headless shards
// Service select the same pods, so a ServiceMonitor would scrape each pod
// once per Service, and only while it is ready, when a collector whose
// volume fails is exactly the one to watch.
// +kubebuilder:validation:XValidation:rule="!has(self.prometheusFrom) || size(self.prometheusFrom) == 0 || (has(self.enabled) && self.enabled)",message="monitoring.podMonitor.prometheusFrom admits a Prometheus only for the PodMonitor: set monitoring.podMonitor.enabled to true, or list the peer in networkPolicy.metricsFrom"
type PodMonitorSpec struct {
	// enabled creates the PodMonitor <name>-collector.
	// +optional
	// +kubebuilder:default=false
	Enabled bool `json:"enabled,omitempty"`

	// interval is how often Prometheus scrapes each pod, in whole seconds;
	// unset leaves it to the Prometheus's scrapeInterval.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(s|m|h))+$') && duration(self) >= duration('1s') && duration(self) <= duration('1h')",message="monitoring.podMonitor.interval must be a whole number of seconds such as 30s or 1m, from 1s to 1h"
	Interval *metav1.Duration `json:"interval,omitempty"`

	// labels are added to the PodMonitor, so that a Prometheus's
	// podMonitorSelector picks it (for a Helm-installed kube-prometheus-stack,
	// release: <its release name>). The operator's own labels take
	// precedence.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$') && k.indexOf('/') <= 253)",message="monitoring.podMonitor.labels keys must be label names: an optional DNS subdomain prefix (lowercase, at most 253 characters) and '/', then a name of at most 63 letters, digits, '-', '_' or '.' that starts and ends with a letter or digit"
	// +kubebuilder:validation:XValidation:rule="self.all(k, self[k].matches('^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$'))",message="monitoring.podMonitor.labels values must be label values: empty, or at most 63 letters, digits, '-', '_' or '.' that start and end with a letter or digit"
	Labels map[string]LabelValue `json:"labels,omitempty"`

	// prometheusFrom are the Prometheus pods (by namespace and pod
	// selector) that the SpanSink's NetworkPolicy admits to the metrics
	// port, on top of networkPolicy.metricsFrom. It matters only when
	// spec.networkPolicy is set: without a policy the port is open, and
	// this field never creates one.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	PrometheusFrom []PrometheusPeer `json:"prometheusFrom,omitempty"`
}

// PrometheusPeer selects Prometheus pods: those matching podSelector in the
// namespaces matching namespaceSelector. IP blocks are not offered: a
// Prometheus scraping pods runs in the cluster.
// +kubebuilder:validation:XValidation:rule="has(self.namespaceSelector) || has(self.podSelector)",message="monitoring.podMonitor.prometheusFrom entries must set namespaceSelector, podSelector or both"
type PrometheusPeer struct {
	// namespaceSelector selects the Prometheus's namespace, such as
	// kubernetes.io/metadata.name: monitoring. Unset means the SpanSink's
	// own namespace.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// podSelector selects the Prometheus pods in those namespaces, such as
	// app.kubernetes.io/name: prometheus. Unset means every pod there.
	// +optional
	PodSelector *metav1.LabelSelector `json:"podSelector,omitempty"`
}

// NetworkPolicyPeer is the peer as a NetworkPolicy rule names it.
func (p PrometheusPeer) NetworkPolicyPeer() networkingv1.NetworkPolicyPeer {
	peer := networkingv1.NetworkPolicyPeer{}
	if p.NamespaceSelector != nil {
		peer.NamespaceSelector = p.NamespaceSelector.DeepCopy()
	}
	if p.PodSelector != nil {
		peer.PodSelector = p.PodSelector.DeepCopy()
	}
	return peer
}

// RulesSpec says which alerts the PrometheusRule holds and when they fire.
// Every alert is scoped to this SpanSink's pods, names the SpanSink and the
// pod, and links to its section of the runbook (docs/operating.md).
type RulesSpec struct {
	// enabled creates the PrometheusRule <name>-collector.
	// +optional
	// +kubebuilder:default=false
	Enabled bool `json:"enabled,omitempty"`

	// labels are added to the PrometheusRule, so that a Prometheus's
	// ruleSelector picks it (for a Helm-installed kube-prometheus-stack,
	// release: <its release name>). The operator's own labels take
	// precedence.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$') && k.indexOf('/') <= 253)",message="monitoring.rules.labels keys must be label names: an optional DNS subdomain prefix (lowercase, at most 253 characters) and '/', then a name of at most 63 letters, digits, '-', '_' or '.' that starts and ends with a letter or digit"
	// +kubebuilder:validation:XValidation:rule="self.all(k, self[k].matches('^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$'))",message="monitoring.rules.labels values must be label values: empty, or at most 63 letters, digits, '-', '_' or '.' that start and end with a letter or digit"
	Labels map[string]LabelValue `json:"labels,omitempty"`

	// volumeFullPercent is how full (used bytes over capacity) a shard's
	// volume may get before SpanSinkVolumeNearlyFull fires; 85 when unset.
	// +optional
	// +kubebuilder:validation:Minimum=50
	// +kubebuilder:validation:Maximum=99
	VolumeFullPercent int32 `json:"volumeFullPercent,omitempty"`

	// queueFullPercent is how full the span queue (batch.maxQueuedSpans)
	// may stay for five minutes before SpanSinkQueueNearlyFull fires; 80
	// when unset.
	// +optional
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=100
	QueueFullPercent int32 `json:"queueFullPercent,omitempty"`

	// silentAfter (whole seconds), when set, makes SpanSinkNoSpans fire once the whole
	// SpanSink has accepted no span for this long: for a SpanSink whose
	// clients always send something. Unset, silence is not an alert.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(s|m|h))+$') && duration(self) >= duration('5m') && duration(self) <= duration('168h')",message="monitoring.rules.silentAfter must be a whole number of seconds such as 30m or 2h, from 5m to 168h"
	SilentAfter *metav1.Duration `json:"silentAfter,omitempty"`

	// uploadLag (whole seconds) is how long a sealed file may wait for the object store
	// before SpanSinkUploadLagging fires; 30m when unset. The alert exists
	// only when storage.objectStore is set.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(s|m|h))+$') && duration(self) >= duration('1m') && duration(self) <= duration('168h')",message="monitoring.rules.uploadLag must be a whole number of seconds such as 30m or 2h, from 1m to 168h"
	UploadLag *metav1.Duration `json:"uploadLag,omitempty"`
}
