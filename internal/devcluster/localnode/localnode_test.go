package localnode

import (
	"bufio"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "x", "EMPTY": ""}
	lookup := func(name string) (string, bool) { v, ok := vars[name]; return v, ok }
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"$(A)", "x"},
		{"--flag=$(A)/$(A)", "--flag=x/x"},
		{"$(EMPTY)end", "end"},
		{"$(UNKNOWN)", "$(UNKNOWN)"},
		{"$$(A)", "$(A)"},
		{"$$", "$"},
		{"cost $5", "cost $5"},
		{"$(unclosed", "$(unclosed"},
		{"trailing $", "trailing $"},
	} {
		if got := expand(tc.in, lookup); got != tc.want {
			t.Errorf("expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// collectorPod is shaped like the operator's collector pod.
func collectorPod() *corev1.Pod {
	return &corev1.Pod{Spec: corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532), FSGroup: ptr.To[int64](65532)},
		Volumes: []corev1.Volume{
			{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}}}},
			{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "d"}}},
		},
		Containers: []corev1.Container{{
			Name: "collector", Image: "img", Args: []string{"collector"},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("metrics")}}},
		}},
	}}
}

func TestUnsupported(t *testing.T) {
	n := &Node{opts: Options{Images: map[string]Image{"img": {User: 65532, Group: 65532}}}}
	for _, tc := range []struct {
		name   string
		mutate func(*corev1.Pod)
		want   string // substring of the refusal; empty: runs
	}{
		{"collector pod runs", func(*corev1.Pod) {}, ""},
		{"other image", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx" }, `image "nginx" is not one this node runs`},
		{"kube-api-access volume runs", func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, kubeAPIAccessVolume())
		}, ""},
		{"cluster trust bundle", func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "bundle", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{Name: ptr.To("b"), Path: "ca.pem"}}},
			}}})
		}, "volume bundle: projected source 0: clusterTrustBundle sources are not supported"},
		{"pod certificate", func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "cert", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{PodCertificate: &corev1.PodCertificateProjection{SignerName: "example.com/s", KeyType: "ED25519"}}},
			}}})
		}, "volume cert: projected source 0: podCertificate sources are not supported"},
		{"downward API hugepages", func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "info", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "huge", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "collector", Resource: "limits.hugepages-2Mi"}},
				}}}},
			}}})
		}, "downwardAPI item huge: resource limits.hugepages-2Mi is not supported"},
		{"downward API volume", func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{}}})
		}, "volume info: only configMap, secret, projected, emptyDir and persistentVolumeClaim volumes"},
		{"memory emptyDir", func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}})
		}, `emptyDir medium "Memory"`},
		{"exec probe", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
		}, "only httpGet and tcpSocket probes"},
		{"root user", func(p *corev1.Pod) {
			p.Spec.SecurityContext = nil
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](0)}
		}, "runs as root"},
		{"runAsNonRoot with root", func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsUser = ptr.To[int64](0) }, "runAsNonRoot"},
		{"init container", func(p *corev1.Pod) { p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "img"}} }, "init containers"},
		{"host network", func(p *corev1.Pod) { p.Spec.HostNetwork = true }, "host namespaces"},
		{"host port", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 80}}
		}, "host port 80"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := collectorPod()
			tc.mutate(pod)
			got := strings.Join(n.unsupported(pod), "; ")
			if tc.want == "" && got != "" {
				t.Fatalf("refused a pod it can run: %s", got)
			}
			if !strings.Contains(got, tc.want) {
				t.Fatalf("refusal %q does not contain %q", got, tc.want)
			}
		})
	}
}

func TestIdentity(t *testing.T) {
	n := &Node{opts: Options{Images: map[string]Image{"img": {User: 65532, Group: 65532}}}}
	pod := collectorPod()
	pod.Spec.SecurityContext.SupplementalGroups = []int64{7}
	pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](1000), RunAsGroup: ptr.To[int64](2000)}
	id, err := n.identity(pod, &pod.Spec.Containers[0])
	if err != nil {
		t.Fatal(err)
	}
	if id.uid != 1000 || id.gid != 2000 || len(id.groups) != 2 || id.groups[0] != 65532 || id.groups[1] != 7 {
		t.Fatalf("identity = %+v, want uid 1000, gid 2000, groups [65532 7]", id)
	}
}

// TestKillTakesAShorterGraceLater stops a container that ignores SIGTERM
// with a long grace period, then force-stops it: the later, shorter grace
// must apply to the kill already under way, or a force deletion would wait
// out the first grace period.
func TestKillTakesAShorterGraceLater(t *testing.T) {
	cmd := exec.Command("sh", "-c", `trap "" TERM; echo trapped; while :; do sleep 1; done`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// SIGTERM must come after the trap, or it ends the shell at once.
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })

	c := &containerRunner{
		pod:       &podRunner{node: &Node{log: testr.New(t)}},
		spec:      corev1.Container{Name: "stubborn"},
		stopCh:    make(chan struct{}),
		shortened: make(chan struct{}, 1),
	}
	c.requestStop(time.Hour)
	grace := c.grace()
	killed := make(chan error, 1)
	go func() { killed <- c.kill(cmd, exited, grace) }()
	c.requestStop(0)

	select {
	case <-killed:
	case <-time.After(time.Minute):
		t.Fatal("the kill still waits for the first grace period after a stop with none")
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("container ended with %v, want SIGKILL", cmd.ProcessState)
	}
}

// TestUnusedPodAddressIsUnreachable dials an address of the node's pod
// subnet that no pod holds, as the service proxy does when an endpoint
// outlives its pod: the dial must fail with "no route to host" from this
// machine, not leave it by the default route (where an intercepting
// egress proxy would answer), and a pod's own address must still route.
func TestUnusedPodAddressIsUnreachable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("pod networks need root")
	}
	n, err := acquireNetwork(testr.New(t))
	if err != nil {
		t.Fatal(err)
	}
	defer n.release()
	pod, err := n.setup()
	if err != nil {
		t.Fatal(err)
	}
	defer pod.teardown()

	unused := net.IPv4(10, 244, byte(n.index), 254).String()
	_, err = net.DialTimeout("tcp", net.JoinHostPort(unused, "4318"), 5*time.Second)
	if !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Fatalf("dial of the unused pod address %s: %v, want no route to host", unused, err)
	}
	// Nothing listens in the pod: its kernel refuses the connection.
	_, err = net.DialTimeout("tcp", net.JoinHostPort(pod.ip.String(), "4318"), 5*time.Second)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial of the pod address %s: %v, want connection refused", pod.ip, err)
	}
}

// TestKubernetesServiceInPod dials the `kubernetes` Service's cluster IP and
// port from inside a pod's network namespace, as an in-cluster client does:
// the connection must reach the upstream the node forwards to, and the
// address must not exist on the host, where another local node's pods have
// their own.
func TestKubernetesServiceInPod(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("pod networks need root")
	}
	upstream, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer upstream.Close()
	go func() {
		for {
			conn, err := upstream.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				line, _ := bufio.NewReader(conn).ReadString('\n')
				_, _ = conn.Write([]byte("upstream got " + line))
			}()
		}
	}()
	n, err := acquireNetwork(testr.New(t))
	if err != nil {
		t.Fatal(err)
	}
	defer n.release()
	pod, err := n.setup()
	if err != nil {
		t.Fatal(err)
	}
	defer pod.teardown()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.0.0.1", Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}}},
	}
	forward, err := pod.forwardAPIServer(svc, upstream.Addr().String(), func(err error) { t.Error(err) })
	if err != nil {
		t.Fatal(err)
	}
	defer forward.close()

	var reply string
	if err := pod.inNamespace(func() error {
		conn, err := net.DialTimeout("tcp", "10.0.0.1:443", 5*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := conn.Write([]byte("hello\n")); err != nil {
			return err
		}
		reply, err = bufio.NewReader(conn).ReadString('\n')
		return err
	}); err != nil {
		t.Fatalf("dial the kubernetes Service from the pod: %v", err)
	}
	if reply != "upstream got hello\n" {
		t.Fatalf("reply %q, want the upstream's", reply)
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if strings.HasPrefix(a.String(), "10.0.0.1/") {
			t.Fatalf("the host has the pods' cluster IP %s", a)
		}
	}
}
