package ingest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/format"
)

// The wire paths of both formats (format.ProtoEncoder) take well-formed
// protobuf requests without pdata. Whatever the body, a request must get
// the same answer, the same stored lines and the same metrics as on the
// pdata path, which stays the reference.

// wireFormats are the formats whose encoders have a wire path.
var wireFormats = []config.Format{config.FormatDBGPT, config.FormatOTLPJSON}

// exportOutcome is everything a request leads to.
type exportOutcome struct {
	response string // the response's protobuf encoding, or the status
	lines    [][]byte
	metrics  string
}

func (o exportOutcome) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "response: %s\nmetrics: %s\n", o.response, o.metrics)
	for i, l := range o.lines {
		fmt.Fprintf(&b, "line %d: %s\n", i, l)
	}
	return b.String()
}

// tightLimits are limits small enough for the test and fuzz requests to
// cross them: over them the wire path declines and the pdata path applies
// them, with the same outcome.
var tightLimits = Options{MaxSpansPerRequest: 4, MaxAttributesPerSpan: 3, MaxAttributeValueBytes: 8}

// exportVia sends body to a gRPC service whose encoder of format f has its
// wire path, or not; limits holds the limits of the Options.
func exportVia(t *testing.T, body []byte, f config.Format, wire bool, limits Options) exportOutcome {
	t.Helper()
	enc, err := format.NewEncoder(f)
	if err != nil {
		t.Fatal(err)
	}
	if !wire {
		enc = pdataOnly{enc}
	}
	sub := &recordingSubmitter{}
	reg := prometheus.NewRegistry()
	svc := NewGRPCService(Options{
		Submitter: sub, Encoder: enc, Metrics: NewMetrics(reg),
		MaxSpansPerRequest: limits.MaxSpansPerRequest, MaxAttributesPerSpan: limits.MaxAttributesPerSpan, MaxAttributeValueBytes: limits.MaxAttributeValueBytes,
	})
	var out exportOutcome
	resp, err := export(context.Background(), svc, &grpcRequest{body: mem.SliceBuffer(body)})
	if err != nil {
		st, _ := status.FromError(err)
		out.response = fmt.Sprintf("status %s: %s", st.Code(), st.Message())
	} else {
		out.response = fmt.Sprintf("response %x", resp.(*grpcResponse).body)
	}
	for _, r := range sub.records {
		if f == config.FormatDBGPT && r.Spans != 1 {
			t.Fatalf("dbgpt record holds %d spans", r.Spans)
		}
		out.lines = append(out.lines, r.Line)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var metrics strings.Builder
	for _, f := range families {
		for _, m := range f.GetMetric() {
			fmt.Fprintf(&metrics, "%s%v=%v ", f.GetName(), m.GetLabel(), m.GetCounter().GetValue())
		}
	}
	out.metrics = metrics.String()
	return out
}

// compareExportPaths compares the paths of each format with the default
// limits and with tightLimits.
func compareExportPaths(t *testing.T, body []byte) {
	t.Helper()
	for _, limits := range []Options{{}, tightLimits} {
		for _, f := range wireFormats {
			compareExportPathsOf(t, body, f, limits)
		}
	}
}

func compareExportPathsOf(t *testing.T, body []byte, f config.Format, limits Options) {
	t.Helper()
	wire, ref := exportVia(t, body, f, true, limits), exportVia(t, body, f, false, limits)
	same := wire.response == ref.response && wire.metrics == ref.metrics && len(wire.lines) == len(ref.lines)
	for i := 0; same && i < len(ref.lines); i++ {
		same = bytes.Equal(wire.lines[i], ref.lines[i])
	}
	if !same {
		t.Fatalf("%s: wire and pdata paths differ with limits %+v\nwire:\n%s\npdata:\n%s", f, limits, wire, ref)
	}
}

// FuzzOTLPProtoWirePath compares the two paths of each format on
// arbitrary bodies. Its seed corpus (testdata/fuzz/FuzzOTLPProtoWirePath)
// holds valid requests of every shape, requests with invalid spans, and
// broken encodings.
func FuzzOTLPProtoWirePath(f *testing.F) {
	seeds, _, _ := limitSeeds(f)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		compareExportPaths(t, body)
	})
}

func TestWirePathSameOutcome(t *testing.T) {
	valid := func(td ptrace.Traces) []byte {
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	withSpans := func(ids ...[2][]byte) []byte {
		td := ptrace.NewTraces()
		ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
		for i, id := range ids {
			s := ss.Spans().AppendEmpty()
			s.SetTraceID(pcommon.TraceID(id[0]))
			s.SetSpanID(pcommon.SpanID(id[1]))
			s.SetName(fmt.Sprintf("span-%d", i))
		}
		return valid(td)
	}
	good := [2][]byte{bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 8)}
	zeroTrace := [2][]byte{make([]byte, 16), bytes.Repeat([]byte{2}, 8)}
	zeroSpan := [2][]byte{bytes.Repeat([]byte{1}, 16), make([]byte, 8)}
	cases := []struct {
		name string
		body []byte
	}{
		{"telemetrygen shape", valid(benchTraces())},
		{"empty body", nil},
		{"garbage", []byte("not a protobuf request")},
		{"empty and zero ids are a partial success", withSpans(good, zeroTrace, zeroSpan, good)},
		{"only invalid spans", withSpans(zeroTrace)},
		// pdata refuses a request with an id of the wrong length; salvage
		// drops those spans and the rest is stored.
		{"malformed ids are a partial success", func() []byte {
			span := func(traceID, spanID []byte) *tracepb.Span {
				return &tracepb.Span{TraceId: traceID, SpanId: spanID, Name: "s"}
			}
			req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
				ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{
					span(good[0], good[1]), span(good[0][:15], good[1]), span(good[0], good[1][:3]), span(good[0], good[1]),
				}}},
			}}}
			body, err := proto.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			return body
		}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			compareExportPaths(t, tc.body)
		})
	}
	// The telemetrygen request must actually take the wire path.
	defaults := format.AttributeLimits{MaxCount: config.DefaultMaxAttributesPerSpan, MaxValueBytes: config.DefaultMaxAttributeValueBytes}
	for _, f := range wireFormats {
		enc, err := format.NewEncoder(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, spans, ok := enc.(format.ProtoEncoder).EncodeOTLPProto(cases[0].body, defaults); !ok || spans != benchSpans {
			t.Fatalf("%s: wire path took the telemetrygen request: %v with %d spans, want true with %d", f, ok, spans, benchSpans)
		}
	}
}
