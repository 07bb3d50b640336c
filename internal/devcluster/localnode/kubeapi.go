package localnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// In a cluster a pod reaches the API server at the `kubernetes` Service in
// `default`: the kubelet gives every container KUBERNETES_SERVICE_HOST and
// KUBERNETES_SERVICE_PORT (and the docker-link-style KUBERNETES_PORT_*
// variables) with the Service's cluster IP and port, kube-proxy routes that
// address to the API server, and rest.InClusterConfig dials it with the
// mounted token and ca.crt. There is no kube-proxy here, so the node does
// its part for this one Service, in the pod's own network namespace: the
// cluster IP is an address of the pod's loopback device and the node
// listens on it, in that namespace, at each of the Service's TCP ports,
// forwarding every connection to the API server the node itself uses. The
// address is reachable from the pod only, and only that Service's; the
// API server's serving certificate names the address (package
// controlplane), so TLS verifies as in a cluster.

// kubernetesServiceName and kubernetesServiceNamespace name the Service
// that stands for the API server.
const (
	kubernetesServiceName      = "kubernetes"
	kubernetesServiceNamespace = metav1.NamespaceDefault
)

// kubernetesService reads the `kubernetes` Service, whose cluster IP and
// ports every pod is given.
func (n *Node) kubernetesService(ctx context.Context) (*corev1.Service, error) {
	svc, err := n.client.CoreV1().Services(kubernetesServiceNamespace).Get(ctx, kubernetesServiceName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("service %s/%s, the API server's address for pods: %w", kubernetesServiceNamespace, kubernetesServiceName, err)
	}
	if net.ParseIP(svc.Spec.ClusterIP) == nil {
		return nil, fmt.Errorf("service %s/%s has no cluster IP (%q)", kubernetesServiceNamespace, kubernetesServiceName, svc.Spec.ClusterIP)
	}
	return svc, nil
}

// serviceEnv is the kubelet's environment for one Service: NAME_SERVICE_HOST,
// NAME_SERVICE_PORT (the first port) and NAME_SERVICE_PORT_<PORTNAME> for
// each named port, and the docker-link-style NAME_PORT and
// NAME_PORT_<port>_<PROTO>{,_PROTO,_PORT,_ADDR}, NAME being the Service's
// name in upper case with dashes as underscores. In the kubelet's order of
// precedence these come last: a variable the container defines wins.
func serviceEnv(svc *corev1.Service) []corev1.EnvVar {
	if len(svc.Spec.Ports) == 0 {
		return nil
	}
	name := strings.ToUpper(strings.ReplaceAll(svc.Name, "-", "_"))
	ip := svc.Spec.ClusterIP
	env := []corev1.EnvVar{
		{Name: name + "_SERVICE_HOST", Value: ip},
		{Name: name + "_SERVICE_PORT", Value: strconv.Itoa(int(svc.Spec.Ports[0].Port))},
	}
	for _, p := range svc.Spec.Ports {
		if p.Name != "" {
			portName := strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_"))
			env = append(env, corev1.EnvVar{Name: name + "_SERVICE_PORT_" + portName, Value: strconv.Itoa(int(p.Port))})
		}
	}
	link := func(p corev1.ServicePort) string {
		return fmt.Sprintf("%s://%s", strings.ToLower(string(protocolOf(p))), net.JoinHostPort(ip, strconv.Itoa(int(p.Port))))
	}
	env = append(env, corev1.EnvVar{Name: name + "_PORT", Value: link(svc.Spec.Ports[0])})
	for _, p := range svc.Spec.Ports {
		prefix := fmt.Sprintf("%s_PORT_%d_%s", name, p.Port, strings.ToUpper(string(protocolOf(p))))
		env = append(env,
			corev1.EnvVar{Name: prefix, Value: link(p)},
			corev1.EnvVar{Name: prefix + "_PROTO", Value: strings.ToLower(string(protocolOf(p)))},
			corev1.EnvVar{Name: prefix + "_PORT", Value: strconv.Itoa(int(p.Port))},
			corev1.EnvVar{Name: prefix + "_ADDR", Value: ip},
		)
	}
	return env
}

func protocolOf(p corev1.ServicePort) corev1.Protocol {
	if p.Protocol == "" {
		return corev1.ProtocolTCP
	}
	return p.Protocol
}

// apiServerForwarder is one pod's route to the API server at the
// `kubernetes` Service's cluster IP: listeners in the pod's network
// namespace that forward each connection to the API server.
type apiServerForwarder struct {
	listeners []net.Listener
}

// forwardAPIServer makes the Service's cluster IP an address of the pod's
// loopback device and, for each TCP port, listens there and forwards to
// upstream (host:port, reached from the node's own namespace).
func (p *podNetwork) forwardAPIServer(svc *corev1.Service, upstream string, onError func(error)) (_ *apiServerForwarder, err error) {
	clusterIP := svc.Spec.ClusterIP
	if err := ip("-n", p.namespace, "addr", "add", clusterIP+"/32", "dev", "lo"); err != nil {
		return nil, fmt.Errorf("cluster IP of service %s: %w", svc.Name, err)
	}
	f := &apiServerForwarder{}
	defer func() {
		if err != nil {
			f.close()
		}
	}()
	for _, port := range svc.Spec.Ports {
		if protocolOf(port) != corev1.ProtocolTCP {
			continue
		}
		addr := net.JoinHostPort(clusterIP, strconv.Itoa(int(port.Port)))
		var l net.Listener
		// A socket belongs to the namespace it was made in, whichever thread
		// later accepts on it.
		if err := p.inNamespace(func() error {
			var listenErr error
			l, listenErr = net.Listen("tcp", addr)
			return listenErr
		}); err != nil {
			return nil, fmt.Errorf("listen for service %s at %s in the pod: %w", svc.Name, addr, err)
		}
		f.listeners = append(f.listeners, l)
		go forwardEach(l, upstream, onError)
	}
	return f, nil
}

// forwardEach forwards every connection accepted on l to upstream until l
// is closed. A connection the API server does not take is closed at once,
// which the client sees as the server being unavailable.
func forwardEach(l net.Listener, upstream string, onError func(error)) {
	for {
		conn, err := l.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				onError(fmt.Errorf("accept at %s: %w", l.Addr(), err))
			}
			return
		}
		go func() {
			defer conn.Close()
			server, err := net.DialTimeout("tcp", upstream, upstreamDialTimeout)
			if err != nil {
				onError(fmt.Errorf("dial the API server at %s: %w", upstream, err))
				return
			}
			defer server.Close()
			splice(conn, server)
		}()
	}
}

// close stops the listeners; connections under way end with the namespace.
func (f *apiServerForwarder) close() {
	for _, l := range f.listeners {
		l.Close()
	}
}
