package format

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/valyala/fastjson"
)

// recordScanner's strict check must take exactly what encoding/json takes:
// ingest decides with it which records are JSON, where it used to ask
// encoding/json.
var scannerCases = []string{
	`{}`, `[]`, `{"a":1}`, ` {"a" : [1, 2.5e-3, -0, true, false, null, "x"]} `, `"\u00e9\n\/"`,
	`{"a":1,}`, `{"a" 1}`, `{"a":1 "b":2}`, `[1,]`, `[,1]`, `{"a":}`, `{,}`, `{"a":1}x`, `{"a":1}}`,
	`01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `-01`, `1.5E+10`, `NaN`, `Infinity`, `tru`, `truex`, `nul`,
	"\"tab\there\"", "\"\x01\\n\"", `"\x"`, `"\u12"`, `"\u12G4"`, `"\ud800"`, `"unclosed`, "\"\xff\xfe\"",
	`{"a":"b"`, `[[[[`, `]`, ``, ` `, "{\"a\":1}\u00a0", `{"a":1}` + "\n",
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	`{"a":` + strings.Repeat(`{"b":`, 9998) + `1` + strings.Repeat("}", 9998) + `}`,
	`{"a":` + strings.Repeat(`{"b":`, 9999) + `1` + strings.Repeat("}", 9999) + `}`,
}

func TestCheckJSONMatchesEncodingJSON(t *testing.T) {
	for _, c := range scannerCases {
		checkScannerAgrees(t, []byte(c))
	}
}

func checkScannerAgrees(t *testing.T, b []byte) {
	t.Helper()
	err := CheckJSON(b)
	wantErr := json.Unmarshal(b, new(anyJSON))
	shown := string(b)
	if len(shown) > 60 {
		shown = shown[:60] + "..."
	}
	switch {
	case (err == nil) != (wantErr == nil):
		t.Errorf("CheckJSON(%q) = %v, encoding/json says %v", shown, err, wantErr)
	case err != nil && err.Error() != wantErr.Error():
		t.Errorf("CheckJSON(%q) = %q, want encoding/json's %q", shown, err, wantErr)
	}
	if len(b) > 0 && b[0] == '{' {
		s := recordScanner{b: b, strict: true}
		if _, ok := s.record(); ok != (wantErr == nil) {
			t.Errorf("record(%q) ok = %v, encoding/json says %v", shown, ok, wantErr)
		}
	}
}

func FuzzRecordScannerMatchesEncodingJSON(f *testing.F) {
	for _, c := range scannerCases {
		if len(c) < 1000 {
			f.Add([]byte(c))
		}
	}
	f.Add([]byte(`{"span_type":"run","trace_id":"t","span_id":"s","metadata":{"k":[1,{"x":null}]}}`))
	f.Fuzz(checkScannerAgrees)
}

func TestDecodeDBGPTRecord(t *testing.T) {
	for _, tc := range []struct {
		name, record string
		want         string // the line AppendDBGPTSpan writes, or the error
		wantErr      bool
	}{
		{"as sent", `{"span_type":"chat","trace_id":"t","span_id":"t:01","parent_span_id":"t:00","operation_name":"op","start_time":"2024-03-01 10:00:00.123456","end_time":null,"metadata":{ "k" : [1, 2.50] }}`,
			`{"span_type":"chat","trace_id":"t","span_id":"t:01","parent_span_id":"t:00","operation_name":"op","start_time":"2024-03-01 10:00:00.123456","end_time":null,"metadata":{ "k" : [1, 2.50] }}`, false},
		{"defaults", `{"trace_id":"t","span_id":"s"}`,
			`{"span_type":"base","trace_id":"t","span_id":"s","parent_span_id":null,"operation_name":"","start_time":null,"end_time":null,"metadata":null}`, false},
		{"escapes decoded as encoding/json decodes them", `{"trace_id":"t\u00e9\ud800","span_id":"s","operation_name":"a\"b"}`,
			`{"span_type":"base","trace_id":"té` + "\uFFFD" + `","span_id":"s","parent_span_id":null,"operation_name":"a\"b","start_time":null,"end_time":null,"metadata":null}`, false},
		{"last of a repeated key, escaped key by what it says", `{"trace_id":"a","trace\u005fid":"b","span_id":"s","Span_Id":"x"}`,
			`{"span_type":"base","trace_id":"b","span_id":"s","parent_span_id":null,"operation_name":"","start_time":null,"end_time":null,"metadata":null}`, false},
		{"every wrong type at once", `{"span_type":1,"trace_id":[],"span_id":{},"parent_span_id":true,"operation_name":false,"start_time":2,"end_time":{},"metadata":"m"}`,
			"span_type must be a string, got a number\ntrace_id must be a string, got an array\nspan_id must be a string, got an object\n" +
				"parent_span_id must be a string or null, got a boolean\noperation_name must be a string, got a boolean\n" +
				"start_time must be a string or null, got a number\nend_time must be a string or null, got an object\n" +
				"metadata must be a JSON object or null, got a string", true},
		{"validation after types", `{"trace_id":"","span_id":"","start_time":"yesterday"}`,
			"trace_id must be a non-empty string\nspan_id must be a non-empty string\n" + `start_time: want "YYYY-MM-DD HH:MM:SS[.ffffff]", got "yesterday"`, true},
		{"metadata nesting", `{"trace_id":"t","span_id":"s","metadata":{"a":` + strings.Repeat("[", 33) + strings.Repeat("]", 33) + `}}`,
			"metadata values nest arrays and objects 33 deep, more than the 32 accepted (the limit of every ingest path, config.MaxNestingDepth)", true},
		{"metadata at the nesting limit", `{"trace_id":"t","span_id":"s","metadata":{"a":` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + `}}`,
			`{"span_type":"base","trace_id":"t","span_id":"s","parent_span_id":null,"operation_name":"","start_time":null,"end_time":null,"metadata":{"a":` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + `}}`, false},
		{"not JSON", `{"trace_id":"t",}`, "decode record: invalid character '}' looking for beginning of object key string", true},
		{"NaN is not JSON", `{"trace_id":"t","span_id":"s","metadata":{"x":NaN}}`, "decode record: invalid character 'N' looking for beginning of value", true},
		{"control character in a string", "{\"trace_id\":\"t\x01\\n\",\"span_id\":\"s\"}", "decode record: invalid character '\\x01' in string literal", true},
		{"not an object", `[{}]`, "record must be a JSON object, got an array", true},
		{"not JSON at all", `x`, `record must be a JSON object, got "x"`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := DecodeDBGPTRecord([]byte(tc.record))
			if tc.wantErr {
				if err == nil || err.Error() != tc.want {
					t.Fatalf("error %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			line, err := AppendDBGPTSpan(nil, &s)
			if err != nil {
				t.Fatal(err)
			}
			if string(line) != tc.want {
				t.Errorf("line\n got %s\nwant %s", line, tc.want)
			}
		})
	}
}

// A decoded record's strings are its own, though they share memory: the
// request body they came from is reused for the next request. A record
// without escapes costs two allocations, one for its strings and one for
// its optional ones; a string each made DB-GPT requests spend most of
// their allocations here.
func TestDecodedDBGPTRecordOwnsItsStrings(t *testing.T) {
	const record = `{"span_type":"chat","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"0af7651916cd43dd8448eb211c80319c:01",` +
		`"parent_span_id":"0af7651916cd43dd8448eb211c80319c:00","operation_name":"op \u00e9","start_time":"2024-03-01 10:00:00.123456",` +
		`"end_time":"2024-03-01 10:00:01","metadata":{"k":"v"}}`
	raw := []byte(record)
	s, err := DecodeDBGPTRecord(raw)
	if err != nil {
		t.Fatal(err)
	}
	want, err := AppendDBGPTSpan(nil, &s)
	if err != nil {
		t.Fatal(err)
	}
	copy(raw, bytes.Repeat([]byte("x"), len(raw)))
	s.Metadata = []byte(`{"k":"v"}`) // metadata is kept as the body's bytes, by design
	if got, _ := AppendDBGPTSpan(nil, &s); !bytes.Equal(got, want) {
		t.Errorf("after the body was overwritten the record reads\n%s\nwant\n%s", got, want)
	}

	plain := []byte(strings.Replace(record, `op \u00e9`, "op", 1))
	if n := testing.AllocsPerRun(100, func() { _, _ = DecodeDBGPTRecord(plain) }); n != 2 {
		t.Errorf("decoding a record without escapes made %v allocations, want 2", n)
	}
}

// The reader's scan checks structure only: stored lines that fastjson
// reads but encoding/json refuses keep reading.
func TestScanDBGPTLine(t *testing.T) {
	for _, tc := range []struct {
		name, line, traceID, metadata, parsed string
		ok                                    bool
	}{
		{"collector line", `{"span_type":"run","trace_id":"t","span_id":"s","metadata":{"k":"v"}}`, `"t"`, `{"k":"v"}`, `{"k":"v"}`, true},
		{"metadata not last", `{"metadata":{"k":[1,"}"]} ,"trace_id":"t"}`, `"t"`, `{"k":[1,"}"]}`, `{"k":[1,"}"]}`, true},
		{"metadata last but one", `{"trace_id":"t","metadata":{"k":1},"x":{}}`, `"t"`, `{"k":1}`, `{"k":1}`, true},
		{"null metadata", `{"trace_id":"t","metadata":null} `, `"t"`, `null`, ``, true},
		{"NaN and a raw tab", "{\"trace_id\":\"t\tu\",\"metadata\":{\"x\":NaN}}", "\"t\tu\"", `{"x":NaN}`, `{"x":NaN}`, true},
		{"number id", `{"trace_id":42}`, `42`, ``, ``, true},
		{"torn tail", `{"trace_id":"t","metadata":{"k":"v"`, ``, ``, ``, false},
		{"missing comma", `{"trace_id":"t" "span_id":"s"}`, ``, ``, ``, false},
		{"garbage after", `{"trace_id":"t"} x`, ``, ``, ``, false},
		{"not an object", `["t"]`, ``, ``, ``, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, meta, ok, err := ScanDBGPTLine([]byte(tc.line), new(fastjson.Parser))
			if ok != tc.ok || err != nil {
				t.Fatalf("ok = %v (%v), want %v", ok, err, tc.ok)
			}
			if !ok {
				return
			}
			if string(m.TraceID) != tc.traceID || string(m.Metadata) != tc.metadata {
				t.Errorf("trace_id %s metadata %s, want %s and %s", m.TraceID, m.Metadata, tc.traceID, tc.metadata)
			}
			var parsed []byte
			if meta != nil {
				parsed = meta.MarshalTo(nil)
			}
			if string(parsed) != tc.parsed {
				t.Errorf("parsed metadata %s, want %s", parsed, tc.parsed)
			}
		})
	}
}
