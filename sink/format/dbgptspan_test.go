package format

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

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

// dbgptTimeCases are the edges of DB-GPT's time layout: what DB-GPT writes,
// what time.Parse also accepts, and impossible dates and times.
var dbgptTimeCases = []string{
	"2024-05-01 10:00:00",
	"2024-05-01 10:00:00.1",
	"2024-05-01 10:00:00.123",
	"2024-05-01 10:00:00.123456",
	"2024-05-01 10:00:00.123456789",
	"2024-05-01 10:00:00.1234567891", // ten digits: the tenth is dropped
	"2024-05-01 10:00:00,123",        // a comma before the fraction
	"2024-05-01 1:00:00",             // a one-digit hour
	"2024-05-01 10:00:00.",
	"2024-05-01 10:00:00.12a",
	"2024-05-01T10:00:00",
	"2024-05-01 10:00:00Z",
	"0000-01-01 00:00:00",
	"2024-02-29 23:59:59.999", // a leap day
	"2000-02-29 00:00:00",     // a leap day, century divisible by 400
	"1900-02-29 00:00:00",     // not one
	"2023-02-29 10:00:00",     // not one
	"2024-02-30 10:00:00.000",
	"2024-04-31 00:00:00",
	"2024-12-31 23:59:60", // second 60
	"2024-12-31 23:60:00",
	"2024-13-01 00:00:00",
	"2024-00-01 00:00:00",
	"2024-01-00 10:00:00",
	"2024-01-01 24:00:00",
	"+024-01-01 10:00:00",
	"2024-+1-01 10:00:00",
	"2024-01-01 10:00:0-",
	" 2024-01-01 10:00:00",
	"2024-01-01 10:00:00 ",
	"",
	"noon",
}

// ParseDBGPTTime, fast path or not, accepts exactly what
// time.Parse(DBGPTTimeLayout) accepts and reads the same instant in UTC.
func TestParseDBGPTTimeAgreesWithTimeParse(t *testing.T) {
	for _, s := range dbgptTimeCases {
		checkDBGPTTimeAgrees(t, s)
	}
}

func FuzzParseDBGPTTimeAgreesWithTimeParse(f *testing.F) {
	for _, s := range dbgptTimeCases {
		f.Add(s)
	}
	f.Fuzz(checkDBGPTTimeAgrees)
}

func checkDBGPTTimeAgrees(t *testing.T, s string) {
	want, wantErr := time.Parse(DBGPTTimeLayout, s)
	for name, parse := range map[string]func(string) (time.Time, error){
		"ParseDBGPTTime":      ParseDBGPTTime,
		"ParseDBGPTTimeBytes": func(s string) (time.Time, error) { return ParseDBGPTTimeBytes([]byte(s)) },
	} {
		got, err := parse(s)
		if (err != nil) != (wantErr != nil) {
			t.Errorf("%s(%q) = %v, %v; time.Parse says %v, %v", name, s, got, err, want, wantErr)
			continue
		}
		if err == nil && (!got.Equal(want) || got.Location() != time.UTC) {
			t.Errorf("%s(%q) = %v, want %v in UTC", name, s, got, want)
		}
	}
}

// The times DB-GPT and the collector write are read without time.Parse,
// which cost a sixth of DB-GPT ingest's CPU.
func TestCanonicalDBGPTTimesTakeTheFastPath(t *testing.T) {
	for _, s := range []string{"2024-05-01 10:00:00", "2024-05-01 10:00:00.123", "2024-05-01 10:00:00.123456", "2024-02-29 23:59:59.999999999"} {
		want, _ := time.Parse(DBGPTTimeLayout, s)
		if got, ok := canonicalDBGPTTime(s); !ok || !got.Equal(want) {
			t.Errorf("canonicalDBGPTTime(%q) = %v, %v; want %v, true", s, got, ok, want)
		}
		if got, ok := canonicalDBGPTTime([]byte(s)); !ok || !got.Equal(want) {
			t.Errorf("canonicalDBGPTTime([]byte(%q)) = %v, %v; want %v, true", s, got, ok, want)
		}
	}
}

func BenchmarkParseDBGPTTime(b *testing.B) {
	for b.Loop() {
		if _, err := ParseDBGPTTime("2024-05-01 10:00:00.123456"); err != nil {
			b.Fatal(err)
		}
	}
}
