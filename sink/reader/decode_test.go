package reader

import (
	"strings"
	"testing"
	"time"
)

// The reader reads stored lines more leniently than ingest takes records,
// on purpose (see decodeDBGPT): these lines kept reading when the reader
// moved to the collector's decoder of DB-GPT records.
func TestDecodeLineKeepsReaderLeniency(t *testing.T) {
	start := time.Date(2024, 3, 1, 10, 0, 0, 123e6, time.UTC)
	for _, tc := range []struct {
		name, line string
		want       Span
	}{
		{"number ids", `{"trace_id":42,"span_id":7,"parent_span_id":-1,"start_time":"2024-03-01 10:00:00.123"}`,
			Span{TraceID: "42", SpanID: "7", ParentSpanID: "-1", Start: start}},
		{"NaN in metadata, an RFC 3339 time", `{"trace_id":"t","span_id":"s","start_time":"2024-03-01T10:00:00.123Z","metadata":{"x":NaN,"service.name":"svc"}}`,
			Span{TraceID: "t", SpanID: "s", Start: start, Service: "svc", Metadata: []byte(`{"x":NaN,"service.name":"svc"}`)}},
		{"raw control character in a string", "{\"trace_id\":\"t\",\"span_id\":\"s\",\"operation_name\":\"a\tb\\n\"}",
			Span{TraceID: "t", SpanID: "s", Operation: "a\tb\n"}},
		{"metadata first, a nested error", `{"metadata":{"error":{"code":1},"start_time_unix_nano":1709287200123000000},"trace_id":"t","span_id":"s","start_time":"x"}`,
			Span{TraceID: "t", SpanID: "s", Start: start, Status: StatusError, Metadata: []byte(`{"error":{"code":1},"start_time_unix_nano":1709287200123000000}`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dec := &decoder{filter: &Filter{}, needMetadata: true}
			spans, err := dec.decodeLine([]byte(tc.line), "f", 1, nil)
			if err != nil || len(spans) != 1 {
				t.Fatalf("%d spans, %v", len(spans), err)
			}
			got := spans[0]
			if got.Status == "" {
				got.Status = StatusUnset
			}
			want := tc.want
			if want.Status == "" {
				want.Status = StatusUnset
			}
			want.File, want.Line = "f", 1
			if got.TraceID != want.TraceID || got.SpanID != want.SpanID || got.ParentSpanID != want.ParentSpanID ||
				got.Operation != want.Operation || !got.Start.Equal(want.Start) || got.Service != want.Service ||
				got.Status != want.Status || string(got.Metadata) != string(want.Metadata) {
				t.Errorf("span\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestDecodeLineRefusesCorruptLines(t *testing.T) {
	for line, want := range map[string]string{
		`{"trace_id":"t","span_id":"s","metadata":{"k":"v"`:  "corrupt JSON",
		`{"trace_id":"t" "span_id":"s"}`:                     "corrupt JSON",
		`{"span_id":"s"}`:                                    "span record has no trace_id",
		`{"trace_id":"","span_id":"s"}`:                      "empty trace_id",
		`{"trace_id":"t","span_id":"s","metadata":[1]}`:      "metadata is array, want an object or null",
		`{"trace_id":"t","span_id":"s","start_time":"noon"}`: `start_time: unreadable time "noon"`,
		`[1]`: "not a JSON object but array",
	} {
		dec := &decoder{filter: &Filter{}}
		if _, err := dec.decodeLine([]byte(line), "f", 1, nil); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", line, err, want)
		}
	}
}
