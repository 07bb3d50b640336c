package manifests

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/sink/config"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// specSchema is the openAPIV3Schema of the generated CRD's spec: what the
// API server accepts, as opposed to what the Go constants say.
func specSchema(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "tracing.spansink.dev_spansinks.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd map[string]any
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatal(err)
	}
	versions := crd["spec"].(map[string]any)["versions"].([]any)
	schema := versions[0].(map[string]any)["schema"].(map[string]any)["openAPIV3Schema"].(map[string]any)
	return schema["properties"].(map[string]any)["spec"].(map[string]any)
}

// schemaField walks properties down a dotted path such as "storage.format".
func schemaField(t *testing.T, schema map[string]any, path ...string) map[string]any {
	t.Helper()
	node := schema
	for _, name := range path {
		props, ok := node["properties"].(map[string]any)
		if !ok {
			t.Fatalf("CRD schema: no properties above %q in %v", name, path)
		}
		node, ok = props[name].(map[string]any)
		if !ok {
			t.Fatalf("CRD schema: no field %q in %v", name, path)
		}
	}
	return node
}

func schemaEnum(t *testing.T, schema map[string]any, path ...string) []string {
	t.Helper()
	raw, ok := schemaField(t, schema, path...)["enum"].([]any)
	if !ok || len(raw) == 0 {
		t.Fatalf("CRD schema: %v has no enum", path)
	}
	values := make([]string, len(raw))
	for i, v := range raw {
		values[i] = v.(string)
	}
	return values
}

func schemaNumber(t *testing.T, schema map[string]any, key string, path ...string) int64 {
	t.Helper()
	v, ok := schemaField(t, schema, path...)[key].(float64)
	if !ok {
		t.Fatalf("CRD schema: %v has no %s", path, key)
	}
	return int64(v)
}

// Every value the CRD accepts must become a config the collector accepts:
// each enum value of format, compression and delivery mode (read from the
// generated CRD, so a value added there without the collector learning it
// fails here), combined with the extremes of the numeric ranges.
func TestEveryCRDValueMakesAConfigTheCollectorAccepts(t *testing.T) {
	schema := specSchema(t)
	formats := schemaEnum(t, schema, "storage", "format")
	compressions := schemaEnum(t, schema, "storage", "rotation", "compress")
	modes := schemaEnum(t, schema, "delivery", "mode")
	minSize := schemaNumber(t, schema, "minimum", "batch", "size")
	maxSize := schemaNumber(t, schema, "maximum", "batch", "size")
	maxQueue := schemaNumber(t, schema, "maximum", "batch", "maxQueuedSpans")
	maxGrace := schemaNumber(t, schema, "maximum", "terminationGracePeriodSeconds")
	limitBound := func(key, field string) int64 { return schemaNumber(t, schema, key, "limits", field) }
	limitsAt := func(key string, timeout time.Duration) v1alpha1.LimitsSpec {
		return v1alpha1.LimitsSpec{
			MaxRequestBytes:        limitBound(key, "maxRequestBytes"),
			MaxInflightBytes:       limitBound(key, "maxInflightBytes"),
			MaxConcurrentRequests:  int32(limitBound(key, "maxConcurrentRequests")),
			MaxConcurrentStreams:   int32(limitBound(key, "maxConcurrentStreams")),
			RequestTimeout:         &metav1.Duration{Duration: timeout},
			MaxAttributesPerSpan:   int32(limitBound(key, "maxAttributesPerSpan")),
			MaxAttributeValueBytes: ptr.To(limitBound(key, "maxAttributeValueBytes")),
		}
	}

	type extreme struct {
		name   string
		mutate func(*v1alpha1.SpanSink)
	}
	extremes := []extreme{
		{"defaults", func(*v1alpha1.SpanSink) {}},
		{"smallest batch, shortest flush, shortest grace", func(s *v1alpha1.SpanSink) {
			s.Spec.Batch = v1alpha1.BatchSpec{Size: int32(minSize), FlushInterval: &metav1.Duration{Duration: 10 * time.Millisecond}, MaxQueuedSpans: int32(minSize)}
			s.Spec.TerminationGracePeriodSeconds = ptr.To[int64](10)
			s.Spec.Storage.Rotation.MaxSize = ptr.To(resource.MustParse("0"))
			s.Spec.Storage.Rotation.MaxAge = &metav1.Duration{}
			// requestTimeout's rule allows 1s to 1h.
			s.Spec.Limits = limitsAt("minimum", time.Second)
		}},
		{"largest batch, longest flush, longest grace", func(s *v1alpha1.SpanSink) {
			s.Spec.Batch = v1alpha1.BatchSpec{Size: int32(maxSize), FlushInterval: &metav1.Duration{Duration: time.Hour}, MaxQueuedSpans: int32(maxQueue)}
			s.Spec.TerminationGracePeriodSeconds = ptr.To(maxGrace)
			s.Spec.Storage.Rotation.MaxFiles = 100000
			s.Spec.Storage.Rotation.Daily = ptr.To(false)
			s.Spec.Limits = limitsAt("maximum", time.Hour)
		}},
		{"auth, TLS with client certificates, debug, network policy", func(s *v1alpha1.SpanSink) {
			secured := securedSink()
			s.Spec.Auth, s.Spec.TLS, s.Spec.Debug, s.Spec.NetworkPolicy = secured.Spec.Auth, secured.Spec.TLS, secured.Spec.Debug, secured.Spec.NetworkPolicy
		}},
	}
	for _, format := range formats {
		for _, compress := range compressions {
			for _, mode := range modes {
				for _, ex := range extremes {
					name := fmt.Sprintf("%s/%s/%s/%s", format, compress, mode, ex.name)
					t.Run(name, func(t *testing.T) {
						sink := defaultedSink()
						sink.Spec.Storage.Format = v1alpha1.Format(format)
						sink.Spec.Storage.Rotation.Compress = v1alpha1.Compression(compress)
						sink.Spec.Delivery.Mode = v1alpha1.DeliveryMode(mode)
						ex.mutate(sink)
						rendered, err := RenderConfig(sink)
						if err != nil {
							t.Fatalf("the operator refuses a CRD-valid spec: %v", err)
						}
						cfg, err := config.Parse(rendered.Bytes)
						if err != nil {
							t.Fatalf("the collector refuses the config of a CRD-valid spec: %v", err)
						}
						if err := cfg.Validate(); err != nil {
							t.Fatalf("config.Validate refuses the config of a CRD-valid spec: %v", err)
						}
						if string(cfg.Storage.Format) != format || string(cfg.Storage.Rotation.Compress) != compress || string(cfg.Delivery.Mode) != mode {
							t.Errorf("config has format %q, compress %q, mode %q; want %q, %q, %q",
								cfg.Storage.Format, cfg.Storage.Rotation.Compress, cfg.Delivery.Mode, format, compress, mode)
						}
					})
				}
			}
		}
	}
}

// The CRD's rule that maxInflightBytes holds a largest request stands in
// the collector's defaults for a field left out; they must be the
// collector's actual defaults, or the CRD would accept a spec the collector
// refuses (or refuse one it takes).
func TestLimitsRuleUsesTheCollectorDefaults(t *testing.T) {
	limits := schemaField(t, specSchema(t), "limits")
	rules, _ := limits["x-kubernetes-validations"].([]any)
	var rule string
	for _, r := range rules {
		if text := r.(map[string]any)["rule"].(string); strings.Contains(text, "maxInflightBytes") {
			rule = text
		}
	}
	if rule == "" {
		t.Fatal("CRD schema: limits has no rule about maxInflightBytes")
	}
	for name, value := range map[string]int64{
		"config.DefaultMaxInflightBytes": config.DefaultMaxInflightBytes,
		"config.DefaultMaxRequestBytes":  config.DefaultMaxRequestBytes,
	} {
		if !strings.Contains(rule, ": "+strconv.FormatInt(value, 10)+")") {
			t.Errorf("limits rule %q does not use %s (%d) for a field left out", rule, name, value)
		}
	}
	// The defaults themselves satisfy the rule, as the collector requires.
	if config.DefaultMaxInflightBytes < config.DefaultMaxRequestBytes {
		t.Errorf("collector defaults break the rule: inflight %d < request %d", config.DefaultMaxInflightBytes, config.DefaultMaxRequestBytes)
	}
}

// Every storage.dbgpt.records value the CRD accepts, with format dbgpt,
// must become a config the collector accepts that writes what it names.
func TestEveryDBGPTRecordsValueMakesAConfigTheCollectorAccepts(t *testing.T) {
	values := schemaEnum(t, specSchema(t), "storage", "dbgpt", "records")
	if len(values) != 2 {
		t.Fatalf("CRD schema: storage.dbgpt.records has values %v; a new one needs the collector to learn it", values)
	}
	for _, value := range values {
		t.Run(value, func(t *testing.T) {
			sink := defaultedSink()
			sink.Spec.Storage.DBGPT = &v1alpha1.DBGPTStorageSpec{Records: v1alpha1.DBGPTRecords(value)}
			rendered, err := RenderConfig(sink)
			if err != nil {
				t.Fatalf("the operator refuses a CRD-valid spec: %v", err)
			}
			cfg, err := config.Parse(rendered.Bytes)
			if err != nil {
				t.Fatalf("the collector refuses the config of a CRD-valid spec: %v", err)
			}
			if want := value == string(config.DBGPTRecordsStartEnd); cfg.Storage.DBGPT.StartEnd() != want {
				t.Errorf("records %s: the collector writes start and end records %v, want %v", value, cfg.Storage.DBGPT.StartEnd(), want)
			}
		})
	}
}
