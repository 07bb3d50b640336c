package ingest

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc/mem"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/format"
	"github.com/spansink/spansink/sink/format/formattest"
	"github.com/spansink/spansink/sink/record"
)

// benchSpans is the request size the benchmarks send, shared with
// sink/format's benchmarks so their figures compare.
const benchSpans = formattest.RequestSpans

// benchTraces builds a request shaped like telemetrygen's.
func benchTraces() ptrace.Traces { return formattest.Traces(benchSpans) }

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
	body := formattest.DBGPTLines(benchSpans)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeDBGPT(body, 0); err != nil {
			b.Fatal(err)
		}
	}
	reportPerSpan(b, benchSpans)
}

// BenchmarkDecodeDBGPTArray is BenchmarkDecodeDBGPT for the same records
// sent as one JSON array, which is checked as a whole before its records
// are decoded.
func BenchmarkDecodeDBGPTArray(b *testing.B) {
	body := []byte{'['}
	for i := range benchSpans {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, formattest.DBGPTRecord(i)...)
	}
	body = append(body, ']')
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeDBGPT(body, 0); err != nil {
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
// gRPC framing: decode and encoding (on the wire path, or through pdata),
// validation and the response. The dbgpt format's sub-benchmarks are named
// by the path alone, as earlier figures name them; otlp-json's carry the
// format.
func BenchmarkGRPCExportPath(b *testing.B) {
	body, err := ptraceotlp.NewExportRequestFromTraces(benchTraces()).MarshalProto()
	if err != nil {
		b.Fatal(err)
	}
	for _, bench := range []struct {
		name, path string
		format     config.Format
	}{
		{"wire", "wire", config.FormatDBGPT}, {"pdata", "pdata", config.FormatDBGPT},
		{"otlp-json-wire", "wire", config.FormatOTLPJSON}, {"otlp-json-pdata", "pdata", config.FormatOTLPJSON},
	} {
		b.Run(bench.name, func(b *testing.B) {
			enc, err := format.NewEncoder(bench.format)
			if err != nil {
				b.Fatal(err)
			}
			opts := Options{Submitter: discardSubmitter{}, Encoder: enc}
			if bench.path == "pdata" {
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

// BenchmarkHTTPHandlerDBGPT serves POST /v1/spans in process, as
// BenchmarkHTTPHandlerProto serves OTLP/HTTP: body read, decode, encoding
// in each format, response. Its ns/span beside BenchmarkHTTPHandlerProto's
// is issue 13's "DB-GPT records at least as cheap as OTLP/HTTP spans".
//
// otlp-json-one-rejected sends a request whose first record has an
// all-zero span id, which no OTLP span may have: the record is rejected,
// the other records are stored, and the request is not to cost more than
// one whose records all convert.
func BenchmarkHTTPHandlerDBGPT(b *testing.B) {
	body := formattest.DBGPTLines(benchSpans)
	oneRejected := bytes.Replace(body, []byte(":0000000000000001"), []byte(":0000000000000000"), 1)
	if bytes.Equal(oneRejected, body) {
		b.Fatal("no record's span id to zero")
	}
	for _, bench := range []struct {
		name   string
		format config.Format
		body   []byte
	}{
		{"dbgpt", config.FormatDBGPT, body},
		{"otlp-json", config.FormatOTLPJSON, body},
		{"otlp-json-one-rejected", config.FormatOTLPJSON, oneRejected},
	} {
		b.Run(bench.name, func(b *testing.B) {
			body := bench.body
			enc, err := format.NewEncoder(bench.format)
			if err != nil {
				b.Fatal(err)
			}
			// With the collector's request limit, which makes the decoder
			// count the records before it decodes them.
			h := NewHTTPHandler(Options{Submitter: discardSubmitter{}, Encoder: enc, MaxSpansPerRequest: config.DefaultMaxQueuedSpans})
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, DBGPTPath, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/x-ndjson")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			reportPerSpan(b, benchSpans)
		})
	}
}
