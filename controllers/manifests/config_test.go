package manifests

import (
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
		{"unset flush uses the 60s floor", nil, nil, 60, 55 * time.Second},
		{"short flush uses the floor", &metav1.Duration{Duration: 5 * time.Second}, nil, 60, 55 * time.Second},
		{"long flush gets a 30s margin", &metav1.Duration{Duration: 45 * time.Second}, nil, 75, 70 * time.Second},
		{"fractional seconds round up", &metav1.Duration{Duration: 40*time.Second + 10*time.Millisecond}, nil, 71, 66 * time.Second},
		{"longest flush", &metav1.Duration{Duration: time.Hour}, nil, 3630, 3625 * time.Second},
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
	for name, sink := range map[string]*v1alpha1.SpanSink{"default": defaultedSink(), "custom": customSink()} {
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
