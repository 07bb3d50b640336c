package format

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// compareDBGPTDirect encodes the records of lines (JSON lines, each decoded
// as ingest decodes it; lines ingest refuses are left out) both ways.
// When the direct path takes them, its line must be the pdata path's byte
// for byte, it must reject the records pdata rejects with the same
// messages, and pdata's JSON unmarshaler, which the Collector's
// otlpjsonfile receiver uses, must read the line back as the same number
// of spans. It returns whether the direct path took the records.
func compareDBGPTDirect(t *testing.T, lines []byte) bool {
	t.Helper()
	spans, _ := decodeDBGPTLines(lines)
	direct, directRejections, took := encodeDBGPTDirect(spans)
	viaPdata, rejections, err := encodeDBGPTThroughPdata(spans)
	if err != nil {
		t.Fatalf("pdata path: %v", err)
	}
	if !took {
		return false
	}
	if !slices.Equal(directRejections, rejections) {
		t.Fatalf("the direct path rejects %v, the pdata path %v", directRejections, rejections)
	}
	if len(direct) != len(viaPdata) {
		t.Fatalf("direct path wrote %d records, pdata path %d", len(direct), len(viaPdata))
	}
	for i := range direct {
		if !bytes.Equal(direct[i].Line, viaPdata[i].Line) {
			t.Fatalf("lines differ:\ndirect: %s\npdata:  %s", direct[i].Line, viaPdata[i].Line)
		}
		if direct[i].Spans != viaPdata[i].Spans {
			t.Fatalf("direct path counts %d spans, pdata path %d", direct[i].Spans, viaPdata[i].Spans)
		}
		var u ptrace.JSONUnmarshaler
		td, err := u.UnmarshalTraces(direct[i].Line)
		if err != nil {
			t.Fatalf("pdata cannot read the direct line: %v\n%s", err, direct[i].Line)
		}
		if td.SpanCount() != direct[i].Spans {
			t.Fatalf("pdata reads %d spans, the record says %d", td.SpanCount(), direct[i].Spans)
		}
	}
	return true
}

// decodeDBGPTLines decodes each non-empty line as ingest does, and counts
// the lines it refuses.
func decodeDBGPTLines(lines []byte) (spans []DBGPTSpan, refused int) {
	for line := range bytes.SplitSeq(lines, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		s, err := DecodeDBGPTRecord(line)
		if err != nil {
			refused++
			continue
		}
		spans = append(spans, s)
	}
	return spans, refused
}

// dbgptRecordLine is a DB-GPT end record with the given metadata.
func dbgptRecordLine(metadata string) string {
	return `{"span_type":"chat","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"0af7651916cd43dd8448eb211c80319c:b7ad6b7169203331",` +
		`"parent_span_id":"0af7651916cd43dd8448eb211c80319c:00f067aa0ba902b7","operation_name":"BaseChat.stream_call",` +
		`"start_time":"2024-03-01 10:00:00.123456","end_time":"2024-03-01 10:00:01.5","metadata":` + metadata + `}`
}

// dbgptDirectCases are requests of DB-GPT records, and whether the direct
// path is to take them: what it declines goes to pdata whole; the records
// that do not convert it rejects as pdata does.
var dbgptDirectCases = []struct {
	name  string
	lines string
	take  bool
}{
	{"none", ``, true},
	{"an end record", dbgptRecordLine(`{"model_name":"vicuna-13b-v1.5","sys_infos":{"cpu":"x86_64","gpu":"A100"}}`), true},
	{"a start record with chat messages",
		`{"span_type":"chat","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"0af7651916cd43dd8448eb211c80319c:b7ad6b7169203331","parent_span_id":null,` +
			`"operation_name":"BaseChat.stream_call","start_time":"2024-03-01 10:00:00","end_time":null,"metadata":{"cls":"ChatNormal","temperature":0.6,"max_new_tokens":1024,` +
			`"messages":[{"role":"system","content":"You are a \"helpful\" analyst.\nAnswer in SQL."},{"role":"human","content":"Umsatz je Monat? \u00e9\u4e2d\u6587 ✓ 😀"}]}}`, true},
	{"an end record without a start", `{"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331","operation_name":"x","start_time":null,"end_time":"2024-03-01 10:00:01"}`, true},
	{"no metadata, span type or name", `{"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331","start_time":"2024-03-01 10:00:00","end_time":"2024-03-01 10:00:01"}`, true},
	{"empty parent, UUID and upper-case ids", `{"trace_id":"0AF76519-16CD-43DD-8448-EB211C80319C","span_id":"0AF7651916CD43DD8448EB211C80319C:B7AD6B7169203331","parent_span_id":"","start_time":"2024-03-01 10:00:00","end_time":"2024-03-01 10:00:01"}`, true},
	{"null and empty metadata", dbgptRecordLine(`null`) + "\n" + dbgptRecordLine(`{}`), true},
	{"every value type", dbgptRecordLine(`{"s":"","t":true,"f":false,"n":null,"i":-42,"zero":-0,"big":9223372036854775807,"bigger":9223372036854775808,` +
		`"d":1.0,"e":1e5,"tiny":5e-324,"neg":-2.5E-3,"arr":[],"obj":{},"deep":[[1,[2,{"a":[{"b":null}]}]]],"ctl":"\u0000\u001f\t"}`), true},
	{"escaped keys", dbgptRecordLine(`{"a\"b":1,"\u00e9":2,"a\\b":3,"é2":4}`), true},
	{"an empty key", dbgptRecordLine(`{"":"","o":{"":1}}`), true},
	{"error string", dbgptRecordLine(`{"error":"model timed out"}`), true},
	{"error true", dbgptRecordLine(`{"error":true}`), true},
	{"error false, null and empty", dbgptRecordLine(`{"error":false}`) + "\n" + dbgptRecordLine(`{"error":null}`) + "\n" + dbgptRecordLine(`{"error":""}`), true},
	{"many records", strings.Repeat(dbgptRecordLine(`{"k":"v"}`)+"\n", 50), true},
	// Records that are no OTLP spans are rejected, on either path.
	{"a bad trace id", dbgptRecordLine(`{}`) + "\n" + `{"trace_id":"xyz","span_id":"b7ad6b7169203331","start_time":"2024-03-01 10:00:00","end_time":null}`, true},
	{"an all-zero span id", `{"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"0000000000000000","start_time":"2024-03-01 10:00:00","end_time":null}`, true},
	{"a bad parent", `{"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331","parent_span_id":"zz","start_time":"2024-03-01 10:00:00","end_time":null}`, true},
	{"no time at all", `{"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331","start_time":null,"end_time":null}`, true},

	{"error number", dbgptRecordLine(`{"error":500}`), false},
	{"error object", dbgptRecordLine(`{"error":{"code":500}}`), false},
	{"a key twice", dbgptRecordLine(`{"k":1,"k":2}`), false},
	{"a nested key twice", dbgptRecordLine(`{"o":{"k":1,"k":2}}`), false},
	{"a surrogate pair escaped", dbgptRecordLine(`{"k":"\ud83d\ude00"}`), false},
	{"a lone surrogate", dbgptRecordLine(`{"k":"\udc00"}`), false},
	{"invalid UTF-8", dbgptRecordLine("{\"k\":\"\xff\"}"), false},
	{"a number past float64", dbgptRecordLine(`{"k":1e400}`), false},
	{"metadata sets dbgpt.record", dbgptRecordLine(`{"dbgpt.record":"x"}`), false},
	{"metadata sets dbgpt.span_type", dbgptRecordLine(`{"dbgpt.span_type":"x"}`), false},
}

// TestDBGPTDirectMatchesPdata is the differential test: what the direct
// path writes, pdata would have written; what it declines is declined for
// a reason on the list at the top of dbgptotlpjson.go.
func TestDBGPTDirectMatchesPdata(t *testing.T) {
	for _, tc := range dbgptDirectCases {
		t.Run(tc.name, func(t *testing.T) {
			// A case of lines ingest refuses would test nothing.
			if _, refused := decodeDBGPTLines([]byte(tc.lines)); refused > 0 {
				t.Fatalf("ingest refuses %d of the lines", refused)
			}
			if took := compareDBGPTDirect(t, []byte(tc.lines)); took != tc.take {
				t.Fatalf("direct path took the records: %v, want %v", took, tc.take)
			}
		})
	}
}

// TestEncodeDBGPTKeepsRejections checks that a request holding a record
// that does not convert stores the records that do and names the one that
// does not, on the direct path and, when another record makes the direct
// path decline, on the pdata path.
func TestEncodeDBGPTKeepsRejections(t *testing.T) {
	good, err := DecodeDBGPTRecord([]byte(dbgptRecordLine(`{"k":"v"}`)))
	if err != nil {
		t.Fatal(err)
	}
	declined, err := DecodeDBGPTRecord([]byte(dbgptRecordLine(`{"error":500}`)))
	if err != nil {
		t.Fatal(err)
	}
	bad := good
	bad.SpanID = "not-hex"
	for _, tc := range []struct {
		name  string
		spans []DBGPTSpan
	}{
		{"direct", []DBGPTSpan{good, bad, good}},
		{"pdata", []DBGPTSpan{good, bad, declined}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			records, rejections, err := otlpJSONEncoder{}.EncodeDBGPT(tc.spans)
			if err != nil {
				t.Fatal(err)
			}
			if len(records) != 1 || records[0].Spans != 2 {
				t.Fatalf("records %+v, want one line of 2 spans", records)
			}
			if len(rejections) != 1 || rejections[0].Index != 1 || !strings.Contains(rejections[0].Message, `span_id: want 16 hex digits`) {
				t.Fatalf("rejections %+v, want record 1's span_id", rejections)
			}
		})
	}
}

// FuzzDBGPTDirectMatchesPdata checks the property of
// TestDBGPTDirectMatchesPdata on arbitrary JSON lines.
func FuzzDBGPTDirectMatchesPdata(f *testing.F) {
	for _, tc := range dbgptDirectCases {
		f.Add([]byte(tc.lines))
	}
	f.Fuzz(func(t *testing.T, lines []byte) {
		compareDBGPTDirect(t, lines)
	})
}
