package format

import (
	"encoding/json"
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/format/formattest"
)

// benchTraces is the telemetrygen-shaped request that the benchmarks here
// and in sink/ingest measure.
func benchTraces(spans int) ptrace.Traces { return formattest.Traces(spans) }

func benchmarkEncodeTraces(b *testing.B, storage config.Storage) {
	enc, err := EncoderFor(storage)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, formattest.RequestSpans} {
		td := benchTraces(n)
		b.Run(fmt.Sprintf("spans=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var bytes int
			for b.Loop() {
				records, err := enc.EncodeTraces(td)
				if err != nil {
					b.Fatal(err)
				}
				bytes = 0
				for _, r := range records {
					bytes += len(r.Line)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/span")
			b.ReportMetric(float64(bytes)/float64(n), "bytes/span")
		})
	}
}

// BenchmarkEncodeDBGPT is the hot path: OTLP spans to dbgpt lines.
func BenchmarkEncodeDBGPT(b *testing.B) {
	benchmarkEncodeTraces(b, config.Storage{Format: config.FormatDBGPT})
}

// BenchmarkEncodeDBGPTStartEnd is BenchmarkEncodeDBGPT writing a start and
// an end record per span (storage.dbgpt.records startEnd); bytes/span
// counts both lines.
func BenchmarkEncodeDBGPTStartEnd(b *testing.B) { benchmarkEncodeTraces(b, startEndStorage) }

// BenchmarkEncodeOTLPJSON is the otlp-json format through pdata's marshaler.
func BenchmarkEncodeOTLPJSON(b *testing.B) {
	benchmarkEncodeTraces(b, config.Storage{Format: config.FormatOTLPJSON})
}

// BenchmarkEncodeDBGPTRecords writes DB-GPT records in each format: as
// sent in dbgpt, converted to OTLP spans in otlp-json.
func BenchmarkEncodeDBGPTRecords(b *testing.B) {
	spans := make([]DBGPTSpan, formattest.RequestSpans)
	for i := range spans {
		if err := json.Unmarshal([]byte(formattest.DBGPTRecord(i)), &spans[i]); err != nil {
			b.Fatal(err)
		}
	}
	for _, format := range []config.Format{config.FormatDBGPT, config.FormatOTLPJSON} {
		b.Run("format="+string(format), func(b *testing.B) {
			enc := mustEncoder(b, format)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := enc.EncodeDBGPT(spans); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(spans)), "ns/span")
		})
	}
}
