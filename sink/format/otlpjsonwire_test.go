package format

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/spansink/spansink/sink/config"
)

// The otlp-json wire path must write the line EncodeTraces writes after
// pdata decoded the same request and applied the limits, and that line
// must read back, with the JSON unmarshaler of the Collector's
// otlpjsonfile receiver, into the traces pdata's protobuf decoder gave
// (strings repaired as validUTF8 repairs them). It must not take a
// request pdata refuses, whose spans ingest would drop, or that the limits
// would change; declining returns nothing else.

// compareOTLPJSONWire checks the property for body under limits and
// returns whether the wire path took the request.
func compareOTLPJSONWire(t *testing.T, body []byte, limits AttributeLimits) bool {
	t.Helper()
	enc := mustEncoder(t, config.FormatOTLPJSON)
	records, spans, ok := enc.(ProtoEncoder).EncodeOTLPProto(body, limits)
	if !ok {
		if records != nil || spans != 0 {
			t.Fatalf("wire path declined but returned %d records, %d spans", len(records), spans)
		}
		return false
	}
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		t.Fatalf("wire path took a request pdata refuses (%v)", err)
	}
	td := req.Traces()
	if err := CheckNesting(td); err != nil {
		t.Fatalf("wire path took a request nested too deep: %v", err)
	}
	if c := limits.Apply(td); c != (LimitCounts{}) {
		t.Fatalf("wire path took a request over the limits %+v: %+v", limits, c)
	}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for k, s := range ss.Spans().All() {
				if s.TraceID().IsEmpty() || s.SpanID().IsEmpty() {
					t.Fatalf("wire path took span %d with an empty id, which ingest drops", k)
				}
			}
		}
	}
	want, err := enc.EncodeTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	if spans != td.SpanCount() || len(records) != len(want) {
		t.Fatalf("wire path: %d spans in %d records, pdata path: %d spans in %d records", spans, len(records), td.SpanCount(), len(want))
	}
	if len(want) == 0 {
		return true
	}
	if records[0].Spans != want[0].Spans {
		t.Fatalf("wire record holds %d spans, pdata's %d", records[0].Spans, want[0].Spans)
	}
	if !bytes.Equal(records[0].Line, want[0].Line) {
		t.Fatalf("line differs\nwire:  %s\npdata: %s", records[0].Line, want[0].Line)
	}
	var u ptrace.JSONUnmarshaler
	back, err := u.UnmarshalTraces(records[0].Line)
	if err != nil {
		t.Fatalf("otlpjsonfile's reader refuses the line: %v\n%s", err, records[0].Line)
	}
	// The line reads back as pdata's own line does: as pdata's decoding
	// with strings repaired by validUTF8 ...
	ref, err := u.UnmarshalTraces(want[0].Line)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := protoOf(t, back), protoOf(t, ref); !bytes.Equal(got, want) {
		t.Fatalf("the line reads back as other traces than pdata's line\nline: %s\nread back: %x\npdata's:   %x", records[0].Line, got, want)
	}
	// ... which, where no string needed repair, is what pdata decoded.
	var m ptrace.JSONMarshaler
	if raw, err := m.MarshalTraces(td); err == nil && utf8.Valid(raw) {
		canonicalNaN(td)
		if got, want := protoOf(t, back), protoOf(t, td); !bytes.Equal(got, want) {
			t.Fatalf("the line reads back as other traces than pdata decoded\nline: %s\nread back: %x\ndecoded:   %x", records[0].Line, got, want)
		}
	}
	return true
}

// canonicalNaN sets every NaN attribute value of td to math.NaN(): JSON
// has one NaN, so its payload bits do not survive the line.
func canonicalNaN(td ptrace.Traces) {
	var fixValue func(v pcommon.Value)
	fixMap := func(m pcommon.Map) {
		for _, v := range m.All() {
			fixValue(v)
		}
	}
	fixValue = func(v pcommon.Value) {
		switch v.Type() {
		case pcommon.ValueTypeDouble:
			if math.IsNaN(v.Double()) {
				v.SetDouble(math.NaN())
			}
		case pcommon.ValueTypeSlice:
			for _, e := range v.Slice().All() {
				fixValue(e)
			}
		case pcommon.ValueTypeMap:
			for _, e := range v.Map().All() {
				fixValue(e)
			}
		}
	}
	for _, rs := range td.ResourceSpans().All() {
		fixMap(rs.Resource().Attributes())
		for _, ss := range rs.ScopeSpans().All() {
			fixMap(ss.Scope().Attributes())
			for _, s := range ss.Spans().All() {
				fixMap(s.Attributes())
				for _, ev := range s.Events().All() {
					fixMap(ev.Attributes())
				}
				for _, l := range s.Links().All() {
					fixMap(l.Attributes())
				}
			}
		}
	}
}

// protoOf is td's protobuf encoding, which compares doubles by their bits
// (NaN equals itself) and maps in their order.
func protoOf(t *testing.T, td ptrace.Traces) []byte {
	t.Helper()
	var m ptrace.ProtoMarshaler
	b, err := m.MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// otlpJSONCases are requests that exercise what only the otlp-json line
// writes: dropped counts at every level, flags, schema URLs, scope
// attributes, counts beyond uint32 and enums beyond int32.
func otlpJSONCases(tb testing.TB) []wireCase {
	return []wireCase{
		{"dropped counts, flags and schema URLs everywhere", func() []byte {
			td := ptrace.NewTraces()
			s := newSpan(td)
			s.SetFlags(0x301)
			s.SetDroppedAttributesCount(1)
			s.SetDroppedEventsCount(2)
			s.SetDroppedLinksCount(3)
			ev := s.Events().AppendEmpty()
			ev.SetDroppedAttributesCount(4)
			l := s.Links().AppendEmpty()
			l.SetDroppedAttributesCount(5)
			l.SetFlags(0x100)
			l.SetTraceID(pcommon.TraceID{})
			l.SetSpanID(pcommon.SpanID{7})
			rs := td.ResourceSpans().At(0)
			rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
			rs.Resource().SetDroppedAttributesCount(6)
			ss := rs.ScopeSpans().At(0)
			ss.SetSchemaUrl("scope schema \"quoted\"")
			ss.Scope().SetDroppedAttributesCount(7)
			ss.Scope().Attributes().PutStr("scope.attr", "x")
			return protoBody(tb, td)
		}(), true},
		{"scopes and resources without spans", func() []byte {
			td := ptrace.NewTraces()
			newSpan(td)
			td.ResourceSpans().At(0).ScopeSpans().AppendEmpty().Scope().SetName("idle scope")
			td.ResourceSpans().AppendEmpty().Resource().Attributes().PutStr("service.name", "idle")
			td.ResourceSpans().AppendEmpty()
			return protoBody(tb, td)
		}(), true},
		{"counts beyond uint32 keep their low bits", request(wireSpanOf(
			tagVarint(nil, spanDroppedAttrs, 1<<32|9), tagVarint(nil, spanDroppedEvents, 1<<32),
			tagBytes(nil, spanStatus, tagVarint(nil, statusCode, 1<<32|2)),
		)), true},
		{"negative kind and status code", request(wireSpanOf(
			tagVarint(nil, spanKind, math.MaxUint64), tagBytes(nil, spanStatus, tagVarint(nil, statusCode, math.MaxUint64-1)),
		)), true},
		{"empty nested lists and values", request(wireSpanOf(
			tagBytes(nil, spanAttributes, kv("empty-array", tagBytes(nil, anyArray, nil))),
			tagBytes(nil, spanAttributes, kv("empty-kvlist", tagBytes(nil, anyKvlist, nil))),
			tagBytes(nil, spanAttributes, kv("array-of-empty", tagBytes(nil, anyArray, tagBytes(nil, listValues, nil)))),
			tagBytes(nil, spanAttributes, kv("kvlist-of-empty", tagBytes(nil, anyKvlist, tagBytes(nil, listValues, nil)))),
			tagBytes(nil, spanAttributes, kv("empty-bytes", tagBytes(nil, anyBytes, nil))),
			tagBytes(nil, spanAttributes, kv("empty-string", tagBytes(nil, anyString, nil))),
			tagBytes(nil, spanAttributes, kv("", strValue("empty key"))),
		)), true},
		{"entity refs take the pdata path", func() []byte {
			rs := tagBytes(nil, resourceSpansResource, tagBytes(nil, resourceEntityRefs, tagString(nil, 1, "service")))
			rs = tagBytes(rs, resourceSpansScopes, tagBytes(nil, scopeSpansSpans, wireSpanOf()))
			return tagBytes(nil, requestResourceSpans, rs)
		}(), false},
	}
}

// otlpJSONCorpus is every request of the differential tests: the pdata-built
// and hand-built requests of the dbgpt wire path, the otlp-json ones and
// the requests at the limits.
func otlpJSONCorpus(tb testing.TB) []wireCase {
	var corpus []wireCase
	for _, tc := range pdataCases() {
		td := ptrace.NewTraces()
		tc.build(td)
		corpus = append(corpus, wireCase{name: "pdata " + tc.name, body: protoBody(tb, td), take: true})
	}
	for _, tc := range wireCases() {
		// The dbgpt line needs service.name as a string; otlp-json
		// takes any value.
		if tc.name == "service.name not a string" {
			tc.take = true
		}
		corpus = append(corpus, tc)
	}
	corpus = append(corpus, otlpJSONCases(tb)...)
	corpus = append(corpus, wireCase{name: "20 attributes", body: protoBody(tb, attributesTraces(20)), take: true})
	// Over the collector's default of 128 attributes per span.
	corpus = append(corpus, wireCase{name: "300 attributes", body: protoBody(tb, attributesTraces(300)), take: true})
	seeds := limitSeeds(tb)
	for i, body := range seeds {
		// Without limits only the last two, nested one level too deep,
		// take the pdata path.
		corpus = append(corpus, wireCase{name: fmt.Sprintf("limit seed %d", i), body: body, take: i < len(seeds)-2})
	}
	return corpus
}

func protoBody(tb testing.TB, td ptrace.Traces) []byte {
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

func TestOTLPJSONWireMatchesPdata(t *testing.T) {
	for _, tc := range otlpJSONCorpus(t) {
		t.Run(tc.name, func(t *testing.T) {
			if took := compareOTLPJSONWire(t, tc.body, AttributeLimits{}); took != tc.take {
				t.Fatalf("wire path took the request: %v, want %v", took, tc.take)
			}
			// Over the limits the wire path declines; within them it
			// must agree.
			compareOTLPJSONWire(t, tc.body, fuzzLimits)
			compareOTLPJSONWire(t, tc.body, benchLimits)
		})
	}
}

// TestOTLPJSONWireLimits checks that the wire path leaves to pdata exactly
// the requests the limits would change, and takes those at the limits.
func TestOTLPJSONWireLimits(t *testing.T) {
	enc := mustEncoder(t, config.FormatOTLPJSON).(ProtoEncoder)
	for i, body := range limitSeeds(t) {
		req := ptraceotlp.NewExportRequest()
		// What pdata refuses (nesting past its recursion limit) or the
		// limits would change must take the pdata path.
		changes := req.UnmarshalProto(body) != nil || CheckNesting(req.Traces()) != nil || fuzzLimits.Apply(req.Traces()) != (LimitCounts{})
		if _, _, ok := enc.EncodeOTLPProto(body, fuzzLimits); ok == changes {
			t.Errorf("seed %d: wire path took it: %v, the limits or nesting would change it: %v", i, ok, changes)
		}
	}
}

// FuzzOTLPJSONWirePath checks the property on arbitrary bodies, with and
// without limits. Its seeds are the requests of the differential test and
// the seed corpus of the dbgpt wire path's fuzzer
// (testdata/fuzz/FuzzEncodeOTLPProto), read from there so that the two
// fuzzers start from the same requests.
func FuzzOTLPJSONWirePath(f *testing.F) {
	for _, tc := range otlpJSONCorpus(f) {
		f.Add(tc.body)
	}
	for _, body := range corpusSeeds(f, "FuzzEncodeOTLPProto") {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		compareOTLPJSONWire(t, body, AttributeLimits{})
		compareOTLPJSONWire(t, body, fuzzLimits)
	})
}

// attributesTraces is formattest's telemetrygen request with n string,
// int, double and bool attributes per span instead of two.
func attributesTraces(n int) ptrace.Traces {
	td := benchTraces(100)
	for _, s := range td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().All() {
		attrs := s.Attributes()
		attrs.Clear()
		for i := range n {
			key := fmt.Sprintf("attribute.%02d", i)
			switch i % 4 {
			case 0:
				attrs.PutStr(key, "a typical value of some length")
			case 1:
				attrs.PutInt(key, int64(i)*1000)
			case 2:
				attrs.PutDouble(key, float64(i)+0.25)
			case 3:
				attrs.PutBool(key, i%8 == 3)
			}
		}
	}
	return td
}

// BenchmarkEncodeOTLPJSONProto compares the otlp-json wire path with
// decoding into pdata and EncodeTraces, on telemetrygen's request and on
// one of 20 attributes per span.
func BenchmarkEncodeOTLPJSONProto(b *testing.B) {
	enc := mustEncoder(b, config.FormatOTLPJSON)
	for _, shape := range []struct {
		name string
		td   ptrace.Traces
	}{{"telemetrygen", benchTraces(100)}, {"attrs=20", attributesTraces(20)}} {
		body, err := ptraceotlp.NewExportRequestFromTraces(shape.td).MarshalProto()
		if err != nil {
			b.Fatal(err)
		}
		spans := shape.td.SpanCount()
		b.Run(shape.name+"/wire", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, ok := enc.(ProtoEncoder).EncodeOTLPProto(body, benchLimits); !ok {
					b.Fatal("wire path declined")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans), "ns/span")
		})
		b.Run(shape.name+"/pdata", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				req := ptraceotlp.NewExportRequest()
				if err := req.UnmarshalProto(body); err != nil {
					b.Fatal(err)
				}
				td := req.Traces()
				benchLimits.Apply(td)
				if _, err := enc.EncodeTraces(td); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans), "ns/span")
		})
	}
}

// corpusSeeds reads the []byte inputs of a fuzz target's seed corpus in
// testdata/fuzz/<target>, in the file format of go test's fuzzing.
func corpusSeeds(f *testing.F, target string) [][]byte {
	paths, err := filepath.Glob(filepath.Join("testdata", "fuzz", target, "*"))
	if err != nil {
		f.Fatal(err)
	}
	if len(paths) == 0 {
		f.Fatalf("no seed corpus in testdata/fuzz/%s", target)
	}
	var bodies [][]byte
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		header, value, _ := strings.Cut(string(data), "\n")
		literal, ok := strings.CutPrefix(strings.TrimSpace(value), "[]byte(")
		literal, ok2 := strings.CutSuffix(literal, ")")
		if header != "go test fuzz v1" || !ok || !ok2 {
			f.Fatalf("%s: not a corpus file of one []byte", path)
		}
		body, err := strconv.Unquote(literal)
		if err != nil {
			f.Fatalf("%s: %v", path, err)
		}
		bodies = append(bodies, []byte(body))
	}
	return bodies
}
