package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

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

// fuzzLimits are small enough for fuzzed requests to cross them.
var fuzzLimits = format.AttributeLimits{MaxCount: 3, MaxValueBytes: 8}

// limitSeeds are bodies at and over the content limits, in the three
// encodings: nesting at and past config.MaxNestingDepth (and far past it),
// many attributes, long values, many records.
func limitSeeds(t testing.TB) (proto, otlpJSON, dbgpt [][]byte) {
	add := func(td ptrace.Traces) {
		p, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			t.Fatal(err)
		}
		j, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		proto, otlpJSON = append(proto, p), append(otlpJSON, j)
	}
	for _, depth := range []int{config.MaxNestingDepth, config.MaxNestingDepth + 1, config.MaxNestingDepth + 8} {
		add(nestedTraces(depth, true))
		add(nestedTraces(depth, false))
	}
	add(limitedTraces())
	many := spansTraces(1)
	for i := range 200 {
		many.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutInt(fmt.Sprintf("k%d", i), int64(i))
	}
	add(many)
	long := spansTraces(1)
	long.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutStr("long", strings.Repeat("é", 600))
	add(long)
	add(spansTraces(6))
	otlpJSON = append(otlpJSON, []byte(`{"resourceSpans":[`+strings.Repeat(`[`, 2000)+strings.Repeat(`]`, 2000)+`]}`))
	dbgpt = [][]byte{
		[]byte(dbgptMetadata(config.MaxNestingDepth)),
		[]byte(dbgptMetadata(config.MaxNestingDepth + 1)),
		[]byte("[" + strings.Repeat("0,", 300) + "0]"),
		[]byte(`{"TRACE_ID":"t","span_id":"s"}` + "\n" + `{"trace\u005fid":"t","span_id":"s"}`),
		dbgptRecords(6),
	}
	return proto, otlpJSON, dbgpt
}

func fuzzTraces(t *testing.T, td ptrace.Traces) {
	// What the decoders accept is within the nesting limit.
	if err := format.CheckNesting(td); err != nil {
		t.Fatalf("decoder accepted a request nested too deep: %v", err)
	}
	fuzzLimits.Apply(td)
	if c := fuzzLimits.Apply(td); c != (format.LimitCounts{}) {
		t.Fatalf("limits applied twice changed %+v", c)
	}
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
	seeds, _, _ := limitSeeds(f)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		td, _, err := DecodeOTLPProto(body)
		if err != nil {
			return
		}
		fuzzTraces(t, td)
	})
}

func FuzzDecodeOTLPJSON(f *testing.F) {
	_, seeds, _ := limitSeeds(f)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		td, _, err := DecodeOTLPJSON(body)
		if err != nil {
			return
		}
		fuzzTraces(t, td)
	})
}

func FuzzDecodeDBGPT(f *testing.F) {
	_, _, seeds := limitSeeds(f)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		const maxRecords = 5
		batch, err := DecodeDBGPT(body, maxRecords)
		var tooMany *TooManySpansError
		if errors.As(err, &tooMany) {
			if tooMany.Spans <= maxRecords {
				t.Fatalf("refused %d records as too many", tooMany.Spans)
			}
			return
		}
		if err != nil {
			return
		}
		if len(batch.Spans) != len(batch.Indexes) {
			t.Fatalf("%d spans but %d indexes", len(batch.Spans), len(batch.Indexes))
		}
		if batch.Total() > maxRecords || len(batch.Rejections) > config.MaxReportedRejections || len(batch.Rejections) > batch.Rejected {
			t.Fatalf("%d records, %d of %d rejections listed", batch.Total(), len(batch.Rejections), batch.Rejected)
		}
		for _, r := range batch.Rejections {
			if len(r.Message) > maxRejectionMessage+3 {
				t.Fatalf("rejection message of %d bytes", len(r.Message))
			}
		}
		for _, s := range batch.Spans {
			if _, depth := scanValue(s.Metadata); depth > config.MaxNestingDepth+1 {
				t.Fatalf("metadata nesting %d accepted", depth)
			}
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
