package format

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spansink/spansink/sink/config"
)

// TestDBGPTToOTLPRoundTrip: generated OTLP spans, written as dbgpt lines by
// the collector's encoder and converted back, are the spans they were, up
// to what the JSON layout cannot keep (see dbgptotlp.go), which the
// expectation is normalised for.
func TestDBGPTToOTLPRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	enc := mustEncoder(t, config.FormatDBGPT)
	spans := 0
	for iter := 0; iter < 300; iter++ {
		td := genTraces(rng)
		records, err := enc.EncodeTraces(td)
		if err != nil {
			t.Fatal(err)
		}
		want := singleSpanTraces(td)
		if len(records) != len(want) {
			t.Fatalf("%d records for %d spans", len(records), len(want))
		}
		for i, rec := range records {
			var line DBGPTSpan
			if err := json.Unmarshal(rec.Line, &line); err != nil {
				t.Fatalf("line does not parse: %v\n%s", err, rec.Line)
			}
			got, err := DBGPTToOTLP(&line)
			if err != nil {
				t.Fatalf("iteration %d span %d: %v\n%s", iter, i, err, rec.Line)
			}
			normalizeForJSON(want[i])
			if g, w := tracesJSON(t, got), tracesJSON(t, want[i]); g != w {
				t.Fatalf("iteration %d span %d came back changed:\n got %s\nwant %s\nline %s", iter, i, g, w, rec.Line)
			}
			spans++
		}
	}
	if spans < 500 {
		t.Fatalf("only %d spans generated; the test proves little", spans)
	}
}

// TestDBGPTToOTLPKeepsEveryField spells out one span with every field set,
// so that a failure names the field.
func TestDBGPTToOTLPKeepsEveryField(t *testing.T) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	rs.Resource().Attributes().PutInt("replica", 3)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("shop")
	ss.Scope().SetVersion("1.2.3")
	span := ss.Spans().AppendEmpty()
	span.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	span.SetSpanID(pcommon.SpanID{0xa1, 2, 3, 4, 5, 6, 7, 8})
	span.SetParentSpanID(pcommon.SpanID{0xb1, 2, 3, 4, 5, 6, 7, 8})
	span.SetName("POST /pay")
	span.SetKind(ptrace.SpanKindClient)
	span.SetStartTimestamp(1714650600000000001)
	span.SetEndTimestamp(1714650601000123456)
	span.Status().SetCode(ptrace.StatusCodeError)
	span.Status().SetMessage("card declined")
	span.TraceState().FromRaw("vendor=1")
	span.Attributes().PutStr("http.method", "POST")
	span.Attributes().PutInt("amount", 1999)
	span.Attributes().PutDouble("fx", 1.25)
	span.Attributes().PutBool("retry", true)
	span.Attributes().PutEmptySlice("tags").FromRaw([]any{"a", int64(2)})
	span.Attributes().PutEmptyMap("card").PutStr("brand", "visa")
	ev := span.Events().AppendEmpty()
	ev.SetName("declined")
	ev.SetTimestamp(1714650600500000000)
	ev.Attributes().PutStr("reason", "funds")
	link := span.Links().AppendEmpty()
	link.SetTraceID(pcommon.TraceID{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9})
	link.SetSpanID(pcommon.SpanID{8, 8, 8, 8, 8, 8, 8, 8})
	link.TraceState().FromRaw("x=y")
	link.Attributes().PutStr("why", "retry of")

	records, err := mustEncoder(t, config.FormatDBGPT).EncodeTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	var line DBGPTSpan
	if err := json.Unmarshal(records[0].Line, &line); err != nil {
		t.Fatal(err)
	}
	got, err := DBGPTToOTLP(&line)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := tracesJSON(t, got), tracesJSON(t, td); g != w {
		t.Fatalf("round trip changed the span:\n got %s\nwant %s", g, w)
	}
}

// TestDBGPTToOTLPNativeRecord: a record DB-GPT's tracer wrote, without OTLP
// metadata, becomes the span the otlp-json format stores for it, under the
// service its metadata names.
func TestDBGPTToOTLPNativeRecord(t *testing.T) {
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	end := DBGPTSpan{
		SpanType: "chat", TraceID: traceID, SpanID: traceID + ":b7ad6b7169203331",
		ParentSpanID: strPtr(traceID + ":0102030405060708"), OperationName: "chat_completion",
		StartTime: strPtr("2024-03-01 10:00:00.250"), EndTime: strPtr("2024-03-01 10:00:01.250123"),
		Metadata: json.RawMessage(`{"service.name":"webserver","model":"vicuna","tokens":120,"ratio":0.5,"error":"timeout"}`),
	}
	td, err := DBGPTToOTLP(&end)
	if err != nil {
		t.Fatal(err)
	}
	rs := td.ResourceSpans().At(0)
	if got := rs.Resource().Attributes().AsRaw(); len(got) != 1 || got["service.name"] != "webserver" {
		t.Errorf("resource %v, want service.name webserver only", got)
	}
	ss := rs.ScopeSpans().At(0)
	if ss.Scope().Name() != DBGPTScopeName {
		t.Errorf("scope %q, want %q", ss.Scope().Name(), DBGPTScopeName)
	}
	span := ss.Spans().At(0)
	checks := []struct{ what, got, want string }{
		{"trace id", span.TraceID().String(), traceID},
		{"span id", span.SpanID().String(), "b7ad6b7169203331"},
		{"parent", span.ParentSpanID().String(), "0102030405060708"},
		{"name", span.Name(), "chat_completion"},
		{"start", span.StartTimestamp().AsTime().Format(DBGPTSpanTimeLayout), "2024-03-01 10:00:00.250000000"},
		{"end", span.EndTimestamp().AsTime().Format(DBGPTSpanTimeLayout), "2024-03-01 10:00:01.250123000"},
		{"status", span.Status().Code().String(), "Error"},
		{"status message", span.Status().Message(), "timeout"},
		{"kind", span.Kind().String(), "Unspecified"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %s, want %s", c.what, c.got, c.want)
		}
	}
	wantAttrs := map[string]any{
		"service.name": "webserver", "model": "vicuna", "tokens": int64(120), "ratio": 0.5, "error": "timeout",
		DBGPTSpanTypeAttribute: "chat",
	}
	if got := span.Attributes().AsRaw(); !equalRaw(got, wantAttrs) {
		t.Errorf("attributes %v, want %v", got, wantAttrs)
	}

	// The same record through the otlp-json encoder: the same span.
	records, _, err := mustEncoder(t, config.FormatOTLPJSON).EncodeDBGPT([]DBGPTSpan{end})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(records[0].Line)
	if err != nil {
		t.Fatal(err)
	}
	storedSpan := stored.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	if g, w := spanJSON(t, span), spanJSON(t, storedSpan); g != w {
		t.Errorf("differs from the otlp-json format's span:\n got %s\nwant %s", g, w)
	}
}

func TestDBGPTToOTLPNativeStartRecordAndDefaults(t *testing.T) {
	start := DBGPTSpan{
		SpanType: "run", TraceID: "0af76519-16cd-43dd-8448-eb211c80319c", SpanID: "b7ad6b7169203331",
		OperationName: "llm", StartTime: strPtr("2024-03-01 10:00:00.5"),
	}
	td, err := DBGPTToOTLP(&start)
	if err != nil {
		t.Fatal(err)
	}
	rs := td.ResourceSpans().At(0)
	if got, _ := rs.Resource().Attributes().Get("service.name"); got.Str() != DefaultDBGPTService {
		t.Errorf("service %q, want the default %q", got.Str(), DefaultDBGPTService)
	}
	span := rs.ScopeSpans().At(0).Spans().At(0)
	if span.EndTimestamp() != span.StartTimestamp() {
		t.Errorf("a start record must end when it starts")
	}
	if v, _ := span.Attributes().Get(DBGPTRecordAttribute); v.Str() != "start" {
		t.Errorf("a start record must be marked %s=start", DBGPTRecordAttribute)
	}
	if !span.ParentSpanID().IsEmpty() {
		t.Errorf("root got parent %s", span.ParentSpanID())
	}
}

func TestDBGPTToOTLPRefusesWhatCannotBeASpan(t *testing.T) {
	cases := []struct {
		name string
		span DBGPTSpan
		want string
	}{
		{"trace id not hex", DBGPTSpan{TraceID: "not-a-trace", SpanID: "0102030405060708", StartTime: strPtr("2024-03-01 10:00:00")}, "trace_id"},
		{"no times", DBGPTSpan{TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "0102030405060708"}, "start_time or end_time"},
		{"metadata not an object", DBGPTSpan{TraceID: "t", SpanID: "s", Metadata: json.RawMessage(`[1]`)}, "want an object"},
		{"otlp layout with a bad id", DBGPTSpan{TraceID: "xyz", SpanID: "0102030405060708", Metadata: json.RawMessage(
			`{"attributes":{},"resource":{},"span_kind":"server","status":{"code":"ok"},"start_time_unix_nano":1,"end_time_unix_nano":2}`)}, "trace_id: want 32 hex digits"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DBGPTToOTLP(&tc.span)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// singleSpanTraces splits td into one Traces per span, each with its
// resource and scope, in the encoder's order.
func singleSpanTraces(td ptrace.Traces) []ptrace.Traces {
	var out []ptrace.Traces
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				one := ptrace.NewTraces()
				ors := one.ResourceSpans().AppendEmpty()
				rs.Resource().CopyTo(ors.Resource())
				oss := ors.ScopeSpans().AppendEmpty()
				ss.Scope().CopyTo(oss.Scope())
				span.CopyTo(oss.Spans().AppendEmpty())
				out = append(out, one)
			}
		}
	}
	return out
}

// normalizeForJSON changes td the way the dbgpt layout changes it: strings
// repaired to UTF-8 byte by byte as the encoder does, integral doubles to
// ints, bytes to base64 strings, NaN and infinities to their strings.
func normalizeForJSON(td ptrace.Traces) {
	fix := func(s string) string { return string(validUTF8([]byte(s))) }
	var fixMap func(m pcommon.Map)
	var fixValue func(v pcommon.Value)
	fixValue = func(v pcommon.Value) {
		switch v.Type() {
		case pcommon.ValueTypeStr:
			v.SetStr(fix(v.Str()))
		case pcommon.ValueTypeDouble:
			d := v.Double()
			switch {
			case math.IsNaN(d):
				v.SetStr("NaN")
			case math.IsInf(d, 1):
				v.SetStr("Infinity")
			case math.IsInf(d, -1):
				v.SetStr("-Infinity")
			case d == math.Trunc(d) && math.Abs(d) < 1e21 && d >= math.MinInt64 && d < math.MaxInt64:
				v.SetInt(int64(d))
			}
		case pcommon.ValueTypeBytes:
			v.SetStr(base64.StdEncoding.EncodeToString(v.Bytes().AsRaw()))
		case pcommon.ValueTypeMap:
			fixMap(v.Map())
		case pcommon.ValueTypeSlice:
			for _, e := range v.Slice().All() {
				fixValue(e)
			}
		}
	}
	fixMap = func(m pcommon.Map) {
		// Repaired keys may collide; as in the decoded JSON, the later
		// value wins in the earlier place.
		n := pcommon.NewMap()
		for k, v := range m.All() {
			fixValue(v)
			v.CopyTo(n.PutEmpty(fix(k)))
		}
		n.MoveTo(m)
	}
	for _, rs := range td.ResourceSpans().All() {
		fixMap(rs.Resource().Attributes())
		for _, ss := range rs.ScopeSpans().All() {
			ss.Scope().SetName(fix(ss.Scope().Name()))
			ss.Scope().SetVersion(fix(ss.Scope().Version()))
			for _, s := range ss.Spans().All() {
				s.SetName(fix(s.Name()))
				s.Status().SetMessage(fix(s.Status().Message()))
				s.TraceState().FromRaw(fix(s.TraceState().AsRaw()))
				fixMap(s.Attributes())
				for _, ev := range s.Events().All() {
					ev.SetName(fix(ev.Name()))
					fixMap(ev.Attributes())
				}
				for _, l := range s.Links().All() {
					l.TraceState().FromRaw(fix(l.TraceState().AsRaw()))
					fixMap(l.Attributes())
				}
			}
		}
	}
}

func tracesJSON(t *testing.T, td ptrace.Traces) string {
	t.Helper()
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func spanJSON(t *testing.T, span ptrace.Span) string {
	t.Helper()
	td := ptrace.NewTraces()
	span.CopyTo(td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty())
	return tracesJSON(t, td)
}
