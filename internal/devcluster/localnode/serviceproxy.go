package localnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// ServiceProxy stands in for kube-proxy, which this machine does not run:
// for each TCP port of a Service it listens on a free port of 127.0.0.1 and
// forwards every connection to a ready endpoint from the Service's
// EndpointSlices (written by kube-controller-manager from the pods'
// readiness), picked at random per connection as kube-proxy does. A Service
// with no ready endpoint accepts and closes the connection at once, which
// clients see as the service being unavailable.
//
// What differs from a cluster: the address is 127.0.0.1:<port> from
// Address, not the cluster IP, and only the host can use it.
type ServiceProxy struct {
	client kubernetes.Interface
	log    logr.Logger

	mu        sync.Mutex
	listeners map[servicePort]net.Listener
	slices    cache.Indexer
}

// servicePort names one port of one Service.
type servicePort struct {
	namespace, service, port string
}

// NewServiceProxy returns a proxy for the cluster cfg points to.
func NewServiceProxy(cfg *rest.Config, log logr.Logger) (*ServiceProxy, error) {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("service proxy client: %w", err)
	}
	return &ServiceProxy{client: client, log: log.WithName("service-proxy"), listeners: map[servicePort]net.Listener{}}, nil
}

// Address is where the host reaches the named port of a Service, or empty
// when the Service or port is unknown (yet).
func (s *ServiceProxy) Address(namespace, service, port string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.listeners[servicePort{namespace, service, port}]; ok {
		return l.Addr().String()
	}
	return ""
}

// Run follows Services and EndpointSlices until ctx is done.
func (s *ServiceProxy) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactory(s.client, 0)
	services := factory.Core().V1().Services().Informer()
	slices := factory.Discovery().V1().EndpointSlices().Informer()
	s.slices = slices.GetIndexer()
	sync := func(any) { s.syncListeners(services.GetStore()) }
	if _, err := services.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: sync, UpdateFunc: func(any, any) { sync(nil) }, DeleteFunc: sync,
	}); err != nil {
		return fmt.Errorf("service proxy watch: %w", err)
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	<-ctx.Done()
	factory.Shutdown()
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, l := range s.listeners {
		l.Close()
		delete(s.listeners, key)
	}
	return nil
}

// syncListeners opens a listener for every TCP port of every Service and
// closes those of Services or ports that are gone.
func (s *ServiceProxy) syncListeners(store cache.Store) {
	want := map[servicePort]bool{}
	for _, obj := range store.List() {
		svc := obj.(*corev1.Service)
		if svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		for _, p := range svc.Spec.Ports {
			if p.Protocol == corev1.ProtocolTCP || p.Protocol == "" {
				want[servicePort{svc.Namespace, svc.Name, p.Name}] = true
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, l := range s.listeners {
		if !want[key] {
			l.Close()
			delete(s.listeners, key)
		}
	}
	for key := range want {
		if _, ok := s.listeners[key]; ok {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			s.log.Error(err, "listen for service", "service", key.namespace+"/"+key.service, "port", key.port)
			continue
		}
		s.listeners[key] = l
		s.log.Info("proxying service", "service", key.namespace+"/"+key.service, "port", key.port, "address", l.Addr().String())
		go s.serve(l, key)
	}
}

func (s *ServiceProxy) serve(l net.Listener, key servicePort) {
	for {
		conn, err := l.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Error(err, "accept", "service", key.namespace+"/"+key.service)
			}
			return
		}
		go s.forward(conn, key)
	}
}

// upstreamDialTimeout bounds the connection to an endpoint.
const upstreamDialTimeout = 3 * time.Second

// forward copies one connection to a ready endpoint and back.
func (s *ServiceProxy) forward(conn net.Conn, key servicePort) {
	defer conn.Close()
	endpoints := s.readyEndpoints(key)
	if len(endpoints) == 0 {
		return
	}
	// The bound stands in for the client's own connect timeout, which
	// cannot apply once the proxy has accepted: an endpoint that does not
	// answer the handshake closes the client's connection instead of
	// leaving it hanging.
	upstream, err := net.DialTimeout("tcp", endpoints[rand.IntN(len(endpoints))], upstreamDialTimeout)
	if err != nil {
		return
	}
	defer upstream.Close()
	splice(conn, upstream)
}

// splice copies a client's connection to its upstream and back until both
// directions are done, passing each half-close on.
func splice(client, upstream net.Conn) {
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tcp, ok := dst.(*net.TCPConn); ok {
			_ = tcp.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(upstream, client)
	go pipe(client, upstream)
	<-done
	<-done
}

// readyEndpoints lists ip:port of ready endpoints for a Service port.
func (s *ServiceProxy) readyEndpoints(key servicePort) []string {
	objs, err := s.slices.ByIndex(cache.NamespaceIndex, key.namespace)
	if err != nil {
		return nil
	}
	selector := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: key.service})
	var out []string
	for _, obj := range objs {
		slice := obj.(*discoveryv1.EndpointSlice)
		if !selector.Matches(labels.Set(slice.Labels)) {
			continue
		}
		var port int32
		for _, p := range slice.Ports {
			if p.Name != nil && *p.Name == key.port && p.Port != nil {
				port = *p.Port
			}
		}
		if port == 0 {
			continue
		}
		for _, ep := range slice.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, addr := range ep.Addresses {
				out = append(out, net.JoinHostPort(addr, strconv.Itoa(int(port))))
			}
		}
	}
	return out
}
