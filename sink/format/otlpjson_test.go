package format

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spansink/spansink/sink/config"
)

func TestEncodeTracesOTLPJSONRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	enc := mustEncoder(t, config.FormatOTLPJSON)
	for iter := 0; iter < 100; iter++ {
		td := genTraces(rng)
		// Invalid UTF-8 is repaired on the way out and so cannot round-trip;
		// this test uses valid strings only (the repair is tested below).
		sanitize(td)
		records, err := enc.EncodeTraces(td)
		if err != nil {
			t.Fatal(err)
		}
		if td.SpanCount() == 0 {
			if len(records) != 0 {
				t.Fatalf("empty request gave %d records", len(records))
			}
			continue
		}
		if len(records) != 1 || records[0].Spans != td.SpanCount() {
			t.Fatalf("got %d records, want one holding %d spans", len(records), td.SpanCount())
		}
		if strings.ContainsAny(string(records[0].Line), "\r\n") {
			t.Fatalf("line contains a line break")
		}
		var u ptrace.JSONUnmarshaler
		back, err := u.UnmarshalTraces(records[0].Line)
		if err != nil {
			t.Fatalf("line does not parse back: %v\n%s", err, records[0].Line)
		}
		// Compare through the canonical JSON: NaN is never equal to itself.
		var m ptrace.JSONMarshaler
		again, err := m.MarshalTraces(back)
		if err != nil {
			t.Fatal(err)
		}
		if string(again) != string(records[0].Line) {
			t.Fatalf("round trip changed the request:\n got %s\nwant %s", again, records[0].Line)
		}
	}
}

func sanitize(td ptrace.Traces) {
	fix := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
	var fixMap func(m pcommon.Map)
	var fixValue func(v pcommon.Value)
	fixValue = func(v pcommon.Value) {
		switch v.Type() {
		case pcommon.ValueTypeStr:
			v.SetStr(fix(v.Str()))
		case pcommon.ValueTypeMap:
			fixMap(v.Map())
		case pcommon.ValueTypeSlice:
			for _, e := range v.Slice().All() {
				fixValue(e)
			}
		}
	}
	fixMap = func(m pcommon.Map) {
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

func TestEncodeTracesOTLPJSONRepairsUTF8(t *testing.T) {
	td := ptrace.NewTraces()
	span := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetTraceID(pcommon.TraceID{1})
	span.SetSpanID(pcommon.SpanID{1})
	span.SetName("bad\xffname")
	records, err := mustEncoder(t, config.FormatOTLPJSON).EncodeTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(records[0].Line) {
		t.Fatalf("line is not valid UTF-8: %q", records[0].Line)
	}
	var u ptrace.JSONUnmarshaler
	back, err := u.UnmarshalTraces(records[0].Line)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Name(); got != "bad\uFFFDname" {
		t.Errorf("name %q, want the bad byte replaced", got)
	}
}

func TestEncodeDBGPTAsOTLPJSON(t *testing.T) {
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	spans := []DBGPTSpan{
		// 0: start record with DB-GPT's "<trace_id>:<span>" ids.
		{SpanType: "chat", TraceID: traceID, SpanID: traceID + ":b7ad6b7169203331", OperationName: "chat",
			StartTime: strPtr("2024-03-01 10:00:00.250"), Metadata: []byte(`{"model":"vicuna","n":3,"ratio":0.5,"tags":["a"],"nested":{"x":true}}`)},
		// 1: end record of a child, UUID-style trace id with dashes.
		{SpanType: "run", TraceID: "0af76519-16cd-43dd-8448-eb211c80319c", SpanID: traceID + ":0102030405060708",
			ParentSpanID: strPtr(traceID + ":b7ad6b7169203331"), OperationName: "llm",
			StartTime: strPtr("2024-03-01 10:00:00.300"), EndTime: strPtr("2024-03-01 10:00:01.300123")},
		// 2: trace id that is not hex.
		{TraceID: "not-a-trace", SpanID: "0102030405060708", StartTime: strPtr("2024-03-01 10:00:00")},
		// 3: span id too long (a UUID cannot fit 8 bytes).
		{TraceID: traceID, SpanID: traceID + ":" + traceID, StartTime: strPtr("2024-03-01 10:00:00")},
		// 4: no times at all.
		{TraceID: traceID, SpanID: "0102030405060709"},
	}
	records, rejections, err := mustEncoder(t, config.FormatOTLPJSON).EncodeDBGPT(spans)
	if err != nil {
		t.Fatal(err)
	}
	wantRejected := map[int]string{
		2: `trace_id: want 32 hex digits, got "not-a-trace"`,
		3: "span_id: want 16 hex digits",
		4: "needs start_time or end_time",
	}
	if len(rejections) != len(wantRejected) {
		t.Fatalf("rejections %v, want indexes 2, 3, 4", rejections)
	}
	for _, r := range rejections {
		if want, ok := wantRejected[r.Index]; !ok || !strings.Contains(r.Message, want) {
			t.Errorf("rejection %d: %q, want it to contain %q", r.Index, r.Message, want)
		}
	}
	if len(records) != 1 || records[0].Spans != 2 {
		t.Fatalf("want one record with 2 spans, got %+v", records)
	}
	var u ptrace.JSONUnmarshaler
	td, err := u.UnmarshalTraces(records[0].Line)
	if err != nil {
		t.Fatal(err)
	}
	ss := td.ResourceSpans().At(0).ScopeSpans().At(0)
	if ss.Scope().Name() != DBGPTScopeName {
		t.Errorf("scope %q, want %q", ss.Scope().Name(), DBGPTScopeName)
	}
	start := ss.Spans().At(0)
	if got := start.TraceID(); got.String() != traceID {
		t.Errorf("trace id %s", got)
	}
	if got := start.SpanID(); got.String() != "b7ad6b7169203331" {
		t.Errorf("span id %s", got)
	}
	if !start.ParentSpanID().IsEmpty() {
		t.Errorf("root has parent %s", start.ParentSpanID())
	}
	if got, want := start.StartTimestamp().AsTime().UTC().Format(TimeLayout), "2024-03-01 10:00:00.250"; got != want {
		t.Errorf("start %s, want %s", got, want)
	}
	if start.EndTimestamp() != start.StartTimestamp() {
		t.Errorf("start record should end when it starts")
	}
	wantAttrs := map[string]any{
		"model": "vicuna", "n": int64(3), "ratio": 0.5, "tags": []any{"a"}, "nested": map[string]any{"x": true},
		DBGPTRecordAttribute: "start", DBGPTSpanTypeAttribute: "chat",
	}
	if got := start.Attributes().AsRaw(); !equalRaw(got, wantAttrs) {
		t.Errorf("attributes %#v, want %#v", got, wantAttrs)
	}
	end := ss.Spans().At(1)
	if got := end.ParentSpanID(); got.String() != "b7ad6b7169203331" {
		t.Errorf("parent %s", got)
	}
	if got := end.EndTimestamp().AsTime().Sub(end.StartTimestamp().AsTime()); got.Microseconds() != 1000123 {
		t.Errorf("duration %s, want 1.000123s", got)
	}
	if _, ok := end.Attributes().Get(DBGPTRecordAttribute); ok {
		t.Errorf("end record must not be marked as a start record")
	}
}

func equalRaw(a, b map[string]any) bool {
	am, bm := pcommon.NewMap(), pcommon.NewMap()
	if am.FromRaw(a) != nil || bm.FromRaw(b) != nil {
		return false
	}
	return am.Equal(bm)
}

// TestEncodeDBGPTErrorAsOTLPStatus checks that DB-GPT's "error" in metadata
// becomes an OTLP error status, so readers of otlp-json files see failed
// spans as readers of dbgpt files do.
func TestEncodeDBGPTErrorAsOTLPStatus(t *testing.T) {
	cases := []struct {
		name     string
		metadata string
		wantCode ptrace.StatusCode
		wantMsg  string
	}{
		{"no metadata", "", ptrace.StatusCodeUnset, ""},
		{"no error", `{"model":"vicuna"}`, ptrace.StatusCodeUnset, ""},
		{"message", `{"error":"timeout talking to model"}`, ptrace.StatusCodeError, "timeout talking to model"},
		{"empty message", `{"error":""}`, ptrace.StatusCodeUnset, ""},
		{"null", `{"error":null}`, ptrace.StatusCodeUnset, ""},
		{"false", `{"error":false}`, ptrace.StatusCodeUnset, ""},
		{"true", `{"error":true}`, ptrace.StatusCodeError, "true"},
		{"object", `{"error":{"type":"Timeout"}}`, ptrace.StatusCodeError, `{"type":"Timeout"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			span := DBGPTSpan{TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "0102030405060708",
				StartTime: strPtr("2024-03-01 10:00:00"), EndTime: strPtr("2024-03-01 10:00:01")}
			if tc.metadata != "" {
				span.Metadata = json.RawMessage(tc.metadata)
			}
			records, rejections, err := mustEncoder(t, config.FormatOTLPJSON).EncodeDBGPT([]DBGPTSpan{span})
			if err != nil || len(rejections) != 0 || len(records) != 1 {
				t.Fatalf("encode: %v, rejections %v, %d records", err, rejections, len(records))
			}
			var u ptrace.JSONUnmarshaler
			td, err := u.UnmarshalTraces(records[0].Line)
			if err != nil {
				t.Fatal(err)
			}
			status := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Status()
			if status.Code() != tc.wantCode || status.Message() != tc.wantMsg {
				t.Errorf("status %s %q, want %s %q", status.Code(), status.Message(), tc.wantCode, tc.wantMsg)
			}
		})
	}
}
