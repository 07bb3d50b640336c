package manager

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	operator "github.com/spansink/spansink/controllers/manager"
)

func TestCollectorImageDefault(t *testing.T) {
	cases := []struct {
		name, env, want string
	}{
		{"built-in default", "", operator.DefaultImage},
		{"from SPANSINK_IMAGE", "registry.example.com/spansink:v9", "registry.example.com/spansink:v9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(operator.ImageEnv, tc.env)
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
			cmd := newCommand(func(context.Context, operator.Options) error {
				t.Fatal("the manager ran with bad flags")
				return nil
			})
			cmd.SetArgs(tc.args)
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// The flags default to the operator's defaults, so the client stays
// bounded unless told otherwise, and their values reach the options.
func TestFlagsMakeTheOptions(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want operator.Options
	}{
		{nil, operator.Options{
			MetricsAddr: operator.DefaultMetricsAddr, MetricsSecure: true, ProbeAddr: ":8081", PprofAddr: "0", CollectorImage: operator.DefaultImage,
			MaxConcurrentReconciles: operator.DefaultMaxConcurrentReconciles, KubeAPIQPS: operator.DefaultKubeAPIQPS, KubeAPIBurst: operator.DefaultKubeAPIBurst,
		}},
		{[]string{
			"--metrics-bind-address=0", "--metrics-secure=false", "--health-probe-bind-address=:9000", "--pprof-bind-address=127.0.0.1:6060", "--leader-elect",
			"--collector-image=spansink:test", "--max-concurrent-reconciles=3", "--kube-api-qps=20", "--kube-api-burst=30",
		}, operator.Options{
			MetricsAddr: "0", MetricsSecure: false, ProbeAddr: ":9000", PprofAddr: "127.0.0.1:6060", LeaderElect: true, CollectorImage: "spansink:test",
			MaxConcurrentReconciles: 3, KubeAPIQPS: 20, KubeAPIBurst: 30,
		}},
	} {
		t.Setenv(operator.ImageEnv, "")
		var got operator.Options
		cmd := newCommand(func(_ context.Context, opts operator.Options) error { got = opts; return nil })
		cmd.SetArgs(tc.args)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		// The logging options are controller-runtime's own flags.
		got.Zap = zap.Options{}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: options %+v, want %+v", tc.args, got, tc.want)
		}
	}
}

func TestMetricsFlagDefaults(t *testing.T) {
	flags := NewCommand().Flags()
	for name, want := range map[string]string{"metrics-bind-address": ":8443", "metrics-secure": "true"} {
		if got := flags.Lookup(name).DefValue; got != want {
			t.Errorf("--%s defaults to %q, want %q", name, got, want)
		}
	}
}

// The manager logs JSON lines unless told otherwise: log collectors in a
// cluster parse them. --zap-devel and --zap-encoder=console, controller-
// runtime's own flags, still give console lines for a person at a terminal.
func TestLogsJSONByDefault(t *testing.T) {
	for _, tc := range []struct {
		args []string
		json bool
	}{
		{nil, true},
		{[]string{"--zap-log-level=debug"}, true},
		{[]string{"--zap-devel"}, false},
		{[]string{"--zap-encoder=console"}, false},
	} {
		var opts operator.Options
		cmd := newCommand(func(_ context.Context, o operator.Options) error { opts = o; return nil })
		cmd.SetArgs(tc.args)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		var out bytes.Buffer
		opts.Zap.DestWriter = &out
		zap.New(zap.UseFlagOptions(&opts.Zap)).WithName("spansink").Info("reconciled", "spansink", "team/traces")
		var line map[string]any
		err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &line)
		if tc.json {
			if err != nil {
				t.Fatalf("%v: the log line %q is not JSON: %v", tc.args, out.String(), err)
			}
			if line["msg"] != "reconciled" || line["spansink"] != "team/traces" || line["level"] != "info" || line["logger"] != "spansink" {
				t.Errorf("%v: log line %v lacks msg, level, logger or the key", tc.args, line)
			}
		} else if err == nil {
			t.Errorf("%v: the log line %q is JSON, want console", tc.args, out.String())
		}
	}
}

// The operator learns what a collector applies from the admin port's
// contract (sink/configstatus), not from the collector's code: the data
// path, its servers and the object store's SDK stay out of the manager.
func TestLinksNoCollectorCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	forbidden := []string{
		"github.com/spansink/spansink/sink/collector",
		"github.com/spansink/spansink/sink/ingest",
		"github.com/spansink/spansink/sink/batch",
		"github.com/spansink/spansink/sink/storage",
		"github.com/spansink/spansink/sink/objectstore",
		"github.com/aws/aws-sdk-go-v2",
		"go.opentelemetry.io/collector",
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, prefix := range forbidden {
			if pkg == prefix || strings.HasPrefix(pkg, prefix+"/") {
				t.Errorf("spansink manager links %s", pkg)
			}
		}
	}
}
