package format

import (
	"bytes"
	"math"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/spansink/spansink/sink/config"
)

// The wire path must write exactly what EncodeTraces writes after pdata
// decoded the same request, and must not take a request that pdata
// refuses or whose spans ingest would drop. The tests below build requests
// both with pdata (every value type and span part) and by hand on the wire
// (orders, repeats and encodings pdata never writes) and compare.

// compareWire encodes body on both paths and fails when the wire path
// took a request pdata refuses, or wrote other lines. It returns whether
// the wire path took the request.
func compareWire(t *testing.T, body []byte) bool {
	t.Helper()
	return compareWireLimits(t, body, AttributeLimits{})
}

// compareWireLimits is compareWire with attribute limits: a request the
// wire path takes must be one they leave as it is, within the nesting
// limit, so that the pdata path (which applies them) writes the same lines.
func compareWireLimits(t *testing.T, body []byte, limits AttributeLimits) bool {
	t.Helper()
	took := compareWireStorage(t, body, limits, config.Storage{Format: config.FormatDBGPT})
	// The start and end records of startEnd come from the same lines, so
	// the wire path takes the same requests in either mode.
	if tookPairs := compareWireStorage(t, body, limits, startEndStorage); tookPairs != took {
		t.Fatalf("wire path took the request: %v with one line per span, %v with start and end records", took, tookPairs)
	}
	return took
}

// compareWireStorage is compareWireLimits for the dbgpt encoder of one
// storage config.
func compareWireStorage(t *testing.T, body []byte, limits AttributeLimits, storage config.Storage) bool {
	t.Helper()
	encoder, err := EncoderFor(storage)
	if err != nil {
		t.Fatal(err)
	}
	enc := encoder.(ProtoEncoder)
	records, spans, ok := enc.EncodeOTLPProto(body, limits)
	req := ptraceotlp.NewExportRequest()
	refErr := req.UnmarshalProto(body)
	if !ok {
		if records != nil || spans != 0 {
			t.Fatalf("wire path declined but returned %d records, %d spans", len(records), spans)
		}
		return false
	}
	if refErr != nil {
		t.Fatalf("wire path took a request pdata refuses (%v)", refErr)
	}
	td := req.Traces()
	if err := CheckNesting(td); err != nil {
		t.Fatalf("wire path took a request nested too deep: %v", err)
	}
	if c := limits.Apply(td); c != (LimitCounts{}) {
		t.Fatalf("wire path took a request over the limits %+v: %+v", limits, c)
	}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j).Spans()
			for k := 0; k < ss.Len(); k++ {
				if ss.At(k).TraceID().IsEmpty() || ss.At(k).SpanID().IsEmpty() {
					t.Fatalf("wire path took span %d with an empty id, which ingest drops", k)
				}
			}
		}
	}
	want, err := encoder.EncodeTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	if spans != td.SpanCount() || len(records) != len(want) {
		t.Fatalf("wire path: %d spans in %d records, pdata path: %d spans in %d records", spans, len(records), td.SpanCount(), len(want))
	}
	counted := 0
	for i := range want {
		if records[i].Spans != want[i].Spans || records[i].Spans > 1 || (records[i].Spans == 0 && !storage.DBGPT.StartEnd()) {
			t.Fatalf("record %d holds %d spans, on the pdata path %d", i, records[i].Spans, want[i].Spans)
		}
		counted += records[i].Spans
		if !bytes.Equal(records[i].Line, want[i].Line) {
			t.Fatalf("line %d differs\nwire:  %s\npdata: %s", i, records[i].Line, want[i].Line)
		}
		checkLine(t, records[i].Line)
	}
	if counted != spans {
		t.Fatalf("records hold %d spans, the wire path counted %d", counted, spans)
	}
	return true
}

func marshalTraces(t *testing.T, td ptrace.Traces) []byte {
	t.Helper()
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// newSpan adds a span with valid ids to a fresh request.
func newSpan(td ptrace.Traces) ptrace.Span {
	rs := td.ResourceSpans().AppendEmpty()
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	s.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	return s
}

// putEveryValue puts one attribute of every value type, and the edge
// cases of each, into m.
func putEveryValue(m pcommon.Map) {
	m.PutStr("str", "plain")
	m.PutStr("empty", "")
	m.PutStr("escapes", "quote\" backslash\\ nl\n tab\t ctl\x01 <html>&")
	m.PutStr("invalid-utf8", "a\xffb\xc3(c\xed\xa0\x80")
	m.PutStr("unicode", "日本語 ✓ \u2028")
	m.PutStr("", "empty key")
	m.PutBool("true", true)
	m.PutBool("false", false)
	m.PutInt("int", -42)
	m.PutInt("int-max", math.MaxInt64)
	m.PutInt("int-min", math.MinInt64)
	for name, f := range map[string]float64{
		"zero": 0, "neg-zero": math.Copysign(0, -1), "pi": 3.14159, "small": 1e-7, "big": 1e21, "integral": 42,
		"nan": math.NaN(), "inf": math.Inf(1), "neg-inf": math.Inf(-1), "max": math.MaxFloat64, "tiny": math.SmallestNonzeroFloat64,
	} {
		m.PutDouble("double-"+name, f)
	}
	m.PutEmptyBytes("bytes").FromRaw([]byte{0, 1, 2, 0xff, 0xfe})
	m.PutEmptyBytes("bytes-empty")
	m.PutEmpty("empty-value")
	sl := m.PutEmptySlice("slice")
	sl.AppendEmpty().SetStr("a")
	sl.AppendEmpty().SetInt(1)
	sl.AppendEmpty().SetBool(true)
	sl.AppendEmpty().SetDouble(2.5)
	sl.AppendEmpty()
	sl.AppendEmpty().SetEmptyBytes().FromRaw([]byte("xy"))
	sl.AppendEmpty().SetEmptySlice().AppendEmpty().SetEmptyMap().PutStr("deep", "x")
	m.PutEmptySlice("slice-empty")
	mm := m.PutEmptyMap("map")
	mm.PutStr("k", "v")
	mm.PutEmptyMap("nested").PutEmptySlice("list").AppendEmpty().SetInt(7)
	m.PutEmptyMap("map-empty")
}

// pdataCase is a request built with pdata.
type pdataCase struct {
	name  string
	build func(td ptrace.Traces)
}

func pdataCases() []pdataCase {
	start := time.Date(2025, 6, 7, 8, 9, 10, 123456789, time.UTC)
	return []pdataCase{
		{"telemetrygen shape", func(td ptrace.Traces) { benchTraces(100).CopyTo(td) }},
		{"empty request", func(ptrace.Traces) {}},
		{"resource without spans", func(td ptrace.Traces) {
			td.ResourceSpans().AppendEmpty().Resource().Attributes().PutStr("service.name", "idle")
		}},
		{"every value type in span attributes", func(td ptrace.Traces) { putEveryValue(newSpan(td).Attributes()) }},
		{"every value type in resource attributes", func(td ptrace.Traces) {
			newSpan(td)
			putEveryValue(td.ResourceSpans().At(0).Resource().Attributes())
		}},
		{"minimal span", func(td ptrace.Traces) { newSpan(td) }},
		{"full span", func(td ptrace.Traces) {
			s := newSpan(td)
			s.SetParentSpanID(pcommon.SpanID{9, 9, 9, 9, 9, 9, 9, 9})
			s.SetName("GET /users/{id}")
			s.SetKind(ptrace.SpanKindProducer)
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(1500 * time.Millisecond)))
			s.TraceState().FromRaw("vendor=abc,other=1")
			s.SetFlags(1)
			s.SetDroppedAttributesCount(3)
			s.SetDroppedEventsCount(4)
			s.SetDroppedLinksCount(5)
			s.Status().SetCode(ptrace.StatusCodeError)
			s.Status().SetMessage("boom \xff")
			s.Attributes().PutStr("http.method", "GET")
		}},
		{"events", func(td ptrace.Traces) {
			s := newSpan(td)
			ev := s.Events().AppendEmpty()
			ev.SetName("exception")
			ev.SetTimestamp(pcommon.NewTimestampFromTime(start))
			putEveryValue(ev.Attributes())
			ev.SetDroppedAttributesCount(2)
			s.Events().AppendEmpty()
			s.Events().AppendEmpty().SetName("no attributes")
		}},
		{"links", func(td ptrace.Traces) {
			s := newSpan(td)
			l := s.Links().AppendEmpty()
			l.SetTraceID(pcommon.TraceID{0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xff})
			l.SetSpanID(pcommon.SpanID{0xbb, 1, 2, 3, 4, 5, 6, 7})
			l.TraceState().FromRaw("k=v")
			l.Attributes().PutInt("n", 1)
			l.SetFlags(1)
			s.Links().AppendEmpty()
		}},
		{"status ok without message", func(td ptrace.Traces) { newSpan(td).Status().SetCode(ptrace.StatusCodeOk) }},
		{"status code out of range", func(td ptrace.Traces) {
			s := newSpan(td)
			s.Status().SetCode(ptrace.StatusCode(7))
			s.Status().SetMessage("odd")
		}},
		{"kind out of range", func(td ptrace.Traces) { newSpan(td).SetKind(ptrace.SpanKind(42)) }},
		{"kind negative", func(td ptrace.Traces) { newSpan(td).SetKind(ptrace.SpanKind(-1)) }},
		{"span_type attribute", func(td ptrace.Traces) { newSpan(td).Attributes().PutStr("span_type", "chat") }},
		{"dbgpt.span_type attribute", func(td ptrace.Traces) { newSpan(td).Attributes().PutStr("dbgpt.span_type", "run") }},
		{"empty span_type falls back to dbgpt.span_type", func(td ptrace.Traces) {
			a := newSpan(td).Attributes()
			a.PutStr("span_type", "")
			a.PutStr("dbgpt.span_type", "agent")
		}},
		{"span_type not a string", func(td ptrace.Traces) { newSpan(td).Attributes().PutInt("span_type", 3) }},
		{"span_type needing escapes", func(td ptrace.Traces) { newSpan(td).Attributes().PutStr("span_type", "a\"b\xff") }},
		{"service.name and scope", func(td ptrace.Traces) {
			newSpan(td)
			rs := td.ResourceSpans().At(0)
			rs.Resource().Attributes().PutStr("service.name", "checkout")
			rs.Resource().Attributes().PutStr("host.name", "h1")
			rs.Resource().SetDroppedAttributesCount(1)
			rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.21.0")
			ss := rs.ScopeSpans().At(0)
			ss.Scope().SetName("lib")
			ss.Scope().SetVersion("1.2.3")
			putEveryValue(ss.Scope().Attributes())
			ss.SetSchemaUrl("https://example.com")
		}},
		{"empty service.name", func(td ptrace.Traces) {
			newSpan(td)
			td.ResourceSpans().At(0).Resource().Attributes().PutStr("service.name", "")
		}},
		{"scope with version only", func(td ptrace.Traces) {
			newSpan(td)
			td.ResourceSpans().At(0).ScopeSpans().At(0).Scope().SetVersion("v2")
		}},
		{"zero and far timestamps", func(td ptrace.Traces) {
			s := newSpan(td)
			s.SetStartTimestamp(0)
			s.SetEndTimestamp(pcommon.Timestamp(math.MaxUint64))
			s.Events().AppendEmpty().SetTimestamp(pcommon.Timestamp(1))
		}},
		// The wire path remembers the last second it formatted.
		{"times within and across seconds", func(td ptrace.Traces) {
			ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
			base := uint64(start.UnixNano())
			for i, ns := range []uint64{base, base + 1e6, base + 999e6, base + 1e9, base + 86400e9, base, 1, 1 << 63, 1<<63 + 1e9, math.MaxUint64, base} {
				s := ss.AppendEmpty()
				s.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(i + 1)})
				s.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i + 1)})
				s.SetStartTimestamp(pcommon.Timestamp(ns))
				s.SetEndTimestamp(pcommon.Timestamp(ns + 5e8))
			}
		}},
		{"several resources and scopes", func(td ptrace.Traces) {
			for r := range 3 {
				rs := td.ResourceSpans().AppendEmpty()
				rs.Resource().Attributes().PutInt("r", int64(r))
				if r != 1 {
					rs.Resource().Attributes().PutStr("service.name", "svc")
				}
				for sc := range 2 {
					ss := rs.ScopeSpans().AppendEmpty()
					ss.Scope().SetName("scope")
					for k := range r + sc {
						s := ss.Spans().AppendEmpty()
						s.SetTraceID(pcommon.TraceID{byte(r + 1), byte(sc), byte(k), 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
						s.SetSpanID(pcommon.SpanID{byte(k + 1), 2, 3, 4, 5, 6, 7, 8})
						s.SetName("op")
					}
				}
			}
		}},
	}
}

func TestWireMatchesPdata(t *testing.T) {
	for _, tc := range pdataCases() {
		t.Run(tc.name, func(t *testing.T) {
			td := ptrace.NewTraces()
			tc.build(td)
			if !compareWire(t, marshalTraces(t, td)) {
				t.Fatal("wire path declined a well-formed request")
			}
		})
	}
}

// Hand-built wire encodings. Helpers append one field each.

func tagBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func tagString(b []byte, num protowire.Number, s string) []byte { return tagBytes(b, num, []byte(s)) }

func tagVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func tagFixed64(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, v)
}

func tagFixed32(b []byte, num protowire.Number, v uint32) []byte {
	b = protowire.AppendTag(b, num, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, v)
}

// unknownFields appends one unknown field of each scalar wire type and a
// length-delimited one.
func unknownFields(b []byte) []byte {
	b = tagVarint(b, 90, 1<<40)
	b = tagFixed32(b, 91, 7)
	b = tagFixed64(b, 92, 8)
	return tagString(b, 93, "ignored")
}

var (
	wireTraceID = []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	wireSpanID  = []byte{1, 2, 3, 4, 5, 6, 7, 8}
)

func kv(key string, value []byte) []byte {
	return tagBytes(tagString(nil, keyValueKey, key), keyValueValue, value)
}

func strValue(s string) []byte { return tagString(nil, anyString, s) }

// request wraps span encodings into a request with one resource and scope.
func request(spans ...[]byte) []byte {
	var ss []byte
	for _, s := range spans {
		ss = tagBytes(ss, scopeSpansSpans, s)
	}
	rs := tagBytes(nil, resourceSpansScopes, ss)
	return tagBytes(nil, requestResourceSpans, rs)
}

// wireSpanOf is a valid span with the extra fields appended.
func wireSpanOf(extra ...[]byte) []byte {
	b := tagBytes(nil, spanTraceID, wireTraceID)
	b = tagBytes(b, spanSpanID, wireSpanID)
	for _, e := range extra {
		b = append(b, e...)
	}
	return b
}

// wireCase is a request encoded by hand.
type wireCase struct {
	name string
	body []byte
	// take says whether the wire path must take the request; when it
	// declines, pdata decides.
	take bool
}

func wireCases() []wireCase {
	event := tagString(tagFixed64(nil, eventTime, 5), eventName, "ev")
	return []wireCase{
		{"unknown fields at every level", func() []byte {
			value := unknownFields(strValue("v"))
			attr := unknownFields(kv("k", value))
			ev := unknownFields(tagBytes(event, eventAttributes, attr))
			link := unknownFields(tagBytes(tagBytes(nil, linkTraceID, wireTraceID), linkAttributes, attr))
			status := unknownFields(tagVarint(nil, statusCode, 2))
			span := unknownFields(wireSpanOf(tagBytes(nil, spanAttributes, attr), tagBytes(nil, spanEvents, ev),
				tagBytes(nil, spanLinks, link), tagBytes(nil, spanStatus, status)))
			scope := unknownFields(tagString(nil, scopeName, "s"))
			ss := unknownFields(tagBytes(tagBytes(nil, scopeSpansScope, scope), scopeSpansSpans, span))
			resource := unknownFields(tagBytes(nil, resourceAttributes, kv("service.name", strValue("svc"))))
			rs := unknownFields(tagBytes(tagBytes(nil, resourceSpansResource, resource), resourceSpansScopes, ss))
			return unknownFields(tagBytes(nil, requestResourceSpans, rs))
		}(), true},
		{"fields in reverse order", func() []byte {
			span := tagBytes(nil, spanStatus, tagVarint(tagString(nil, statusMessage, "m"), statusCode, 2))
			// An empty KeyValue: key "" and no value.
			span = tagBytes(span, spanAttributes, nil)
			span = tagBytes(span, spanAttributes, append(tagBytes(nil, keyValueValue, strValue("v")), tagString(nil, keyValueKey, "k")...))
			span = tagFixed64(span, spanEnd, 2e18)
			span = tagFixed64(span, spanStart, 1e18)
			span = tagVarint(span, spanKind, 2)
			span = tagString(span, spanName, "reversed")
			span = tagBytes(span, spanSpanID, wireSpanID)
			span = tagBytes(span, spanTraceID, wireTraceID)
			ss := tagBytes(nil, scopeSpansSpans, span)
			ss = tagBytes(ss, scopeSpansScope, tagString(nil, scopeName, "late scope"))
			rs := tagBytes(nil, resourceSpansScopes, ss)
			rs = tagBytes(rs, resourceSpansResource, tagBytes(nil, resourceAttributes, kv("service.name", strValue("late"))))
			return tagBytes(nil, requestResourceSpans, rs)
		}(), true},
		{"repeated fields interleaved", request(wireSpanOf(
			tagBytes(nil, spanAttributes, kv("a", strValue("1"))),
			tagBytes(nil, spanEvents, event),
			tagBytes(nil, spanLinks, tagBytes(nil, linkSpanID, wireSpanID)),
			tagBytes(nil, spanAttributes, kv("b", strValue("2"))),
			tagBytes(nil, spanEvents, tagString(nil, eventName, "second")),
			tagBytes(nil, spanAttributes, kv("a", strValue("duplicate key"))),
		)), true},
		{"last of a repeated scalar wins", request(wireSpanOf(
			tagString(nil, spanName, "first"), tagString(nil, spanName, "last"),
			tagVarint(nil, spanKind, 1), tagVarint(nil, spanKind, 3),
			tagBytes(nil, spanParentSpanID, []byte{5, 5, 5, 5, 5, 5, 5, 5}), tagBytes(nil, spanParentSpanID, nil),
		)), true},
		{"first span_type attribute counts", request(wireSpanOf(
			tagBytes(nil, spanAttributes, kv("span_type", tagVarint(nil, anyInt, 1))),
			tagBytes(nil, spanAttributes, kv("span_type", strValue("ignored"))),
			tagBytes(nil, spanAttributes, kv("dbgpt.span_type", strValue("used"))),
		)), true},
		{"first service.name counts", func() []byte {
			res := tagBytes(nil, resourceAttributes, kv("service.name", strValue("one")))
			res = tagBytes(res, resourceAttributes, kv("service.name", strValue("two")))
			rs := tagBytes(nil, resourceSpansResource, res)
			rs = tagBytes(rs, resourceSpansScopes, tagBytes(nil, scopeSpansSpans, wireSpanOf()))
			return tagBytes(nil, requestResourceSpans, rs)
		}(), true},
		{"parent id all zero reads as none", request(wireSpanOf(tagBytes(nil, spanParentSpanID, make([]byte, 8)))), true},
		{"key without value and value without oneof", request(wireSpanOf(
			tagBytes(nil, spanAttributes, tagString(nil, keyValueKey, "novalue")),
			tagBytes(nil, spanAttributes, kv("emptyvalue", nil)),
			tagBytes(nil, spanAttributes, tagBytes(nil, keyValueValue, strValue("nokey"))),
		)), true},
		{"non-minimal varints", request(wireSpanOf(
			append(protowire.AppendTag(nil, spanKind, protowire.VarintType), 0x82, 0x80, 0x80, 0x00),
		)), true},
		{"kind beyond int32", request(wireSpanOf(tagVarint(nil, spanKind, 1<<32|2))), true},
		{"int value as large varint", request(wireSpanOf(
			tagBytes(nil, spanAttributes, kv("neg", tagVarint(nil, anyInt, math.MaxUint64))),
			tagBytes(nil, spanAttributes, kv("bool", tagVarint(nil, anyBool, 1<<40))),
		)), true},
		{"invalid UTF-8 everywhere", func() []byte {
			bad := "\xff\xfe\xc0\xaf"
			span := wireSpanOf(tagString(nil, spanName, bad), tagString(nil, spanTraceState, bad),
				tagBytes(nil, spanAttributes, kv(bad, strValue(bad))),
				tagBytes(nil, spanStatus, tagString(nil, statusMessage, bad)),
				tagBytes(nil, spanEvents, tagString(nil, eventName, bad)),
				tagBytes(nil, spanLinks, tagString(nil, linkTraceState, bad)))
			ss := tagBytes(tagBytes(nil, scopeSpansScope, tagString(tagString(nil, scopeName, bad), scopeVersion, bad)), scopeSpansSpans, span)
			rs := tagBytes(tagBytes(nil, resourceSpansResource, tagBytes(nil, resourceAttributes, kv("service.name", strValue(bad)))), resourceSpansScopes, ss)
			return tagBytes(nil, requestResourceSpans, rs)
		}(), true},

		// Declined: pdata refuses these, or ingest drops their spans, or
		// they are legal but odd and left to pdata.
		{"truncated", request(wireSpanOf(tagString(nil, spanName, "cut")))[:20], false},
		{"kind sent length-delimited (packed)", request(wireSpanOf(tagBytes(nil, spanKind, []byte{1, 2}))), false},
		{"name sent as varint", request(wireSpanOf(tagVarint(nil, spanName, 1))), false},
		{"start time sent as varint", request(wireSpanOf(tagVarint(nil, spanStart, 1))), false},
		{"flags sent as fixed64", request(wireSpanOf(tagFixed64(nil, spanFlags, 1))), false},
		{"attribute value sent as varint", request(wireSpanOf(tagBytes(nil, spanAttributes, tagVarint(tagString(nil, keyValueKey, "k"), keyValueValue, 1)))), false},
		{"double sent as varint", request(wireSpanOf(tagBytes(nil, spanAttributes, kv("d", tagVarint(nil, anyDouble, 1))))), false},
		{"trace id of 15 bytes", request(tagBytes(tagBytes(nil, spanTraceID, wireTraceID[:15]), spanSpanID, wireSpanID)), false},
		{"span id of 9 bytes", request(tagBytes(tagBytes(nil, spanTraceID, wireTraceID), spanSpanID, append(wireSpanID, 9))), false},
		{"parent id of 4 bytes", request(wireSpanOf(tagBytes(nil, spanParentSpanID, wireSpanID[:4]))), false},
		{"link trace id of 3 bytes", request(wireSpanOf(tagBytes(nil, spanLinks, tagBytes(nil, linkTraceID, wireTraceID[:3])))), false},
		{"trace id missing", request(tagBytes(nil, spanSpanID, wireSpanID)), false},
		{"trace id all zero", request(tagBytes(tagBytes(nil, spanTraceID, make([]byte, 16)), spanSpanID, wireSpanID)), false},
		{"span id all zero", request(tagBytes(tagBytes(nil, spanTraceID, wireTraceID), spanSpanID, make([]byte, 8))), false},
		{"unknown group field", request(wireSpanOf(protowire.AppendTag(protowire.AppendTag(nil, 50, protowire.StartGroupType), 50, protowire.EndGroupType))), false},
		{"illegal wire type", request(wireSpanOf(protowire.AppendTag(nil, 50, 6))), false},
		{"field number zero", request(wireSpanOf([]byte{0x00, 0x01})), false},
		{"status sent twice", request(wireSpanOf(tagBytes(nil, spanStatus, tagVarint(nil, statusCode, 2)), tagBytes(nil, spanStatus, tagString(nil, statusMessage, "m")))), false},
		{"value oneof sent twice", request(wireSpanOf(tagBytes(nil, spanAttributes, kv("k", tagVarint(strValue("s"), anyInt, 1))))), false},
		{"string index key", request(wireSpanOf(tagBytes(nil, spanAttributes, tagVarint(nil, keyValueKeyStrindex, 1)))), false},
		{"deprecated instrumentation library spans", tagBytes(nil, requestResourceSpans, tagBytes(nil, resourceSpansDeprecatedScopes, tagBytes(nil, scopeSpansSpans, wireSpanOf()))), false},
		{"service.name not a string", func() []byte {
			rs := tagBytes(nil, resourceSpansResource, tagBytes(nil, resourceAttributes, kv("service.name", tagVarint(nil, anyInt, 5))))
			rs = tagBytes(rs, resourceSpansScopes, tagBytes(nil, scopeSpansSpans, wireSpanOf()))
			return tagBytes(nil, requestResourceSpans, rs)
		}(), false},
		{"values nested too deep", func() []byte {
			v := strValue("bottom")
			for range 60 {
				v = tagBytes(nil, anyArray, tagBytes(nil, listValues, v))
			}
			return request(wireSpanOf(tagBytes(nil, spanAttributes, kv("deep", v))))
		}(), false},
	}
}

func TestWireEncodings(t *testing.T) {
	for _, tc := range wireCases() {
		t.Run(tc.name, func(t *testing.T) {
			if took := compareWire(t, tc.body); took != tc.take {
				t.Fatalf("wire path took the request: %v, want %v", took, tc.take)
			}
		})
	}
}

// FuzzEncodeOTLPProto compares the wire path with pdata's decoding and
// EncodeTraces on arbitrary bodies. The seed corpus in
// testdata/fuzz/FuzzEncodeOTLPProto holds the requests of the table tests
// above.
func FuzzEncodeOTLPProto(f *testing.F) {
	for _, body := range limitSeeds(f) {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		compareWire(t, body)
		compareWireLimits(t, body, fuzzLimits)
	})
}

// BenchmarkEncodeOTLPProto compares the wire path with decoding into pdata
// and EncodeTraces, on a request shaped like telemetrygen's.
func BenchmarkEncodeOTLPProto(b *testing.B) {
	body, err := ptraceotlp.NewExportRequestFromTraces(benchTraces(100)).MarshalProto()
	if err != nil {
		b.Fatal(err)
	}
	enc := mustEncoder(b, config.FormatDBGPT)
	benchmarkWire := func(enc Encoder) func(b *testing.B) {
		return func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, ok := enc.(ProtoEncoder).EncodeOTLPProto(body, benchLimits); !ok {
					b.Fatal("wire path declined")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/span")
		}
	}
	b.Run("wire", benchmarkWire(enc))
	b.Run("wire-startEnd", benchmarkWire(mustStartEndEncoder(b)))
	b.Run("pdata", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			req := ptraceotlp.NewExportRequest()
			if err := req.UnmarshalProto(body); err != nil {
				b.Fatal(err)
			}
			if _, err := enc.EncodeTraces(req.Traces()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/span")
	})
}
