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
// inside the cluster. Each port's appProtocol says what a mesh or gateway
// in front of it must speak: "grpc" and "http" in plain text (Istio,
// Linkerd and the Gateway API read these), and "https" on both OTLP ports
// under TLS. gRPC over TLS is HTTP/2 over TLS, which is what "https" (with
// ALPN h2) means; there is no registered "grpcs", and a proxy told "grpc"
// would try to read the encrypted bytes as plain HTTP/2. The metrics port
// stays plain text: TLS covers the OTLP ports only.
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
				port(OTLPGRPCPortName, OTLPGRPCPort, otlpAppProtocol(sink, "grpc")),
				port(OTLPHTTPPortName, OTLPHTTPPort, otlpAppProtocol(sink, "http")),
				port(MetricsPortName, MetricsPort, "http"),
			},
		},
	}
}

// otlpAppProtocol is an OTLP port's appProtocol: plain as given, or
// "https" when the port serves TLS.
func otlpAppProtocol(sink *v1alpha1.SpanSink, plain string) string {
	if sink.Spec.TLS != nil {
		return "https"
	}
	return plain
}

// Endpoints are the collector's in-cluster addresses, as published in
// status; https:// when the OTLP ports serve TLS, as the OpenTelemetry
// SDKs' endpoint settings expect.
func Endpoints(sink *v1alpha1.SpanSink) v1alpha1.Endpoints {
	scheme := "http"
	if sink.Spec.TLS != nil {
		scheme = "https"
	}
	host := fmt.Sprintf("%s.%s.svc", CollectorName(sink), sink.Namespace)
	return v1alpha1.Endpoints{
		OTLPGRPC: fmt.Sprintf("%s://%s:%d", scheme, host, OTLPGRPCPort),
		OTLPHTTP: fmt.Sprintf("%s://%s:%d", scheme, host, OTLPHTTPPort),
	}
}
