package manager

import (
	"os"
	"runtime/debug"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// The options' limits reach the client the manager is built with, and the
// defaults bound it: controller-runtime would otherwise leave it unlimited.
// cmd/manager checks that its flags default to these and reach the options.
func TestClientLimits(t *testing.T) {
	for _, tc := range []struct {
		name  string
		qps   float32
		burst int
	}{
		{"defaults", DefaultKubeAPIQPS, DefaultKubeAPIBurst},
		{"20/30", 20, 30},
	} {
		cfg := &rest.Config{}
		limitClient(cfg, Options{KubeAPIQPS: tc.qps, KubeAPIBurst: tc.burst})
		if cfg.QPS != tc.qps || cfg.Burst != tc.burst || cfg.RateLimiter == nil || cfg.RateLimiter.QPS() != tc.qps {
			t.Errorf("%s: client limits %v/%d (shared limiter %v), want %v/%d", tc.name, cfg.QPS, cfg.Burst, cfg.RateLimiter, tc.qps, tc.burst)
		}
		// Two clients made from the config draw from one bucket: the
		// burst spent through one leaves none for the other.
		first, err := rest.RESTClientFor(withCodec(cfg))
		if err != nil {
			t.Fatal(err)
		}
		second, err := rest.RESTClientFor(withCodec(cfg))
		if err != nil {
			t.Fatal(err)
		}
		for range tc.burst {
			if !first.GetRateLimiter().TryAccept() {
				t.Fatalf("%s: the first client's burst ran out early", tc.name)
			}
		}
		if second.GetRateLimiter().TryAccept() {
			t.Errorf("%s: a second client has a bucket of its own", tc.name)
		}
	}
}

// withCodec is cfg with what rest.RESTClientFor needs besides the host.
func withCodec(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Host = "https://127.0.0.1:1"
	c.GroupVersion = &corev1.SchemeGroupVersion
	c.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	return c
}

// Without GOGC the manager collects at DefaultGCPercent; a GOGC the
// operator's user sets (which the runtime read at start) is left in force.
func TestGCPercent(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })

	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	if got := tuneGC(); got != DefaultGCPercent {
		t.Errorf("without GOGC: tuneGC says %d, want %d", got, DefaultGCPercent)
	}
	if inForce := debug.SetGCPercent(100); inForce != DefaultGCPercent {
		t.Errorf("without GOGC: %d in force, want %d", inForce, DefaultGCPercent)
	}

	t.Setenv("GOGC", "200")
	debug.SetGCPercent(200) // as the runtime would have at start
	if got := tuneGC(); got != 200 {
		t.Errorf("GOGC=200: tuneGC says %d, want 200", got)
	}
	if inForce := debug.SetGCPercent(100); inForce != 200 {
		t.Errorf("GOGC=200: %d in force, want 200", inForce)
	}
}
