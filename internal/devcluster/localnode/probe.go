package localnode

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// startProbes runs the container's startup, liveness and readiness probes
// against podIP until ctx ends, as the kubelet's prober does. A failed
// startup or liveness probe sends a reason on kill.
func (c *containerRunner) startProbes(ctx context.Context, pod *corev1.Pod, podIP string, kill chan<- string) {
	startedCh := make(chan struct{})
	if c.spec.StartupProbe == nil {
		close(startedCh)
	} else {
		go c.probeLoop(ctx, pod, "Startup", c.spec.StartupProbe, podIP, func(ok bool) bool {
			if ok {
				c.setState(func() { c.started = true })
				close(startedCh)
				return false
			}
			c.sendKill(kill, "failed startup probe")
			return false
		})
	}
	if p := c.spec.LivenessProbe; p != nil {
		go func() {
			select {
			case <-startedCh:
			case <-ctx.Done():
				return
			}
			c.probeLoop(ctx, pod, "Liveness", p, podIP, func(ok bool) bool {
				if !ok {
					c.sendKill(kill, "failed liveness probe")
					return false
				}
				return true
			})
		}()
	}
	go func() {
		select {
		case <-startedCh:
		case <-ctx.Done():
			return
		}
		if c.spec.ReadinessProbe == nil {
			c.setState(func() { c.ready = true })
			return
		}
		c.probeLoop(ctx, pod, "Readiness", c.spec.ReadinessProbe, podIP, func(ok bool) bool {
			c.setState(func() { c.ready = ok })
			return true
		})
	}()
}

func (c *containerRunner) sendKill(kill chan<- string, reason string) {
	select {
	case kill <- reason:
	default:
	}
}

// probeLoop probes every period and calls onResult when the result crosses
// the success or failure threshold; onResult returning false ends the loop.
func (c *containerRunner) probeLoop(ctx context.Context, pod *corev1.Pod, kind string, probe *corev1.Probe, podIP string, onResult func(ok bool) bool) {
	period := seconds(probe.PeriodSeconds, 10)
	timeout := seconds(probe.TimeoutSeconds, 1)
	successThreshold := int(max(probe.SuccessThreshold, 1))
	failureThreshold := int(max(probe.FailureThreshold, 1))
	if probe.FailureThreshold == 0 {
		failureThreshold = 3
	}
	select {
	case <-ctx.Done():
		return
	case <-time.After(seconds(probe.InitialDelaySeconds, 0)):
	}
	successes, failures := 0, 0
	var last *bool
	for {
		err := c.probeOnce(ctx, probe, podIP, timeout)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			successes, failures = successes+1, 0
		} else {
			successes, failures = 0, failures+1
			c.pod.node.recorder.Eventf(pod, corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %v", kind, err)
		}
		var result *bool
		switch {
		case successes >= successThreshold:
			result = ptrTo(true)
		case failures >= failureThreshold:
			result = ptrTo(false)
		}
		if result != nil && (last == nil || *last != *result || !*result) {
			last = result
			if !onResult(*result) {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(period):
		}
	}
}

// probeOnce runs one httpGet or tcpSocket check.
func (c *containerRunner) probeOnce(ctx context.Context, probe *corev1.Probe, podIP string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case probe.HTTPGet != nil:
		get := probe.HTTPGet
		port, err := c.resolvePort(get.Port)
		if err != nil {
			return err
		}
		host := podIP
		if get.Host != "" {
			host = get.Host
		}
		url := "http://" + net.JoinHostPort(host, strconv.Itoa(port)) + get.Path
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("probe request: %w", err)
		}
		req.Header.Set("User-Agent", "kube-probe/1.37")
		for _, h := range get.HTTPHeaders {
			req.Header.Add(h.Name, h.Value)
		}
		client := http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("Get %q: %w", url, err)
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
		}
		return nil
	case probe.TCPSocket != nil:
		port, err := c.resolvePort(probe.TCPSocket.Port)
		if err != nil {
			return err
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(podIP, strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("dial tcp %s:%d: %w", podIP, port, err)
		}
		return conn.Close()
	}
	return fmt.Errorf("unsupported probe")
}

// resolvePort turns a probe's port, a number or a container port's name,
// into a number.
func (c *containerRunner) resolvePort(port intstr.IntOrString) (int, error) {
	if port.Type == intstr.Int {
		return port.IntValue(), nil
	}
	for _, p := range c.spec.Ports {
		if p.Name == port.StrVal {
			return int(p.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("probe port %q is not a port of container %s", port.StrVal, c.spec.Name)
}

func seconds(v, def int32) time.Duration {
	if v == 0 {
		v = def
	}
	return time.Duration(v) * time.Second
}

func ptrTo[T any](v T) *T { return &v }
