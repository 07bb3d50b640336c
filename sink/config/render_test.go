package config

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"sigs.k8s.io/yaml"
)

// Render must write what sigs.k8s.io/yaml's Marshal writes, byte for byte:
// the operator hashes the rendering onto the collector's pod, so any other
// byte would roll every collector at an operator upgrade. Every field of
// the config, found by reflection so that a field added later is covered
// too, takes random values, among them the strings YAML reads as something
// else and the integers at the edges of their types.
func TestRenderIsSigsYAMLMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		cfg := Default()
		if i > 0 {
			randomize(rng, reflect.ValueOf(&cfg).Elem())
		}
		got, err := cfg.Render()
		if err != nil {
			t.Fatal(err)
		}
		want, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("config %d renders differently:\n--- Render\n%s\n--- sigs.k8s.io/yaml\n%s", i, got, want)
		}
	}
}

// yamlTrickyStrings are strings that YAML 1.1 resolves to other types or
// must quote.
var yamlTrickyStrings = []string{
	"", "yes", "no", "on", "off", "true", "null", "~", "1", "-1", "0x1F", "1e3", "1_000", ".5", "0b101",
	"2024-01-01", ":", "a: b", "# x", "- x", "'", "\"", "multi\nline", " lead", "trail ", "é中文", "\t",
	"/data/traces/app.jsonl", "10.0.0.1:4317", "s3.eu-west-1.amazonaws.com",
}

// randomize sets every settable field under v to a random value of its kind.
func randomize(rng *rand.Rand, v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				randomize(rng, v.Field(i))
			}
		}
	case reflect.String:
		v.SetString(yamlTrickyStrings[rng.IntN(len(yamlTrickyStrings))])
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		edges := []int64{0, 1, -1, math.MaxInt64, math.MinInt64, 1 << 53, 1<<53 + 1, rng.Int64(), -rng.Int64N(1 << 40)}
		n := edges[rng.IntN(len(edges))]
		if bits := v.Type().Bits(); bits < 64 {
			n = n << (64 - bits) >> (64 - bits)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		edges := []uint64{0, 1, math.MaxUint64, math.MaxInt64 + 1, rng.Uint64()}
		n := edges[rng.IntN(len(edges))]
		if bits := v.Type().Bits(); bits < 64 {
			n = n << (64 - bits) >> (64 - bits)
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		edges := []float64{0, 0.5, 1e21, 1e-7, -2.5, rng.Float64() * 1e6, math.MaxFloat64}
		v.SetFloat(edges[rng.IntN(len(edges))])
	}
}

// BenchmarkRender is what the operator pays for a SpanSink's config on
// every pass.
func BenchmarkRender(b *testing.B) {
	cfg := Default()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cfg.Render(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderSigsYAML is the same through sigs.k8s.io/yaml's Marshal,
// what Render did before, for comparison.
func BenchmarkRenderSigsYAML(b *testing.B) {
	cfg := Default()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := yaml.Marshal(cfg); err != nil {
			b.Fatal(err)
		}
	}
}
