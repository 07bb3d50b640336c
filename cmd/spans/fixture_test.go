package spans

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Trace ids used by the fixture.
const (
	traceA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" // DB-GPT pairs and an orphan, gzip
	traceB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" // DB-GPT error and a start without end, zstd
	traceC = "cccccccccccccccccccccccccccccccc" // size-rotated plain file with corrupt lines
	traceD = "dddddddddddddddddddddddddddddddd" // otlp-json line in the active file
	traceE = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee" // OTLP-origin span stored as dbgpt
)

// fixtureNow is the injected "now" for relative time filters.
var fixtureNow = time.Date(2024, 5, 2, 12, 0, 0, 0, time.UTC)

// day1 is a daily rollover, gzip-compressed: a DB-GPT trace written as start
// and end records, whose root's end record replaced part of the metadata,
// and an orphan.
var day1 = []string{
	`{"span_type": "chat", "trace_id": "` + traceA + `", "span_id": "` + traceA + `:1111111111111111", "parent_span_id": null, "operation_name": "chat_completion", "start_time": "2024-05-01 10:00:00.000", "end_time": null, "metadata": {"user": "alice", "model": "vicuna"}}`,
	`{"span_type": "base", "trace_id": "` + traceA + `", "span_id": "` + traceA + `:2222222222222222", "parent_span_id": "` + traceA + `:1111111111111111", "operation_name": "retrieve", "start_time": "2024-05-01 10:00:00.100", "end_time": null, "metadata": {"k": 3}}`,
	`{"span_type": "base", "trace_id": "` + traceA + `", "span_id": "` + traceA + `:2222222222222222", "parent_span_id": "` + traceA + `:1111111111111111", "operation_name": "retrieve", "start_time": "2024-05-01 10:00:00.100", "end_time": "2024-05-01 10:00:00.400", "metadata": {"k": 3, "docs": ["a.md", "b.md"]}}`,
	`{"span_type": "base", "trace_id": "` + traceA + `", "span_id": "` + traceA + `:3333333333333333", "parent_span_id": "` + traceA + `:2222222222222222", "operation_name": "embed", "start_time": "2024-05-01 10:00:00.150", "end_time": "2024-05-01 10:00:00.180", "metadata": null}`,
	`{"span_type": "chat", "trace_id": "` + traceA + `", "span_id": "` + traceA + `:1111111111111111", "parent_span_id": null, "operation_name": "chat_completion", "start_time": "2024-05-01 10:00:00.000", "end_time": "2024-05-01 10:00:02.000", "metadata": {"model": "vicuna", "tokens": 120}}`,
	`{"span_type": "base", "trace_id": "` + traceA + `", "span_id": "` + traceA + `:4444444444444444", "parent_span_id": "` + traceA + `:9999999999999999", "operation_name": "rerank", "start_time": "2024-05-01 10:00:00.500", "end_time": "2024-05-01 10:00:00.600", "metadata": {"reason": "parent written by another process"}}`,
}

// day2 is the next day's rollover, zstd-compressed: a failed DB-GPT span and
// a start record whose end never came.
var day2 = []string{
	`{"span_type": "chat", "trace_id": "` + traceB + `", "span_id": "` + traceB + `:1111111111111111", "parent_span_id": null, "operation_name": "chat_completion", "start_time": "2024-05-02 09:00:00.000", "end_time": "2024-05-02 09:00:00.800", "metadata": {"service.name": "dbgpt", "error": "timeout talking to model"}}`,
	`{"span_type": "run", "trace_id": "` + traceB + `", "span_id": "` + traceB + `:2222222222222222", "parent_span_id": "` + traceB + `:1111111111111111", "operation_name": "llm_generate", "start_time": "2024-05-02 09:00:00.100", "end_time": null, "metadata": {"service.name": "dbgpt"}}`,
}

// day2Rotated is the same day's size rotation, plain, with a torn line and a
// record without a trace id between good ones.
var day2Rotated = []string{
	`{"span_type": "base", "trace_id": "` + traceC + `", "span_id": "c1", "parent_span_id": null, "operation_name": "embed", "start_time": "2024-05-02 11:30:00.000", "end_time": "2024-05-02 11:30:00.050", "metadata": {"service.name": "embedder", "attributes": {"batch": 16}, "status": {"code": "ok"}}}`,
	`{"span_type": "base", "trace_id": "` + traceC + `", "span_id": "c2", "parent_sp`,
	`{"span_type": "base", "span_id": "c3", "operation_name": "lost"}`,
	``,
	`{"span_type": "base", "trace_id": "` + traceC + `", "span_id": "c4", "parent_span_id": "c1", "operation_name": "tokenize", "start_time": "2024-05-02 11:30:00.010", "end_time": "2024-05-02 11:30:00.020", "metadata": {"service.name": "embedder"}}`,
}

// otlpE is a span the collector received over OTLP and stored as dbgpt.
var otlpE = `{"span_type":"base","trace_id":"` + traceE + `","span_id":"e000000000000001","parent_span_id":null,"operation_name":"POST /pay","start_time":"2024-05-02 11:50:00.000","end_time":"2024-05-02 11:50:01.000","metadata":{"service.name":"checkout","attributes":{"http.method":"POST","amount":1999},"resource":{"service.name":"checkout"},"span_kind":"server","status":{"code":"unset"},"start_time_unix_nano":1714650600000000000,"end_time_unix_nano":1714650601000123456}}`

// otlpDLine is an otlp-json line with two spans of trace D.
func otlpDLine(t *testing.T) string {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	rs.Resource().Attributes().PutStr("host.name", "node-1")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("shop")
	ss.Scope().SetVersion("1.0")
	start := time.Date(2024, 5, 2, 11, 45, 0, 0, time.UTC)

	root := ss.Spans().AppendEmpty()
	root.SetTraceID(pcommon.TraceID(hex16(t, traceD)))
	root.SetSpanID(pcommon.SpanID{0xd0, 0, 0, 0, 0, 0, 0, 1})
	root.SetName("GET /cart")
	root.SetKind(ptrace.SpanKindServer)
	root.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	root.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(250 * time.Millisecond)))
	root.Status().SetCode(ptrace.StatusCodeOk)
	root.Attributes().PutStr("http.route", "/cart")

	child := ss.Spans().AppendEmpty()
	child.SetTraceID(pcommon.TraceID(hex16(t, traceD)))
	child.SetSpanID(pcommon.SpanID{0xd0, 0, 0, 0, 0, 0, 0, 2})
	child.SetParentSpanID(pcommon.SpanID{0xd0, 0, 0, 0, 0, 0, 0, 1})
	child.SetName("SELECT cart")
	child.SetKind(ptrace.SpanKindClient)
	child.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(50 * time.Millisecond)))
	child.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(200*time.Millisecond + 1500)))
	child.Status().SetCode(ptrace.StatusCodeError)
	child.Status().SetMessage("deadlock detected")
	child.TraceState().FromRaw("vendor=1")
	attrs := child.Attributes()
	attrs.PutStr("db.system", "postgres")
	attrs.PutInt("retries", 2)
	attrs.PutBool("cached", false)
	attrs.PutDouble("ratio", 0.5)
	tags := attrs.PutEmptySlice("tags")
	tags.AppendEmpty().SetStr("a")
	tags.AppendEmpty().SetInt(7)
	attrs.PutEmptyMap("conn").PutStr("pool", "main")
	attrs.PutEmptyBytes("raw").FromRaw([]byte{1, 2, 3})
	event := child.Events().AppendEmpty()
	event.SetName("retry")
	event.SetTimestamp(pcommon.NewTimestampFromTime(start.Add(100 * time.Millisecond)))
	event.Attributes().PutInt("attempt", 1)
	link := child.Links().AppendEmpty()
	link.SetTraceID(pcommon.TraceID(hex16(t, traceE)))
	link.SetSpanID(pcommon.SpanID{0xe0, 0, 0, 0, 0, 0, 0, 1})

	var marshaler ptrace.JSONMarshaler
	line, err := marshaler.MarshalTraces(td)
	if err != nil {
		t.Fatalf("marshal OTLP fixture: %v", err)
	}
	return string(line)
}

func hex16(t *testing.T, s string) [16]byte {
	t.Helper()
	var out [16]byte
	for i := range out {
		var b byte
		for _, c := range s[2*i : 2*i+2] {
			b <<= 4
			switch {
			case c >= '0' && c <= '9':
				b |= byte(c - '0')
			case c >= 'a' && c <= 'f':
				b |= byte(c-'a') + 10
			default:
				t.Fatalf("bad hex %q", s)
			}
		}
		out[i] = b
	}
	return out
}

// writeFixture lays out a span directory as the collector leaves it: two
// compressed daily rollovers, a plain size rotation and the active file.
func writeFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeGzip(t, filepath.Join(dir, "spans_2024-05-01.jsonl.gz"), lines(day1))
	writeZstd(t, filepath.Join(dir, "spans_2024-05-02.jsonl.zst"), lines(day2))
	writeFile(t, filepath.Join(dir, "spans_2024-05-02.1.jsonl"), lines(day2Rotated))
	writeFile(t, filepath.Join(dir, "spans.jsonl"), lines([]string{otlpDLine(t), otlpE}))
	return dir
}

func lines(records []string) []byte {
	return []byte(strings.Join(records, "\n") + "\n")
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeGzip(t *testing.T, path string, data []byte) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, buf.Bytes())
}

func writeZstd(t *testing.T, path string, data []byte) {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, buf.Bytes())
}
