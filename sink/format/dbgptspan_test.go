package format

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/spansink/spansink/sink/config"
)

func strPtr(s string) *string { return &s }

func TestEncodeDBGPTKeepsValuesAsSent(t *testing.T) {
	cases := []struct {
		name string
		span DBGPTSpan
		want string
	}{
		{
			name: "start record",
			span: DBGPTSpan{
				SpanType: "run", TraceID: "a3f5", SpanID: "a3f5:01", OperationName: "DefaultModelWorker_call.generate_stream_func",
				StartTime: strPtr("2024-03-01 10:00:00.123456"), Metadata: json.RawMessage(`{"model":"vicuna","n":3,"big":12345678901234567890}`),
			},
			want: `{"span_type":"run","trace_id":"a3f5","span_id":"a3f5:01","parent_span_id":null,"operation_name":"DefaultModelWorker_call.generate_stream_func",` +
				`"start_time":"2024-03-01 10:00:00.123456","end_time":null,"metadata":{"model":"vicuna","n":3,"big":12345678901234567890}}`,
		},
		{
			name: "end record with parent and no metadata",
			span: DBGPTSpan{
				SpanType: "base", TraceID: "t", SpanID: "t:2", ParentSpanID: strPtr("t:1"), OperationName: "op",
				StartTime: strPtr("2024-03-01 10:00:00"), EndTime: strPtr("2024-03-01 10:00:01.5"),
			},
			want: `{"span_type":"base","trace_id":"t","span_id":"t:2","parent_span_id":"t:1","operation_name":"op",` +
				`"start_time":"2024-03-01 10:00:00","end_time":"2024-03-01 10:00:01.5","metadata":null}`,
		},
		{
			name: "pretty metadata is compacted onto one line",
			span: DBGPTSpan{TraceID: "t", SpanID: "s", Metadata: json.RawMessage("{\n  \"a\": [1, 2],\n  \"b\": \"x y\"\n}")},
			want: `{"span_type":"","trace_id":"t","span_id":"s","parent_span_id":null,"operation_name":"","start_time":null,"end_time":null,"metadata":{"a":[1,2],"b":"x y"}}`,
		},
		{
			name: "invalid UTF-8 in metadata is repaired",
			span: DBGPTSpan{TraceID: "t", SpanID: "s", Metadata: json.RawMessage("{\"a\":\"x\xffy\",\"n\":1.50}")},
			want: `{"span_type":"","trace_id":"t","span_id":"s","parent_span_id":null,"operation_name":"","start_time":null,"end_time":null,"metadata":{"a":"x` + "\uFFFD" + `y","n":1.50}}`,
		},
		{
			name: "strings are escaped",
			span: DBGPTSpan{TraceID: "t\"", SpanID: "s\n", OperationName: "op\xff"},
			want: `{"span_type":"","trace_id":"t\"","span_id":"s\n","parent_span_id":null,"operation_name":"op` + "\uFFFD" + `","start_time":null,"end_time":null,"metadata":null}`,
		},
	}
	enc := mustEncoder(t, config.FormatDBGPT)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			records, rejections, err := enc.EncodeDBGPT([]DBGPTSpan{tc.span})
			if err != nil {
				t.Fatal(err)
			}
			if len(rejections) != 0 || len(records) != 1 {
				t.Fatalf("got %d records and rejections %v, want one record", len(records), rejections)
			}
			checkLine(t, records[0].Line)
			if got := string(records[0].Line); got != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	ok := DBGPTSpan{TraceID: "t", SpanID: "s", StartTime: strPtr("2024-03-01 10:00:00.123")}
	cases := []struct {
		name    string
		mutate  func(*DBGPTSpan)
		wantErr string
	}{
		{"valid", func(*DBGPTSpan) {}, ""},
		{"no fraction", func(s *DBGPTSpan) { s.StartTime = strPtr("2024-03-01 10:00:00") }, ""},
		{"nanoseconds", func(s *DBGPTSpan) { s.EndTime = strPtr("2024-03-01 10:00:00.123456789") }, ""},
		{"empty trace id", func(s *DBGPTSpan) { s.TraceID = "" }, "trace_id must be a non-empty string"},
		{"empty span id", func(s *DBGPTSpan) { s.SpanID = "" }, "span_id must be a non-empty string"},
		{"garbage time", func(s *DBGPTSpan) { s.StartTime = strPtr("yesterday") }, `start_time: want "YYYY-MM-DD HH:MM:SS[.ffffff]", got "yesterday"`},
		{"iso time", func(s *DBGPTSpan) { s.EndTime = strPtr("2024-03-01T10:00:00Z") }, "end_time: want"},
		{"month 13", func(s *DBGPTSpan) { s.StartTime = strPtr("2024-13-01 10:00:00") }, "start_time: want"},
		{"trailing junk", func(s *DBGPTSpan) { s.StartTime = strPtr("2024-03-01 10:00:00.123abc") }, "start_time: want"},
		{"metadata array", func(s *DBGPTSpan) { s.Metadata = json.RawMessage(`[1]`) }, "metadata must be a JSON object or null"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			tc.mutate(&s)
			err := s.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}
