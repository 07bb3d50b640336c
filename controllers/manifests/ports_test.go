package manifests

import (
	"net"
	"strconv"
	"testing"

	"github.com/spansink/spansink/sink/config"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The collector listens where the pod says it does: every listen address
// in the config the collector reads (the ConfigMap's bytes) is on the
// container port of the same purpose, and the probes and the Service reach
// those ports.
func TestListenPortsMatchContainerPortsAndProbes(t *testing.T) {
	desired, err := Build(Params{Sink: customSink(), DefaultImage: testImage})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(desired.ConfigMap.Data[config.FileName]))
	if err != nil {
		t.Fatal(err)
	}
	container := desired.Shards[0].Deployment.Spec.Template.Spec.Containers[0]
	containerPorts := map[string]int32{}
	for _, p := range container.Ports {
		containerPorts[p.Name] = p.ContainerPort
	}
	// resolve turns a port reference (a name or a number) into a number.
	resolve := func(ref intstr.IntOrString) int32 {
		if ref.Type == intstr.Int {
			return ref.IntVal
		}
		port, ok := containerPorts[ref.StrVal]
		if !ok {
			t.Errorf("port %q is not declared on the container", ref.StrVal)
		}
		return port
	}
	listenPort := func(field, addr string) int32 {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("%s %q: %v", field, addr, err)
		}
		n, err := strconv.ParseInt(port, 10, 32)
		if err != nil {
			t.Fatalf("%s %q: %v", field, addr, err)
		}
		return int32(n)
	}

	listens := []struct{ field, addr, portName string }{
		{"listen.otlpGrpc", cfg.Listen.OTLPGRPC, OTLPGRPCPortName},
		{"listen.otlpHttp", cfg.Listen.OTLPHTTP, OTLPHTTPPortName},
		{"listen.admin", cfg.Listen.Admin, MetricsPortName},
	}
	if len(listens) != len(container.Ports) {
		t.Fatalf("the container declares %d ports, the config listens on %d", len(container.Ports), len(listens))
	}
	for _, l := range listens {
		if got, want := listenPort(l.field, l.addr), containerPorts[l.portName]; got != want {
			t.Errorf("%s is on port %d, the container declares %s as %d", l.field, got, l.portName, want)
		}
		if host, _, _ := net.SplitHostPort(l.addr); host != "" {
			t.Errorf("%s binds to %q; the Service and probes reach the pod IP, so it must listen on every interface", l.field, host)
		}
	}

	admin := listenPort("listen.admin", cfg.Listen.Admin)
	for name, probe := range map[string]*corev1.Probe{"liveness": container.LivenessProbe, "readiness": container.ReadinessProbe} {
		if got := resolve(probe.HTTPGet.Port); got != admin {
			t.Errorf("the %s probe reaches port %d, the collector serves its health endpoints on %d", name, got, admin)
		}
	}
	for _, sp := range desired.Service.Spec.Ports {
		if got, want := resolve(sp.TargetPort), containerPorts[sp.Name]; got != want {
			t.Errorf("Service port %s targets %d, the container declares %d", sp.Name, got, want)
		}
	}
}
