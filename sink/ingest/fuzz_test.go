package ingest

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/format"
	"github.com/spansink/spansink/sink/record"
)

// The fuzz targets decode arbitrary bodies; whatever a decoder accepts must
// encode, in both formats, to lines that are valid UTF-8 JSON objects
// without line breaks. Seed corpora live in testdata/fuzz/<FuzzName>/.

func encoders(t *testing.T) []format.Encoder {
	t.Helper()
	var out []format.Encoder
	for _, f := range []config.Format{config.FormatDBGPT, config.FormatOTLPJSON} {
		enc, err := format.NewEncoder(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, enc)
	}
	return out
}

func checkRecords(t *testing.T, f config.Format, records []record.Record, wantSpans int) {
	t.Helper()
	spans := 0
	for _, r := range records {
		spans += r.Spans
		if !utf8.Valid(r.Line) {
			t.Fatalf("%s line is not valid UTF-8: %q", f, r.Line)
		}
		if bytes.ContainsAny(r.Line, "\r\n") {
			t.Fatalf("%s line contains a line break: %q", f, r.Line)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(r.Line, &obj); err != nil {
			t.Fatalf("%s line is not a JSON object: %v: %q", f, err, r.Line)
		}
		if f == config.FormatOTLPJSON {
			var u ptrace.JSONUnmarshaler
			if _, err := u.UnmarshalTraces(r.Line); err != nil {
				t.Fatalf("otlp-json line does not parse back: %v: %q", err, r.Line)
			}
		}
	}
	if wantSpans >= 0 && spans != wantSpans {
		t.Fatalf("%s records hold %d spans, want %d", f, spans, wantSpans)
	}
}

func fuzzTraces(t *testing.T, td ptrace.Traces) {
	DropInvalidSpans(td)
	want := td.SpanCount()
	for _, enc := range encoders(t) {
		records, err := enc.EncodeTraces(td)
		if err != nil {
			t.Fatalf("%s: encode accepted spans: %v", enc.Format(), err)
		}
		checkRecords(t, enc.Format(), records, want)
	}
}

func FuzzDecodeOTLPProto(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		td, _, err := DecodeOTLPProto(body)
		if err != nil {
			return
		}
		fuzzTraces(t, td)
	})
}

func FuzzDecodeOTLPJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		td, _, err := DecodeOTLPJSON(body)
		if err != nil {
			return
		}
		fuzzTraces(t, td)
	})
}

func FuzzDecodeDBGPT(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		batch, err := DecodeDBGPT(body, 0)
		if err != nil {
			return
		}
		if len(batch.Spans) != len(batch.Indexes) {
			t.Fatalf("%d spans but %d indexes", len(batch.Spans), len(batch.Indexes))
		}
		for _, enc := range encoders(t) {
			records, rejections, err := enc.EncodeDBGPT(batch.Spans)
			if err != nil {
				t.Fatalf("%s: encode valid records: %v", enc.Format(), err)
			}
			for _, r := range rejections {
				if r.Index < 0 || r.Index >= len(batch.Spans) || r.Message == "" {
					t.Fatalf("%s: bad rejection %+v", enc.Format(), r)
				}
			}
			want := -1
			if enc.Format() == config.FormatDBGPT {
				// Validated records always have a dbgpt form.
				if len(rejections) != 0 {
					t.Fatalf("dbgpt rejected validated records: %v", rejections)
				}
				want = len(batch.Spans)
			}
			checkRecords(t, enc.Format(), records, want)
		}
	})
}
