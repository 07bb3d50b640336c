package manager

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

func TestCollectorImageDefault(t *testing.T) {
	cases := []struct {
		name, env, want string
	}{
		{"built-in default", "", DefaultImage},
		{"from SPANSINK_IMAGE", "registry.example.com/spansink:v9", "registry.example.com/spansink:v9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(ImageEnv, tc.env)
			flag := NewCommand().Flags().Lookup("collector-image")
			if flag == nil {
				t.Fatal("no --collector-image flag")
			}
			if flag.DefValue != tc.want {
				t.Errorf("default --collector-image = %q, want %q", flag.DefValue, tc.want)
			}
		})
	}
}

// Bad flags are refused before the manager reaches for a cluster.
func TestRejectsBadFlags(t *testing.T) {
	cases := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--collector-image="}, "--collector-image must not be empty"},
		{[]string{"--max-concurrent-reconciles=0"}, "--max-concurrent-reconciles must be at least 1, got 0"},
		{[]string{"--leader-elect", "extra"}, `unknown command "extra"`},
		{[]string{"--kube-api-qps=0"}, "--kube-api-qps must be more than 0, got 0"},
		{[]string{"--kube-api-qps=-1"}, "--kube-api-qps must be more than 0, got -1"},
		{[]string{"--kube-api-qps=50", "--kube-api-burst=10"}, "--kube-api-burst must be at least --kube-api-qps (50), got 10"},
		{[]string{"--kube-api-qps=fast"}, `invalid argument "fast" for "--kube-api-qps"`},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := NewCommand()
			cmd.SetArgs(tc.args)
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// The flags' limits reach the client the manager is built with, and the
// defaults bound it: controller-runtime would otherwise leave it unlimited.
func TestClientLimits(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		qps   float32
		burst int
	}{
		{nil, DefaultKubeAPIQPS, DefaultKubeAPIBurst},
		{[]string{"--kube-api-qps=20", "--kube-api-burst=30"}, 20, 30},
	} {
		cmd := NewCommand()
		if err := cmd.Flags().Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		qps, _ := cmd.Flags().GetFloat32("kube-api-qps")
		burst, _ := cmd.Flags().GetInt("kube-api-burst")
		cfg := &rest.Config{}
		limitClient(cfg, Options{KubeAPIQPS: qps, KubeAPIBurst: burst})
		if cfg.QPS != tc.qps || cfg.Burst != tc.burst || cfg.RateLimiter == nil || cfg.RateLimiter.QPS() != tc.qps {
			t.Errorf("%v: client limits %v/%d (shared limiter %v), want %v/%d", tc.args, cfg.QPS, cfg.Burst, cfg.RateLimiter, tc.qps, tc.burst)
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
				t.Fatalf("%v: the first client's burst ran out early", tc.args)
			}
		}
		if second.GetRateLimiter().TryAccept() {
			t.Errorf("%v: a second client has a bucket of its own", tc.args)
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
