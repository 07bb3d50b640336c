package ingest

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/format"
	"github.com/spansink/spansink/sink/record"
)

// sdkSpans makes a small trace with the OpenTelemetry SDK and returns the
// ended spans as an exporter would receive them.
func sdkSpans(t *testing.T) []sdktrace.ReadOnlySpan {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(rec),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "shop"), attribute.Int("replica", 2))),
	)
	tracer := tp.Tracer("github.com/acme/shop", trace.WithInstrumentationVersion("1.0.0"))
	ctx, root := tracer.Start(context.Background(), "GET /cart", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("span_type", "chat"), attribute.Int64("http.status_code", 200), attribute.StringSlice("tags", []string{"a", "b"})))
	_, child := tracer.Start(ctx, "SELECT cart", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.Bool("db.cached", false), attribute.Float64("ratio", 0.25)))
	child.AddEvent("retry", trace.WithAttributes(attribute.Int("attempt", 2)))
	child.End()
	root.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("recorded %d spans, want 2", len(spans))
	}
	return spans
}

// assertStored checks that each SDK span arrived, encoded in the dbgpt
// format, with its ids, name, times and attributes.
func assertStored(t *testing.T, want []sdktrace.ReadOnlySpan, sub *recordingSubmitter) {
	t.Helper()
	lines := sub.lines()
	if len(lines) != len(want) {
		t.Fatalf("stored %d records, want %d", len(lines), len(want))
	}
	bySpanID := map[string]map[string]any{}
	for _, l := range lines {
		bySpanID[l["span_id"].(string)] = l
	}
	for _, s := range want {
		sid := s.SpanContext().SpanID()
		got, ok := bySpanID[hex.EncodeToString(sid[:])]
		if !ok {
			t.Fatalf("span %s (%s) not stored", sid, s.Name())
		}
		tid := s.SpanContext().TraceID()
		if got["trace_id"] != hex.EncodeToString(tid[:]) {
			t.Errorf("%s: trace_id %v, want %s", s.Name(), got["trace_id"], tid)
		}
		var wantParent any
		if s.Parent().IsValid() {
			pid := s.Parent().SpanID()
			wantParent = hex.EncodeToString(pid[:])
		}
		if got["parent_span_id"] != wantParent {
			t.Errorf("%s: parent_span_id %v, want %v", s.Name(), got["parent_span_id"], wantParent)
		}
		if got["operation_name"] != s.Name() {
			t.Errorf("operation_name %v, want %s", got["operation_name"], s.Name())
		}
		if want := s.StartTime().UTC().Format(format.TimeLayout); got["start_time"] != want {
			t.Errorf("%s: start_time %v, want %s", s.Name(), got["start_time"], want)
		}
		meta := got["metadata"].(map[string]any)
		if meta["service.name"] != "shop" {
			t.Errorf("%s: service.name %v", s.Name(), meta["service.name"])
		}
		if meta["span_kind"] != s.SpanKind().String() {
			t.Errorf("%s: span_kind %v, want %s", s.Name(), meta["span_kind"], s.SpanKind())
		}
		if sc := meta["scope"].(map[string]any); sc["name"] != "github.com/acme/shop" || sc["version"] != "1.0.0" {
			t.Errorf("%s: scope %v", s.Name(), sc)
		}
		if res := meta["resource"].(map[string]any); res["replica"] != float64(2) {
			t.Errorf("%s: resource %v", s.Name(), res)
		}
		// The SDK reports nanoseconds; JSON numbers decode as float64, so
		// compare the exact digits in the line instead.
		if want := strconv.FormatInt(s.EndTime().UnixNano(), 10); !containsNumber(t, sub, "end_time_unix_nano", want) {
			t.Errorf("%s: end_time_unix_nano %s not stored", s.Name(), want)
		}
		attrs := meta["attributes"].(map[string]any)
		for _, kv := range s.Attributes() {
			if !attrEqual(attrs[string(kv.Key)], kv.Value) {
				t.Errorf("%s: attribute %s = %#v, want %v", s.Name(), kv.Key, attrs[string(kv.Key)], kv.Value.Emit())
			}
		}
		if len(attrs) != len(s.Attributes()) {
			t.Errorf("%s: %d attributes stored, want %d", s.Name(), len(attrs), len(s.Attributes()))
		}
		if s.Name() == "GET /cart" && got["span_type"] != "chat" {
			t.Errorf("span_type %v, want chat", got["span_type"])
		}
		if s.Name() == "SELECT cart" {
			events, _ := meta["events"].([]any)
			if len(events) != 1 || events[0].(map[string]any)["name"] != "retry" {
				t.Errorf("events %v", events)
			}
		}
	}
}

func containsNumber(t *testing.T, sub *recordingSubmitter, key, digits string) bool {
	t.Helper()
	sub.mu.Lock()
	defer sub.mu.Unlock()
	needle := `"` + key + `":` + digits
	for _, r := range sub.records {
		if strings.Contains(string(r.Line), needle) {
			return true
		}
	}
	return false
}

func attrEqual(got any, want attribute.Value) bool {
	switch want.Type() {
	case attribute.STRING:
		return got == want.AsString()
	case attribute.INT64:
		return got == float64(want.AsInt64())
	case attribute.BOOL:
		return got == want.AsBool()
	case attribute.FLOAT64:
		return got == want.AsFloat64()
	case attribute.STRINGSLICE:
		g, ok := got.([]any)
		if !ok || len(g) != len(want.AsStringSlice()) {
			return false
		}
		for i, s := range want.AsStringSlice() {
			if g[i] != s {
				return false
			}
		}
		return true
	}
	return false
}

func TestOTLPHTTPWithSDKExporter(t *testing.T) {
	for _, compression := range []otlptracehttp.Compression{otlptracehttp.NoCompression, otlptracehttp.GzipCompression} {
		t.Run(strconv.Itoa(int(compression)), func(t *testing.T) {
			env := newTestEnv(t, config.FormatDBGPT, nil)
			exp, err := otlptracehttp.New(context.Background(),
				otlptracehttp.WithEndpointURL(env.baseURL+TracesPath),
				otlptracehttp.WithCompression(compression),
				otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
			if err != nil {
				t.Fatal(err)
			}
			defer exp.Shutdown(context.Background())
			spans := sdkSpans(t)
			if err := exp.ExportSpans(context.Background(), spans); err != nil {
				t.Fatalf("export: %v", err)
			}
			assertStored(t, spans, env.sub)
		})
	}
}

func TestOTLPHTTPSDKExporterSeesQueueFull(t *testing.T) {
	env := newTestEnv(t, config.FormatDBGPT, record.ErrQueueFull)
	exp, err := otlptracehttp.New(context.Background(),
		otlptracehttp.WithEndpointURL(env.baseURL+TracesPath),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	err = exp.ExportSpans(context.Background(), sdkSpans(t))
	if err == nil {
		t.Fatal("export succeeded against a full queue")
	}
	// The exporter classifies 429 as retryable and quotes the body, whose
	// google.rpc.Status carries the reason.
	if got := err.Error(); !strings.Contains(got, "retry-able") || !strings.Contains(got, "span queue is full") {
		t.Errorf("exporter error %q should be retryable and carry the reason", got)
	}
}

// startGRPC serves the OTLP/gRPC service on a loopback port.
func startGRPC(t *testing.T, opts Options) string {
	t.Helper()
	return startGRPCWith(t, opts, RegisterGRPCService)
}

func startGRPCWith(t *testing.T, opts Options, register func(grpc.ServiceRegistrar, ptraceotlp.GRPCServer)) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(GRPCServerOptions(opts)...)
	register(srv, NewGRPCService(opts))
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func TestOTLPGRPCWithSDKExporter(t *testing.T) {
	cases := []struct {
		name       string
		compressor string
		register   func(grpc.ServiceRegistrar, ptraceotlp.GRPCServer)
	}{
		{"plain", "", RegisterGRPCService},
		{"gzip", "gzip", RegisterGRPCService},
		{"registered by ptraceotlp", "gzip", func(s grpc.ServiceRegistrar, svc ptraceotlp.GRPCServer) {
			ptraceotlp.RegisterGRPCServer(s.(*grpc.Server), svc)
		}},
	}
	for _, tc := range cases {
		compressor := tc.compressor
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, config.FormatDBGPT, nil)
			addr := startGRPCWith(t, env.opts, tc.register)
			grpcOpts := []otlptracegrpc.Option{
				otlptracegrpc.WithEndpoint(addr),
				otlptracegrpc.WithInsecure(),
				otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}),
			}
			if compressor != "" {
				grpcOpts = append(grpcOpts, otlptracegrpc.WithCompressor(compressor))
			}
			exp, err := otlptracegrpc.New(context.Background(), grpcOpts...)
			if err != nil {
				t.Fatal(err)
			}
			defer exp.Shutdown(context.Background())
			spans := sdkSpans(t)
			if err := exp.ExportSpans(context.Background(), spans); err != nil {
				t.Fatalf("export: %v", err)
			}
			assertStored(t, spans, env.sub)
			if got := env.counter(t, "spansink_requests_total", map[string]string{"protocol": ProtocolOTLPGRPC, "code": "OK"}); got != 1 {
				t.Errorf("requests{OK} = %v, want 1", got)
			}
		})
	}
}

func grpcClient(t *testing.T, addr string) ptraceotlp.GRPCClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return ptraceotlp.NewGRPCClient(conn)
}

func TestOTLPGRPCRefusals(t *testing.T) {
	cases := []struct {
		err       error
		wantCode  codes.Code
		wantMsg   string
		wantRetry bool
	}{
		{record.ErrQueueFull, codes.ResourceExhausted, "span queue is full", true},
		{record.ErrStopping, codes.Unavailable, "collector is stopping", true},
		{record.ErrStorageUnavailable, codes.Unavailable, "storage is unavailable", true},
		// The request's context ended while Submit waited: the spans may
		// still be stored, so the context's own code and no RetryInfo.
		{fmt.Errorf("wait for fsync: %w", context.Canceled), codes.Canceled, "context canceled", false},
		{fmt.Errorf("wait for fsync: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "deadline exceeded", false},
	}
	for _, tc := range cases {
		t.Run(tc.wantCode.String(), func(t *testing.T) {
			env := newTestEnv(t, config.FormatDBGPT, tc.err)
			env.opts.RetryAfter = 2500 * time.Millisecond
			client := grpcClient(t, startGRPC(t, env.opts))
			req := ptraceotlp.NewExportRequestFromTraces(oneSpanTraces(pcommon.TraceID{1}, pcommon.SpanID{1}, "x"))
			_, err := client.Export(context.Background(), req)
			st, ok := status.FromError(err)
			if !ok || st.Code() != tc.wantCode {
				t.Fatalf("error %v, want code %s", err, tc.wantCode)
			}
			if !strings.Contains(st.Message(), tc.wantMsg) {
				t.Errorf("message %q, want %q", st.Message(), tc.wantMsg)
			}
			var info *errdetails.RetryInfo
			for _, d := range st.Details() {
				if ri, ok := d.(*errdetails.RetryInfo); ok {
					info = ri
				}
			}
			switch {
			case tc.wantRetry && (info == nil || info.GetRetryDelay().AsDuration() != 2500*time.Millisecond):
				t.Errorf("RetryInfo %v, want a 2.5s delay", info)
			case !tc.wantRetry && info != nil:
				t.Errorf("RetryInfo %v, want none", info)
			}
			if got := env.counter(t, "spansink_requests_total", map[string]string{"protocol": ProtocolOTLPGRPC, "code": tc.wantCode.String()}); got != 1 {
				t.Errorf("requests{%s} = %v, want 1", tc.wantCode, got)
			}
		})
	}
}

func TestOTLPGRPCPartialSuccess(t *testing.T) {
	env := newTestEnv(t, config.FormatDBGPT, nil)
	client := grpcClient(t, startGRPC(t, env.opts))
	td := oneSpanTraces(pcommon.TraceID{1}, pcommon.SpanID{1}, "good")
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().AppendEmpty().SetName("no ids")
	resp, err := client.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(td))
	if err != nil {
		t.Fatal(err)
	}
	if ps := resp.PartialSuccess(); ps.RejectedSpans() != 1 || !strings.Contains(ps.ErrorMessage(), "empty or all-zero trace_id") {
		t.Errorf("partial success %d %q", ps.RejectedSpans(), ps.ErrorMessage())
	}
	if lines := env.sub.lines(); len(lines) != 1 || lines[0]["operation_name"] != "good" {
		t.Errorf("stored %v", lines)
	}
}

// rawCodec sends bytes as they are, to put arbitrary payloads on the wire.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func invokeRaw(t *testing.T, addr string, body []byte) ([]byte, error) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var out []byte
	err = conn.Invoke(context.Background(), exportMethod, &body, &out, grpc.ForceCodecV2(rawCodec{}))
	return out, err
}

func TestOTLPGRPCUndecodableIsInvalidArgument(t *testing.T) {
	env := newTestEnv(t, config.FormatDBGPT, nil)
	addr := startGRPC(t, env.opts)
	_, err := invokeRaw(t, addr, []byte{0xff, 0xff, 0xff})
	st, _ := status.FromError(err)
	if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "decode OTLP protobuf ExportTraceServiceRequest") {
		t.Fatalf("error %v, want InvalidArgument saying what failed", err)
	}
	if got := env.counter(t, "spansink_requests_total", map[string]string{"protocol": ProtocolOTLPGRPC, "code": "InvalidArgument"}); got != 1 {
		t.Errorf("requests{InvalidArgument} = %v, want 1", got)
	}
	// The server keeps serving good requests.
	client := grpcClient(t, addr)
	if _, err := client.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(oneSpanTraces(pcommon.TraceID{1}, pcommon.SpanID{1}, "after"))); err != nil {
		t.Fatal(err)
	}
	if env.sub.count() != 1 {
		t.Errorf("stored %d records, want 1", env.sub.count())
	}
}

func TestOTLPGRPCMalformedIDsArePartialSuccess(t *testing.T) {
	env := newTestEnv(t, config.FormatDBGPT, nil)
	addr := startGRPC(t, env.opts)
	body, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{
			{TraceId: bytes.Repeat([]byte{1}, 16), SpanId: bytes.Repeat([]byte{2}, 8), Name: "good"},
			{TraceId: bytes.Repeat([]byte{1}, 17), SpanId: bytes.Repeat([]byte{3}, 8), Name: "long trace id"},
		}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := invokeRaw(t, addr, body)
	if err != nil {
		t.Fatal(err)
	}
	resp := ptraceotlp.NewExportResponse()
	if err := resp.UnmarshalProto(out); err != nil {
		t.Fatal(err)
	}
	if ps := resp.PartialSuccess(); ps.RejectedSpans() != 1 || !strings.Contains(ps.ErrorMessage(), "wrong length") {
		t.Errorf("partial success %d %q", ps.RejectedSpans(), ps.ErrorMessage())
	}
	if lines := env.sub.lines(); len(lines) != 1 || lines[0]["operation_name"] != "good" {
		t.Errorf("stored %v", lines)
	}
}

func TestOTLPGRPCRequestLimit(t *testing.T) {
	env := newTestEnv(t, config.FormatDBGPT, nil)
	client := grpcClient(t, startGRPC(t, env.opts))
	big := oneSpanTraces(pcommon.TraceID{1}, pcommon.SpanID{1}, string(make([]byte, 100<<10)))
	_, err := client.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(big))
	if st, _ := status.FromError(err); st.Code() != codes.ResourceExhausted {
		t.Fatalf("error %v, want ResourceExhausted for a message over the limit", err)
	}
	if env.sub.count() != 0 {
		t.Error("an oversized request was stored")
	}
}
