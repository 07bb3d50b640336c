package localnode

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"
)

// lockDir holds one lock file per pod subnet, so that several local nodes on
// one machine (an e2e run next to `make run`) never hand out the same IPs.
const lockDir = "/run/spansink-localnode"

// network is the node's pod subnet 10.244.<index>.0/24: .1 is the host side
// of every pod's veth pair, .2 to .254 are pod IPs.
type network struct {
	index   int
	lock    *os.File
	gateway net.IP
	log     logr.Logger

	mu      sync.Mutex
	used    map[int]bool
	counter int
}

// acquireNetwork takes the first free subnet and removes what a crashed
// node that held it left behind.
func acquireNetwork(log logr.Logger) (*network, error) {
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return nil, fmt.Errorf("pod network lock directory: %w", err)
	}
	for index := 0; index < 256; index++ {
		f, err := os.OpenFile(filepath.Join(lockDir, fmt.Sprintf("subnet-%d.lock", index)), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return nil, fmt.Errorf("pod network lock: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		n := &network{index: index, lock: f, gateway: net.IPv4(10, 244, byte(index), 1).To4(), log: log, used: map[int]bool{}}
		if err := n.removeLeftovers(); err != nil {
			f.Close()
			return nil, err
		}
		// An address of the subnet that no pod holds (a pod just deleted,
		// whose endpoint a Service still lists) must fail at once, as an
		// unused pod IP does on a cluster's node. Without this route the
		// host's default route takes it, and on a machine behind an
		// intercepting egress proxy a foreign server answers: a 403 where a
		// client expects a refused or timed-out connection. The pods' own
		// /32 routes are more specific and win.
		if err := ip("route", "replace", "unreachable", n.cidr()); err != nil {
			f.Close()
			return nil, fmt.Errorf("pod subnet route: %w", err)
		}
		return n, nil
	}
	return nil, errors.New("no free pod subnet in 10.244.0.0/16: 256 local nodes are running")
}

func (n *network) cidr() string { return fmt.Sprintf("10.244.%d.0/24", n.index) }

// namespacePrefix starts the name of every network namespace of this subnet.
func (n *network) namespacePrefix() string { return fmt.Sprintf("spansink-%02x-", n.index) }

// removeLeftovers deletes namespaces of this subnet that a node which died
// without cleaning up left; deleting a namespace also removes its veth pair.
func (n *network) removeLeftovers() error {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return fmt.Errorf("list network namespaces: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if strings.HasPrefix(name, n.namespacePrefix()) {
			n.log.Info("removing network namespace left by an earlier run", "netns", name)
			if err := ip("netns", "del", name); err != nil {
				return err
			}
		}
	}
	return nil
}

// release gives the subnet back to other local nodes.
func (n *network) release() {
	if err := ip("route", "del", "unreachable", n.cidr()); err != nil {
		n.log.Error(err, "remove the pod subnet's route")
	}
	n.lock.Close()
}

// podNetwork is one pod's network namespace and address.
type podNetwork struct {
	owner     *network
	namespace string
	hostLink  string
	host      int
	ip        net.IP
}

// setup creates a namespace with loopback up and a veth pair whose pod end is
// eth0 with the next free IP, routed through the gateway address on the
// host end.
func (n *network) setup() (_ *podNetwork, err error) {
	n.mu.Lock()
	host := 0
	for h := 2; h < 255; h++ {
		if !n.used[h] {
			host = h
			break
		}
	}
	if host == 0 {
		n.mu.Unlock()
		return nil, fmt.Errorf("pod subnet %s is full", n.cidr())
	}
	n.used[host] = true
	n.counter++
	p := &podNetwork{
		owner:     n,
		namespace: fmt.Sprintf("%s%06x", n.namespacePrefix(), n.counter),
		hostLink:  fmt.Sprintf("ssl%02x%06x", n.index, n.counter),
		host:      host,
		ip:        net.IPv4(10, 244, byte(n.index), byte(host)).To4(),
	}
	n.mu.Unlock()
	defer func() {
		if err != nil {
			err = errors.Join(err, p.teardown())
		}
	}()
	podLink := p.hostLink + "p"
	gw := n.gateway.String()
	steps := [][]string{
		{"netns", "add", p.namespace},
		{"-n", p.namespace, "link", "set", "lo", "up"},
		{"link", "add", p.hostLink, "type", "veth", "peer", "name", podLink},
		{"link", "set", podLink, "netns", p.namespace},
		{"-n", p.namespace, "link", "set", podLink, "name", "eth0"},
		{"-n", p.namespace, "addr", "add", p.ip.String() + "/32", "dev", "eth0"},
		{"-n", p.namespace, "link", "set", "eth0", "up"},
		{"-n", p.namespace, "route", "add", gw + "/32", "dev", "eth0", "scope", "link"},
		{"-n", p.namespace, "route", "add", "default", "via", gw, "dev", "eth0"},
		{"addr", "add", gw + "/32", "dev", p.hostLink},
		{"link", "set", p.hostLink, "up"},
		{"route", "add", p.ip.String() + "/32", "dev", p.hostLink, "src", gw},
	}
	for _, args := range steps {
		if err := ip(args...); err != nil {
			return nil, fmt.Errorf("pod network: %w", err)
		}
	}
	return p, nil
}

// teardown deletes the namespace (and with it the veth pair) and frees the IP.
func (p *podNetwork) teardown() error {
	var err error
	if _, statErr := os.Stat(filepath.Join("/run/netns", p.namespace)); statErr == nil {
		err = ip("netns", "del", p.namespace)
	}
	// The host end vanishes with the namespace, a moment after it; when set-up
	// failed before the pod end moved into the namespace, it stays and is
	// deleted here.
	for wait := 0; wait < 20; wait++ {
		if _, statErr := net.InterfaceByName(p.hostLink); statErr != nil {
			break
		}
		if wait == 19 {
			if delErr := ip("link", "del", p.hostLink); delErr != nil && !strings.Contains(delErr.Error(), "Cannot find device") {
				err = errors.Join(err, delErr)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.owner.mu.Lock()
	delete(p.owner.used, p.host)
	p.owner.mu.Unlock()
	return err
}

// start starts cmd inside the pod's network namespace: the child inherits
// the namespace of the thread that forks it.
func (p *podNetwork) start(cmd *exec.Cmd) error {
	return p.inNamespace(cmd.Start)
}

// inNamespace runs fn on a locked thread switched into the pod's network
// namespace, for what takes the namespace from the calling thread (a fork,
// a new socket). The thread is switched back, or, if it cannot be, left
// locked so that the runtime retires it.
func (p *podNetwork) inNamespace(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open own network namespace: %w", err)
			return
		}
		defer home.Close()
		target, err := os.Open(filepath.Join("/run/netns", p.namespace))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open network namespace %s: %w", p.namespace, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace %s: %w", p.namespace, err)
			return
		}
		fnErr := fn()
		if err := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
		errc <- fnErr
	}()
	return <-errc
}

// ip runs one iproute2 command.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
