package manifests

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// NetworkPolicy admits traffic to the collector pod as spec.networkPolicy
// says, or is nil when it says nothing. The policy is of type Ingress only,
// so the pod's own connections are left alone, and every port the policy
// does not list is closed to everyone.
//
// A NetworkPolicy rule with no peers admits everyone, the opposite of what
// an empty list in the SpanSink means; so an empty list gets no rule at
// all, and with both lists empty the policy admits nothing.
//
// The operator itself reads GET /config on the metrics port to report
// which config the collector applies, so the metrics rule also admits the
// pods of the operator's namespace, whatever metricsFrom says: users need
// not know the operator's namespace, and leaving it out would silently
// turn ConfigApplied Unknown. Only the metrics port is opened to it, and
// to the Prometheus pods of spec.monitoring.podMonitor.prometheusFrom.
func NetworkPolicy(p Params) *networkingv1.NetworkPolicy {
	sink := p.Sink
	spec := sink.Spec.NetworkPolicy
	if spec == nil {
		return nil
	}
	port := func(number int32) networkingv1.NetworkPolicyPort {
		return networkingv1.NetworkPolicyPort{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(number))}
	}
	rules := []networkingv1.NetworkPolicyIngressRule{}
	if len(spec.IngestFrom) > 0 {
		rules = append(rules, networkingv1.NetworkPolicyIngressRule{
			Ports: []networkingv1.NetworkPolicyPort{port(OTLPGRPCPort), port(OTLPHTTPPort)},
			From:  peers(spec.IngestFrom),
		})
	}
	metricsFrom := peers(spec.MetricsFrom)
	// The Prometheus that the PodMonitor asks to scrape must get in too,
	// but only to the metrics port, and only while there is a PodMonitor.
	if monitor := sink.Spec.Monitoring.PodMonitor; monitor.Enabled {
		for _, prometheus := range monitor.PrometheusFrom {
			metricsFrom = append(metricsFrom, prometheus.NetworkPolicyPeer())
		}
	}
	if p.OperatorNamespace != "" {
		metricsFrom = append(metricsFrom, networkingv1.NetworkPolicyPeer{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: p.OperatorNamespace}},
		})
	}
	if len(metricsFrom) > 0 {
		rules = append(rules, networkingv1.NetworkPolicyIngressRule{
			Ports: []networkingv1.NetworkPolicyPort{port(MetricsPort)},
			From:  metricsFrom,
		})
	}
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: objectMeta(sink, CollectorName(sink)),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: SelectorLabels(sink)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     rules,
		},
	}
}

func peers(in []networkingv1.NetworkPolicyPeer) []networkingv1.NetworkPolicyPeer {
	out := make([]networkingv1.NetworkPolicyPeer, len(in))
	for i := range in {
		out[i] = *in[i].DeepCopy()
	}
	return out
}
