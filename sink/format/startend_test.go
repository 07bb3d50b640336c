package format

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/format/formattest"
	"github.com/spansink/spansink/sink/record"
)

// startEndStorage is the dbgpt format writing DB-GPT's start and end
// records for finished spans.
var startEndStorage = config.Storage{Format: config.FormatDBGPT, DBGPT: config.DBGPTStorage{Records: config.DBGPTRecordsStartEnd}}

func mustStartEndEncoder(t testing.TB) Encoder {
	t.Helper()
	enc, err := EncoderFor(startEndStorage)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// endOnlyMetadata are the metadata members only a span's end knows, which
// DB-GPT's start record cannot have.
var endOnlyMetadata = []string{"status", "events", "end_time_unix_nano"}

// referenceStartRecord is the start record of a finished span's decoded
// reference line, built from the contract: the same line with end_time null
// and without the end-only metadata.
func referenceStartRecord(finished map[string]any) map[string]any {
	start := map[string]any{}
	for k, v := range finished {
		start[k] = v
	}
	start["end_time"] = nil
	meta := map[string]any{}
	for k, v := range finished["metadata"].(map[string]any) {
		meta[k] = v
	}
	for _, k := range endOnlyMetadata {
		delete(meta, k)
	}
	start["metadata"] = meta
	return start
}

// TestEncodeTracesStartEndGolden pins the two records of a finished span:
// the start record first, then the end record, which is the finished line
// of the default mode byte for byte. The child has no times, so it stays
// one line (a second would read as another span).
func TestEncodeTracesStartEndGolden(t *testing.T) {
	records, err := mustStartEndEncoder(t).EncodeTraces(goldenTraces())
	if err != nil {
		t.Fatal(err)
	}
	want := []record.Record{
		{Spans: 0, Line: []byte(`{"span_type":"chat","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331","parent_span_id":null,"operation_name":"GET /cart",` +
			`"start_time":"2023-11-14 22:13:20.123","end_time":null,"metadata":{"service.name":"checkout",` +
			`"attributes":{"span_type":"chat","http.status_code":200},"resource":{"service.name":"checkout","host.name":"node-1"},` +
			`"scope":{"name":"github.com/acme/shop","version":"1.2.0"},"span_kind":"server","trace_state":"k=v",` +
			`"links":[{"trace_id":"00000000000000000000000000000001","span_id":"0000000000000002","trace_state":"","attributes":{}}],` +
			`"start_time_unix_nano":1700000000123456789}}`)},
		{Spans: 1, Line: []byte(goldenLines[0])},
		{Spans: 1, Line: []byte(goldenLines[1])},
	}
	if len(records) != len(want) {
		t.Fatalf("got %d records, want %d", len(records), len(want))
	}
	for i, rec := range records {
		checkLine(t, rec.Line)
		if rec.Spans != want[i].Spans || string(rec.Line) != string(want[i].Line) {
			t.Errorf("record %d (%d spans):\n got %s\nwant %s (%d spans)", i, rec.Spans, rec.Line, want[i].Line, want[i].Spans)
		}
	}
	// The start record shares the buffer with the end record after it.
	_ = append(records[0].Line, "XXXX"...)
	if string(records[1].Line) != goldenLines[0] {
		t.Errorf("appending to the start record changed the end record: %s", records[1].Line)
	}
}

// TestEncodeTracesStartEndRoundTrip checks generated spans against the
// reference: a start record then the finished line for every span with both
// times, the finished line alone for the others, and spans counted once.
func TestEncodeTracesStartEndRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	enc := mustStartEndEncoder(t)
	paired := 0
	for iter := 0; iter < 200; iter++ {
		td := genTraces(rng)
		if iter%10 == 0 {
			// genTimestamp rarely draws 0; make sure unset times occur.
			clearSomeTimes(td)
		}
		var want []map[string]any
		var wantSpans []int
		i := 0
		refs := referenceDBGPT(t, td)
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, span := range ss.Spans().All() {
					if span.StartTimestamp() != 0 && span.EndTimestamp() != 0 {
						want, wantSpans = append(want, referenceStartRecord(refs[i])), append(wantSpans, 0)
						paired++
					}
					want, wantSpans = append(want, refs[i]), append(wantSpans, 1)
					i++
				}
			}
		}
		records, err := enc.EncodeTraces(td)
		if err != nil {
			t.Fatal(err)
		}
		if len(records) != len(want) {
			t.Fatalf("iteration %d: got %d records, want %d", iter, len(records), len(want))
		}
		for i, rec := range records {
			got := checkLine(t, rec.Line)
			if !reflect.DeepEqual(got, want[i]) || rec.Spans != wantSpans[i] {
				t.Fatalf("iteration %d record %d (%d spans, want %d):\n got %#v\nwant %#v\nline %s", iter, i, rec.Spans, wantSpans[i], got, want[i], rec.Line)
			}
		}
	}
	if paired == 0 {
		t.Fatal("no generated span had both times; the test checks nothing")
	}
}

// clearSomeTimes unsets the start of the first span and the end of the
// second of td.
func clearSomeTimes(td ptrace.Traces) {
	n := 0
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				switch n {
				case 0:
					span.SetStartTimestamp(0)
				case 1:
					span.SetEndTimestamp(0)
				}
				n++
			}
		}
	}
}

// TestEncodeDBGPTStartEndKeepsRecords checks that DB-GPT's own records,
// already start and end records, are written as sent in either mode.
func TestEncodeDBGPTStartEndKeepsRecords(t *testing.T) {
	start := `{"span_type":"chat","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"0af7651916cd43dd8448eb211c80319c:00f067aa0ba902b7",` +
		`"parent_span_id":null,"operation_name":"get_chat_instance","start_time":"2024-03-01 10:00:00.123","end_time":null,"metadata":{"conv_uid":"c1"}}`
	spans := make([]DBGPTSpan, 3)
	for i, raw := range []string{start, formattest.DBGPTRecord(1), formattest.DBGPTRecord(2)} {
		if err := json.Unmarshal([]byte(raw), &spans[i]); err != nil {
			t.Fatal(err)
		}
	}
	want, _, err := mustEncoder(t, config.FormatDBGPT).EncodeDBGPT(spans)
	if err != nil {
		t.Fatal(err)
	}
	got, rejections, err := mustStartEndEncoder(t).EncodeDBGPT(spans)
	if err != nil || len(rejections) > 0 {
		t.Fatalf("encode: %v %v", err, rejections)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("startEnd changed DB-GPT records:\n got %+v\nwant %+v", got, want)
	}
	if string(got[0].Line) != start || got[0].Spans != 1 {
		t.Errorf("DB-GPT start record written as %s (%d spans)", got[0].Line, got[0].Spans)
	}
}

// TestEncoderForRecords checks that the default and an explicit finished
// write the one finished line, as before the option existed.
func TestEncoderForRecords(t *testing.T) {
	td := ptrace.NewTraces()
	span := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetTraceID(pcommon.TraceID{1})
	span.SetSpanID(pcommon.SpanID{2})
	span.SetStartTimestamp(1)
	span.SetEndTimestamp(2)
	for records, lines := range map[config.DBGPTRecords]int{"": 1, config.DBGPTRecordsFinished: 1, config.DBGPTRecordsStartEnd: 2} {
		enc, err := EncoderFor(config.Storage{Format: config.FormatDBGPT, DBGPT: config.DBGPTStorage{Records: records}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := enc.EncodeTraces(td)
		if err != nil || len(got) != lines {
			t.Errorf("records %q: %d lines (error %v), want %d", records, len(got), err, lines)
		}
	}
}
