package manifests

import (
	"path"
	"testing"
	"time"

	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/sink/config"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestTerminationGracePeriodDefault(t *testing.T) {
	cases := []struct {
		name     string
		flush    *metav1.Duration
		explicit *int64
		want     int64
		wantStop time.Duration
	}{
		{"unset flush", nil, nil, 60, 55 * time.Second},
		{"short flush", &metav1.Duration{Duration: 5 * time.Second}, nil, 60, 55 * time.Second},
		{"long flush: the stop flushes at once, so no more grace", &metav1.Duration{Duration: time.Hour}, nil, 60, 55 * time.Second},
		{"explicit value wins", &metav1.Duration{Duration: time.Hour}, ptr.To[int64](20), 20, 15 * time.Second},
		{"the CRD's minimum halves", nil, ptr.To[int64](10), 10, 5 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sink := minimalSink()
			sink.Spec.Batch.FlushInterval = tc.flush
			sink.Spec.TerminationGracePeriodSeconds = tc.explicit
			if got := TerminationGracePeriodSeconds(sink); got != tc.want {
				t.Errorf("grace period = %ds, want %ds", got, tc.want)
			}
			cfg, err := CollectorConfig(sink)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.ShutdownTimeout.Std(); got != tc.wantStop {
				t.Errorf("collector shutdown timeout = %s, want %s", got, tc.wantStop)
			}
		})
	}
}

// The rendered config is what the collector parses: it must round-trip
// through the collector's own parser unchanged.
func TestRenderedConfigParsesBack(t *testing.T) {
	for name, sink := range map[string]*v1alpha1.SpanSink{"default": defaultedSink(), "custom": customSink(), "secured": securedSink()} {
		t.Run(name, func(t *testing.T) {
			rendered, err := RenderConfig(sink)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := config.Parse(rendered.Bytes)
			if err != nil {
				t.Fatalf("collector refuses the operator's config: %v", err)
			}
			if parsed != rendered.Config {
				t.Errorf("parsed %+v, rendered %+v", parsed, rendered.Config)
			}
		})
	}
}

func TestCollectorConfigMapsSpec(t *testing.T) {
	cfg, err := CollectorConfig(customSink())
	if err != nil {
		t.Fatal(err)
	}
	want := config.Default()
	want.Batch = config.Batch{Size: 200, FlushInterval: config.Duration(90 * time.Second), MaxQueuedSpans: 5000}
	want.Delivery.Mode = config.DeliveryDurable
	want.Storage = config.Storage{
		Dir:    DataMountPath,
		Path:   "dbgpt/spans",
		Format: config.FormatOTLPJSON,
		Rotation: config.Rotation{
			Daily:        false,
			MaxSizeBytes: 0,
			MaxFiles:     14,
			MaxAge:       config.Duration(168 * time.Hour),
			Compress:     config.CompressionZstd,
			UTC:          true,
		},
	}
	// Every interface of the pod, which the Service and the kubelet's
	// probes reach, not the standalone collector's loopback admin address.
	want.Listen = config.Listen{OTLPGRPC: ":4317", OTLPHTTP: ":4318", Admin: ":8888"}
	want.ShutdownTimeout = config.Duration(295 * time.Second)
	if cfg != want {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
}

// Changing a flush setting must change the hash, which rolls the pod.
func TestConfigHashFollowsBatchSettings(t *testing.T) {
	base, err := RenderConfig(defaultedSink())
	if err != nil {
		t.Fatal(err)
	}
	again, _ := RenderConfig(defaultedSink())
	if base.Hash != again.Hash {
		t.Fatalf("hash is not deterministic: %s vs %s", base.Hash, again.Hash)
	}
	mutations := map[string]func(*v1alpha1.SpanSink){
		"batch.size":          func(s *v1alpha1.SpanSink) { s.Spec.Batch.Size = 999 },
		"batch.flushInterval": func(s *v1alpha1.SpanSink) { s.Spec.Batch.FlushInterval = &metav1.Duration{Duration: time.Second} },
		"delivery.mode":       func(s *v1alpha1.SpanSink) { s.Spec.Delivery.Mode = v1alpha1.DeliveryDurable },
	}
	for field, mutate := range mutations {
		sink := defaultedSink()
		mutate(sink)
		changed, err := RenderConfig(sink)
		if err != nil {
			t.Fatal(err)
		}
		if changed.Hash == base.Hash {
			t.Errorf("changing %s kept the config hash", field)
		}
	}
}

// The security settings become the collector's: files where the pod
// mounts the Secrets, debug as asked, and each limit set replacing the
// collector's default while the rest keep theirs.
func TestCollectorConfigMapsSecurity(t *testing.T) {
	limits := config.DefaultLimits()
	limits.MaxRequestBytes, limits.MaxInflightBytes = 4<<20, 16<<20
	limits.MaxConcurrentRequests, limits.MaxConcurrentStreams = 16, 8
	limits.RequestTimeout = config.Duration(10 * time.Second)
	limits.MaxAttributesPerSpan, limits.MaxAttributeValueBytes = 64, 0

	cases := []struct {
		name       string
		sink       *v1alpha1.SpanSink
		wantAuth   config.Auth
		wantTLS    config.TLS
		wantDebug  bool
		wantLimits config.Limits
	}{
		{"nothing set", defaultedSink(), config.Auth{}, config.TLS{}, false, config.DefaultLimits()},
		{"auth and debug", authSink(), config.Auth{BearerTokenFile: "/var/run/secrets/spansink/auth/tokens"}, config.TLS{}, true, config.DefaultLimits()},
		{"tls with client CA", tlsSink(), config.Auth{}, config.TLS{
			CertFile:     "/var/run/secrets/spansink/tls/tls.crt",
			KeyFile:      "/var/run/secrets/spansink/tls/tls.key",
			ClientCAFile: "/var/run/secrets/spansink/client-ca/ca.crt",
		}, false, config.DefaultLimits()},
		{"tls without client CA", func() *v1alpha1.SpanSink {
			s := tlsSink()
			s.Spec.TLS.ClientCASecretRef = nil
			return s
		}(), config.Auth{}, config.TLS{CertFile: "/var/run/secrets/spansink/tls/tls.crt", KeyFile: "/var/run/secrets/spansink/tls/tls.key"}, false, config.DefaultLimits()},
		{"every limit", limitsSink(), config.Auth{}, config.TLS{}, false, limits},
		{"one limit", func() *v1alpha1.SpanSink {
			s := defaultedSink()
			s.Spec.Limits.MaxConcurrentStreams = 100
			return s
		}(), config.Auth{}, config.TLS{}, false, func() config.Limits {
			l := config.DefaultLimits()
			l.MaxConcurrentStreams = 100
			return l
		}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := CollectorConfig(tc.sink)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Auth != tc.wantAuth {
				t.Errorf("auth = %+v, want %+v", cfg.Auth, tc.wantAuth)
			}
			if cfg.TLS != tc.wantTLS {
				t.Errorf("tls = %+v, want %+v", cfg.TLS, tc.wantTLS)
			}
			if cfg.Debug.Enabled != tc.wantDebug || cfg.Debug.RecentSpansBytes != config.DefaultRecentSpansBytes {
				t.Errorf("debug = %+v, want enabled %v with the default ring", cfg.Debug, tc.wantDebug)
			}
			if cfg.Limits != tc.wantLimits {
				t.Errorf("limits = %+v\nwant     %+v", cfg.Limits, tc.wantLimits)
			}
		})
	}
}

// The file paths in the config are where the Deployment mounts the
// Secrets' keys: a file the config names is in a mounted Secret volume
// that projects the named key under that file name.
func TestConfigFilesAreMounted(t *testing.T) {
	desired, err := Build(Params{Sink: securedSink(), DefaultImage: testImage})
	if err != nil {
		t.Fatal(err)
	}
	pod := desired.Shards[0].Deployment.Spec.Template.Spec
	mounts := map[string]string{} // volume name -> mount path
	for _, m := range pod.Containers[0].VolumeMounts {
		if !m.ReadOnly && m.Name != dataVolume {
			t.Errorf("volume %s is mounted writable", m.Name)
		}
		mounts[m.Name] = m.MountPath
	}
	files := map[string]string{} // file path -> Secret/key
	for _, v := range pod.Volumes {
		if v.Secret == nil {
			continue
		}
		if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode != 0o440 {
			t.Errorf("Secret volume %s has mode %v, want 0440", v.Name, v.Secret.DefaultMode)
		}
		for _, item := range v.Secret.Items {
			files[path.Join(mounts[v.Name], item.Path)] = v.Secret.SecretName + "/" + item.Key
		}
	}
	cfg := desired.Config.Config
	for file, want := range map[string]string{
		cfg.Auth.BearerTokenFile: "ingest-tokens/tokens.txt",
		cfg.TLS.CertFile:         "traces-serving-cert/tls.crt",
		cfg.TLS.KeyFile:          "traces-serving-cert/tls.key",
		cfg.TLS.ClientCAFile:     "traces-client-ca/ca.crt",
	} {
		if got := files[file]; got != want {
			t.Errorf("config file %s holds %q, want Secret key %q (mounted: %v)", file, got, want, files)
		}
	}
}
