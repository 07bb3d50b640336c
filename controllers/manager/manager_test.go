package manager

import (
	"strings"
	"testing"

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
		if cfg.QPS != tc.qps || cfg.Burst != tc.burst {
			t.Errorf("%v: client limits %v/%d, want %v/%d", tc.args, cfg.QPS, cfg.Burst, tc.qps, tc.burst)
		}
	}
}
