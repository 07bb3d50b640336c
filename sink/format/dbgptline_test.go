package format

import (
	"encoding/json"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spansink/spansink/sink/config"
)

// The DB-GPT record path and the OTLP paths write their lines through the
// same dbgptLine: a line the collector wrote for an OTLP span, read back as
// a DB-GPT record and written again as one, comes out byte for byte. A key,
// its place or a string's escaping changed on one path only fails here.
func TestDBGPTRecordPathWritesOTLPLinesAlike(t *testing.T) {
	td := goldenTraces()
	// Strings that need escaping, and bytes that are not UTF-8, in the
	// fields both paths write from a string.
	odd := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().AppendEmpty()
	odd.SetTraceID([16]byte{1})
	odd.SetSpanID([8]byte{2})
	odd.SetName("quote \" backslash \\ newline \n tab \t nul \x00 bad \xff end")
	odd.Attributes().PutStr("span_type", "<html> & \u2028")
	var lines [][]byte
	for _, storage := range []config.Storage{{Format: config.FormatDBGPT}, startEndStorage} {
		enc, err := EncoderFor(storage)
		if err != nil {
			t.Fatal(err)
		}
		records, err := enc.EncodeTraces(td)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range records {
			lines = append(lines, r.Line)
		}
		wire, _, ok := enc.(ProtoEncoder).EncodeOTLPProto(marshalProto(t, td), AttributeLimits{})
		if !ok {
			t.Fatal("the wire path declined the request")
		}
		for i, r := range wire {
			if string(r.Line) != string(records[i].Line) {
				t.Errorf("%v: wire line %d:\n got %s\nwant %s", storage.DBGPT, i, r.Line, records[i].Line)
			}
		}
	}
	if len(lines) != 3+4 {
		t.Fatalf("%d lines, want 3 one per span and 4 with a start record for the span with both times", len(lines))
	}
	for _, line := range lines {
		var s DBGPTSpan
		if err := json.Unmarshal(line, &s); err != nil {
			t.Fatal(err)
		}
		again, err := AppendDBGPTSpan(nil, &s)
		if err != nil {
			t.Fatal(err)
		}
		if string(again) != string(line) {
			t.Errorf("as a DB-GPT record:\n got %s\nwant %s", again, line)
		}
	}
}

func marshalProto(t *testing.T, td ptrace.Traces) []byte {
	t.Helper()
	body, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	return body
}
