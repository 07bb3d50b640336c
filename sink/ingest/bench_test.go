package ingest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc/mem"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/format"
	"github.com/spansink/spansink/sink/record"
)

// benchSpans is the request size telemetrygen and the SDK batchers send
// by default at high rates.
const benchSpans = 100

// benchTraces builds a request shaped like telemetrygen's.
func benchTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "telemetrygen")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("telemetrygen")
	start := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	for i := range benchSpans {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
		s.SetSpanID(pcommon.SpanID{byte(i), 1, 2, 3, 4, 5, 6, 7})
		if i%2 == 1 {
			s.SetParentSpanID(pcommon.SpanID{byte(i - 1), 1, 2, 3, 4, 5, 6, 7})
		}
		s.SetKind(ptrace.SpanKindClient)
		s.SetName("okey-dokey-0")
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(123 * time.Microsecond)))
		s.Attributes().PutStr("network.peer.address", "1.2.3.4")
		s.Attributes().PutStr("peer.service", "telemetrygen-server")
	}
	return td
}

func reportPerSpan(b *testing.B, spans int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans), "ns/span")
}

func BenchmarkDecodeOTLPProto(b *testing.B) {
	body, err := ptraceotlp.NewExportRequestFromTraces(benchTraces()).MarshalProto()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DecodeOTLPProto(body); err != nil {
			b.Fatal(err)
		}
	}
	reportPerSpan(b, benchSpans)
}

func BenchmarkDecodeOTLPJSON(b *testing.B) {
	body, err := ptraceotlp.NewExportRequestFromTraces(benchTraces()).MarshalJSON()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DecodeOTLPJSON(body); err != nil {
			b.Fatal(err)
		}
	}
	reportPerSpan(b, benchSpans)
}

func BenchmarkDecodeDBGPT(b *testing.B) {
	var body bytes.Buffer
	for i := range benchSpans {
		fmt.Fprintf(&body, `{"span_type":"run","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"0af7651916cd43dd8448eb211c80319c:%016x","parent_span_id":null,"operation_name":"DefaultModelWorker_call.generate_stream_func","start_time":"2024-03-01 10:00:00.123","end_time":"2024-03-01 10:00:01.456","metadata":{"model_name":"vicuna-13b-v1.5"}}`+"\n", i)
	}
	b.SetBytes(int64(body.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeDBGPT(body.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
	reportPerSpan(b, benchSpans)
}

// discardSubmitter acknowledges everything, so the benchmarks measure
// ingest alone.
type discardSubmitter struct{}

func (discardSubmitter) Submit(context.Context, []record.Record) error { return nil }

func benchOptions(b *testing.B) Options {
	enc, err := format.NewEncoder(config.FormatDBGPT)
	if err != nil {
		b.Fatal(err)
	}
	return Options{Submitter: discardSubmitter{}, Encoder: enc}
}

// pdataOnly hides an encoder's wire path (format.ProtoEncoder), so that
// every request takes the pdata path: the reference the wire path is
// compared with.
type pdataOnly struct{ format.Encoder }

// BenchmarkGRPCExportPath is what an OTLP/gRPC request costs ingest after
// gRPC framing: decode and dbgpt encoding (on the wire path, or through
// pdata), validation and the response.
func BenchmarkGRPCExportPath(b *testing.B) {
	body, err := ptraceotlp.NewExportRequestFromTraces(benchTraces()).MarshalProto()
	if err != nil {
		b.Fatal(err)
	}
	for _, path := range []string{"wire", "pdata"} {
		b.Run(path, func(b *testing.B) {
			opts := benchOptions(b)
			if path == "pdata" {
				opts.Encoder = pdataOnly{opts.Encoder}
			}
			svc := NewGRPCService(opts)
			b.ReportAllocs()
			for b.Loop() {
				req := &grpcRequest{body: mem.SliceBuffer(body)}
				if _, err := export(context.Background(), svc, req); err != nil {
					b.Fatal(err)
				}
			}
			reportPerSpan(b, benchSpans)
		})
	}
}

// BenchmarkHTTPHandlerProto serves OTLP/HTTP protobuf requests in process,
// without a network: body read, decode, encode, response.
func BenchmarkHTTPHandlerProto(b *testing.B) {
	body, err := ptraceotlp.NewExportRequestFromTraces(benchTraces()).MarshalProto()
	if err != nil {
		b.Fatal(err)
	}
	h := NewHTTPHandler(benchOptions(b))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, TracesPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentTypeProto)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
	reportPerSpan(b, benchSpans)
}
