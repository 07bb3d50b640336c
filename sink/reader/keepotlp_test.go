package reader

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/format"
)

// memoryInputs is an OpenFunc over contents held in memory, as an object
// store's bodies are streamed: the Scanner must read any OpenFunc's inputs
// as it reads files, compressed or not.
func memoryInputs(contents map[string][]byte) OpenFunc {
	return func(_ context.Context, name string) (io.ReadCloser, error) {
		data, ok := contents[name]
		if !ok {
			return nil, io.ErrUnexpectedEOF
		}
		return io.NopCloser(bytes.NewReader(data)), nil
	}
}

func zstdBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := zstd.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	w.Close()
	return out.Bytes()
}

// dbgptRecordsAsOTLPJSON stores DB-GPT records with the otlp-json encoder,
// as a collector configured for otlp-json does.
func dbgptRecordsAsOTLPJSON(t *testing.T, records []format.DBGPTSpan) []byte {
	t.Helper()
	enc, err := format.NewEncoder(config.FormatOTLPJSON)
	if err != nil {
		t.Fatal(err)
	}
	out, rejected, err := enc.EncodeDBGPT(records)
	if err != nil || len(rejected) > 0 {
		t.Fatalf("encode: %v %v", err, rejected)
	}
	var b bytes.Buffer
	for _, r := range out {
		b.Write(r.Line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func strPtr(s string) *string { return &s }

// TestKeepOTLPJoinsDBGPTRecordsOfOTLPJSON: a DB-GPT span whose start and end
// records were stored as otlp-json spans, in two inputs opened by an
// OpenFunc (one zstd-compressed), comes out once, as pdata, with the end
// record's span and the start record's attributes it lacked, but not the
// start record's mark.
func TestKeepOTLPJoinsDBGPTRecordsOfOTLPJSON(t *testing.T) {
	const trace = "0af7651916cd43dd8448eb211c80319c"
	start := format.DBGPTSpan{SpanType: "chat", TraceID: trace, SpanID: trace + ":0000000000000001", OperationName: "chat",
		StartTime: strPtr("2024-05-01 10:00:00.000"), Metadata: []byte(`{"user":"alice","model":"vicuna"}`)}
	end := start
	end.EndTime = strPtr("2024-05-01 10:00:02.000")
	end.Metadata = []byte(`{"model":"vicuna","tokens":120}`)
	inputs := map[string][]byte{
		"mem://a": dbgptRecordsAsOTLPJSON(t, []format.DBGPTSpan{start}),
		"mem://b": zstdBytes(t, dbgptRecordsAsOTLPJSON(t, []format.DBGPTSpan{end})),
	}
	scanner := &Scanner{Open: memoryInputs(inputs), KeepOTLP: true, NeedMetadata: true}
	var got []Span
	summary, err := scanner.ScanStreams(context.Background(), [][]string{{"mem://a"}, {"mem://b"}}, func(s *Span) error {
		got = append(got, *s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if summary.Files != 2 || len(got) != 1 {
		t.Fatalf("summary %+v, %d spans; want 2 inputs and 1 joined span", summary, len(got))
	}
	s := got[0]
	if s.OTLP == nil || s.Metadata != nil {
		t.Fatalf("span %+v: want its pdata kept in place of metadata", s)
	}
	attrs := s.OTLP.Span.Attributes().AsRaw()
	for key, want := range map[string]any{"user": "alice", "model": "vicuna", "tokens": int64(120), format.DBGPTSpanTypeAttribute: "chat"} {
		if attrs[key] != want {
			t.Errorf("attribute %s = %v, want %v (all: %v)", key, attrs[key], want, attrs)
		}
	}
	if _, ok := attrs[format.DBGPTRecordAttribute]; ok {
		t.Errorf("the joined span is still marked as a start record")
	}
	if d, _ := s.Duration(); d.Seconds() != 2 || s.OTLP.Scope.Scope().Name() != format.DBGPTScopeName {
		t.Errorf("duration %s, scope %q", d, s.OTLP.Scope.Scope().Name())
	}
}

// TestKeepOTLPKeepsOTLPSpansWhole: an OTLP span comes out as pdata decoded
// it, fields the dbgpt layout would lose included.
func TestKeepOTLPKeepsOTLPSpansWhole(t *testing.T) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.21.0")
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetTraceID([16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	span.SetSpanID([8]byte{1, 2, 3, 4, 5, 6, 7, 8})
	span.SetStartTimestamp(1e18)
	span.SetEndTimestamp(1e18 + 1)
	span.Attributes().PutDouble("ratio", 2.0)
	span.SetDroppedAttributesCount(4)
	line, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	scanner := &Scanner{Open: memoryInputs(map[string][]byte{"mem://x": append(line, '\n')}), KeepOTLP: true, NeedMetadata: true}
	var kept *OTLPSpan
	if _, err := scanner.Scan(context.Background(), []string{"mem://x"}, func(s *Span) error { kept = s.OTLP; return nil }); err != nil {
		t.Fatal(err)
	}
	if kept == nil {
		t.Fatal("no span kept")
	}
	if kept.Resource.SchemaUrl() != rs.SchemaUrl() || kept.Span.DroppedAttributesCount() != 4 {
		t.Errorf("lost the schema URL or the dropped count")
	}
	if v, _ := kept.Span.Attributes().Get("ratio"); v.Type().String() != "Double" {
		t.Errorf("ratio is %s, want Double", v.Type())
	}
}

func TestScanReportsAnInputThatDoesNotOpen(t *testing.T) {
	var warnings []string
	scanner := &Scanner{Open: memoryInputs(nil), Warn: func(w Warning) { warnings = append(warnings, w.String()) }}
	summary, err := scanner.Scan(context.Background(), []string{"mem://missing"}, func(*Span) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if summary.FilesFailed != 1 || len(warnings) != 1 || !strings.HasPrefix(warnings[0], "mem://missing: ") {
		t.Fatalf("summary %+v, warnings %q", summary, warnings)
	}
}
