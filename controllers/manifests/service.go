package manifests

import (
	"fmt"

	"github.com/spansink/spansink/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// Service exposes the collector's OTLP/gRPC, OTLP/HTTP and metrics ports
// inside the cluster.
func Service(sink *v1alpha1.SpanSink) *corev1.Service {
	port := func(name string, number int32, appProtocol string) corev1.ServicePort {
		return corev1.ServicePort{
			Name:        name,
			Protocol:    corev1.ProtocolTCP,
			AppProtocol: ptr.To(appProtocol),
			Port:        number,
			TargetPort:  intstr.FromString(name),
		}
	}
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(sink, CollectorName(sink)),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: SelectorLabels(sink),
			Ports: []corev1.ServicePort{
				port(OTLPGRPCPortName, OTLPGRPCPort, "grpc"),
				port(OTLPHTTPPortName, OTLPHTTPPort, "http"),
				port(MetricsPortName, MetricsPort, "http"),
			},
		},
	}
}

// Endpoints are the collector's in-cluster addresses, as published in status.
func Endpoints(sink *v1alpha1.SpanSink) v1alpha1.Endpoints {
	host := fmt.Sprintf("%s.%s.svc", CollectorName(sink), sink.Namespace)
	return v1alpha1.Endpoints{
		OTLPGRPC: fmt.Sprintf("http://%s:%d", host, OTLPGRPCPort),
		OTLPHTTP: fmt.Sprintf("http://%s:%d", host, OTLPHTTPPort),
	}
}
