package format

import (
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spansink/spansink/sink/config"
)

// benchTraces builds a request shaped like telemetrygen's: one resource, one
// scope, spans alternating server and client with a few attributes.
func benchTraces(spans int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "telemetrygen")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("telemetrygen")
	start := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	for i := range spans {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
		s.SetSpanID(pcommon.SpanID{byte(i), 1, 2, 3, 4, 5, 6, 7})
		if i%2 == 1 {
			s.SetParentSpanID(pcommon.SpanID{byte(i - 1), 1, 2, 3, 4, 5, 6, 7})
			s.SetKind(ptrace.SpanKindClient)
			s.SetName("okey-dokey-0")
		} else {
			s.SetKind(ptrace.SpanKindServer)
			s.SetName("lets-go")
		}
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(123 * time.Microsecond)))
		s.Attributes().PutStr("network.peer.address", "1.2.3.4")
		s.Attributes().PutStr("peer.service", "telemetrygen-server")
		s.Status().SetCode(ptrace.StatusCodeUnset)
	}
	return td
}

func benchmarkEncodeTraces(b *testing.B, f config.Format) {
	enc := mustEncoder(b, f)
	for _, n := range []int{1, 100} {
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
func BenchmarkEncodeDBGPT(b *testing.B) { benchmarkEncodeTraces(b, config.FormatDBGPT) }

// BenchmarkEncodeOTLPJSON is the otlp-json format through pdata's marshaler.
func BenchmarkEncodeOTLPJSON(b *testing.B) { benchmarkEncodeTraces(b, config.FormatOTLPJSON) }

// BenchmarkEncodeDBGPTRecords writes DB-GPT records as sent.
func BenchmarkEncodeDBGPTRecords(b *testing.B) {
	start, end := "2024-03-01 10:00:00.123", "2024-03-01 10:00:01.456"
	spans := make([]DBGPTSpan, 100)
	for i := range spans {
		spans[i] = DBGPTSpan{SpanType: "run", TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "0af7651916cd43dd8448eb211c80319c:b7ad6b7169203331",
			OperationName: "DefaultModelWorker_call.generate_stream_func", StartTime: &start, EndTime: &end,
			Metadata: []byte(`{"model_name":"vicuna-13b-v1.5","sys_infos":{"cpu":"x86_64","gpu":"A100"}}`)}
	}
	enc := mustEncoder(b, config.FormatDBGPT)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := enc.EncodeDBGPT(spans); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(spans)), "ns/span")
}
