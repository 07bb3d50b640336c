package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/format"
)

// newLimitEnv is newTestEnv with options changed by set.
func newLimitEnv(t *testing.T, f config.Format, set func(*Options)) *testEnv {
	t.Helper()
	enc, err := format.NewEncoder(f)
	if err != nil {
		t.Fatal(err)
	}
	sub := &recordingSubmitter{}
	reg := prometheus.NewRegistry()
	opts := Options{Submitter: sub, Encoder: enc, MaxRequestBytes: 32 << 20, Metrics: NewMetrics(reg)}
	set(&opts)
	srv := httptest.NewServer(NewHTTPHandler(opts))
	t.Cleanup(srv.Close)
	return &testEnv{sub: sub, reg: reg, opts: opts, baseURL: srv.URL}
}

// spansTraces is a request of n valid spans.
func spansTraces(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for i := range n {
		s := spans.AppendEmpty()
		s.SetTraceID(pcommon.TraceID{1, byte(i >> 8), byte(i)})
		s.SetSpanID(pcommon.SpanID{1, byte(i >> 8), byte(i)})
		s.SetName(fmt.Sprintf("span-%d", i))
	}
	return td
}

// dbgptRecords is n valid DB-GPT records as JSON lines.
func dbgptRecords(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"trace_id":"%032x","span_id":"%032x:%016x","operation_name":"op","start_time":"2024-03-01 10:00:00"}`+"\n", i+1, i+1, i+1)
	}
	return b.Bytes()
}

// readAll reads and closes resp's body.
func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A request of more spans than the queue holds is refused whole on every
// path, with both numbers, as not retryable, and counted.
func TestSpansPerRequest(t *testing.T) {
	const limit = 5
	const want = "request holds more spans than the span queue can hold: 6 spans, at most 5 are taken in one request (batch.maxQueuedSpans, the size of the span queue); send them in smaller requests"
	for _, tc := range []struct {
		name, path, contentType string
		format                  config.Format
		body                    func(t *testing.T) []byte
	}{
		{"otlp protobuf dbgpt wire path", TracesPath, contentTypeProto, config.FormatDBGPT, func(t *testing.T) []byte { return protoBody(t, spansTraces(6)) }},
		{"otlp protobuf otlp-json wire path", TracesPath, contentTypeProto, config.FormatOTLPJSON, func(t *testing.T) []byte { return protoBody(t, spansTraces(6)) }},
		{"otlp json", TracesPath, contentTypeJSON, config.FormatDBGPT, func(t *testing.T) []byte { return jsonBody(t, spansTraces(6)) }},
		{"dbgpt lines", DBGPTPath, "application/x-ndjson", config.FormatDBGPT, func(*testing.T) []byte { return dbgptRecords(6) }},
		{"dbgpt array", DBGPTPath, contentTypeJSON, config.FormatOTLPJSON, func(*testing.T) []byte {
			lines := bytes.Split(bytes.TrimSpace(dbgptRecords(6)), []byte("\n"))
			return append(append([]byte("["), bytes.Join(lines, []byte(","))...), ']')
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newLimitEnv(t, tc.format, func(o *Options) { o.MaxSpansPerRequest = limit })
			resp := post(t, env.baseURL+tc.path, tc.contentType, "", tc.body(t))
			out := readAll(t, resp)
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413: %s", resp.StatusCode, out)
			}
			if resp.Header.Get("Retry-After") != "" {
				t.Errorf("Retry-After %q on a request a retry cannot help", resp.Header.Get("Retry-After"))
			}
			msg, retry := errorMessage(t, resp, out)
			if msg != want || retry {
				t.Errorf("message %q (RetryInfo %v), want %q without RetryInfo", msg, retry, want)
			}
			if n := env.sub.count(); n != 0 {
				t.Errorf("%d records stored, want none", n)
			}
			protocol := ProtocolOTLPHTTP
			if tc.path == DBGPTPath {
				protocol = ProtocolDBGPT
			}
			if got := env.counter(t, "spansink_spans_rejected_total", map[string]string{"protocol": protocol, "reason": ReasonTooManySpans}); got != 6 {
				t.Errorf("rejected{too_many_spans} = %v, want 6", got)
			}
			// At the limit the request is taken.
			body := tc.body(t)
			if tc.path == DBGPTPath {
				body = dbgptRecords(limit)
			} else if tc.contentType == contentTypeJSON {
				body = jsonBody(t, spansTraces(limit))
			} else {
				body = protoBody(t, spansTraces(limit))
			}
			resp = post(t, env.baseURL+tc.path, tc.contentType, "", body)
			if out := readAll(t, resp); resp.StatusCode != http.StatusOK {
				t.Fatalf("at the limit: status %d: %s", resp.StatusCode, out)
			}
		})
	}
}

// Over gRPC the refusal is ResourceExhausted without RetryInfo, which OTLP
// clients read as not retryable.
func TestSpansPerRequestGRPC(t *testing.T) {
	for _, f := range []config.Format{config.FormatDBGPT, config.FormatOTLPJSON} {
		t.Run(string(f), func(t *testing.T) {
			env := newLimitEnv(t, f, func(o *Options) { o.MaxSpansPerRequest = 5 })
			client := grpcClient(t, startGRPC(t, env.opts))
			_, err := client.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(spansTraces(6)))
			st, _ := status.FromError(err)
			if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "6 spans, at most 5 are taken in one request (batch.maxQueuedSpans") {
				t.Fatalf("error %v, want ResourceExhausted naming 6 and 5", err)
			}
			for _, d := range st.Details() {
				if _, ok := d.(*errdetails.RetryInfo); ok {
					t.Fatalf("RetryInfo %v: the refusal must not be retried", d)
				}
			}
			if env.sub.count() != 0 {
				t.Fatal("spans of a refused request stored")
			}
			if got := env.counter(t, "spansink_spans_rejected_total", map[string]string{"protocol": ProtocolOTLPGRPC, "reason": ReasonTooManySpans}); got != 6 {
				t.Errorf("rejected{too_many_spans} = %v, want 6", got)
			}
		})
	}
}

// limitedTraces is one span over both attribute limits (4 and 8): 6
// attributes, a long string, long bytes, an event and a link over them.
func limitedTraces() ptrace.Traces {
	td := spansTraces(1)
	span := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	attrs := span.Attributes()
	attrs.PutStr("long", "0123456789abcdef")
	attrs.PutEmptyBytes("bytes").FromRaw([]byte("0123456789"))
	attrs.PutStr("utf8", "ééééé") // 10 bytes: cut to 8 at a boundary
	attrs.PutStr("short", "ok")
	attrs.PutStr("dropped-1", "x")
	attrs.PutStr("dropped-2", "x")
	ev := span.Events().AppendEmpty()
	ev.SetName("ev")
	for i := range 5 {
		ev.Attributes().PutInt(fmt.Sprintf("e%d", i), int64(i))
	}
	link := span.Links().AppendEmpty()
	link.SetTraceID(pcommon.TraceID{9})
	link.SetSpanID(pcommon.SpanID{9})
	link.Attributes().PutStr("l", "0123456789")
	return td
}

// Attributes over the limits are dropped and truncated on every OTLP path,
// in both formats, and counted.
func TestAttributeLimits(t *testing.T) {
	for _, tc := range []struct {
		name, contentType string
		format            config.Format
	}{
		{"protobuf to dbgpt", contentTypeProto, config.FormatDBGPT},
		{"protobuf to otlp-json", contentTypeProto, config.FormatOTLPJSON},
		{"json to dbgpt", contentTypeJSON, config.FormatDBGPT},
		{"json to otlp-json", contentTypeJSON, config.FormatOTLPJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newLimitEnv(t, tc.format, func(o *Options) { o.MaxAttributesPerSpan, o.MaxAttributeValueBytes = 4, 8 })
			body := protoBody(t, limitedTraces())
			if tc.contentType == contentTypeJSON {
				body = jsonBody(t, limitedTraces())
			}
			resp := post(t, env.baseURL+TracesPath, tc.contentType, "", body)
			if out := readAll(t, resp); resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, out)
			}
			if env.sub.count() != 1 {
				t.Fatalf("%d records stored, want 1", env.sub.count())
			}
			td := storedTraces(t, tc.format, env.sub.records[0].Line)
			span := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
			got := span.Attributes().AsRaw()
			want := map[string]any{"long": "01234567", "bytes": "MDEyMzQ1Njc=", "utf8": "éééé", "short": "ok"}
			if tc.format == config.FormatOTLPJSON {
				want["bytes"] = []byte("01234567")
				if n := span.DroppedAttributesCount(); n != 2 {
					t.Errorf("dropped_attributes_count = %d, want 2", n)
				}
				if n := span.Events().At(0).DroppedAttributesCount(); n != 1 {
					t.Errorf("event dropped_attributes_count = %d, want 1", n)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("stored attributes %v, want %v", got, want)
			}
			if n := span.Events().At(0).Attributes().Len(); n != 4 {
				t.Errorf("event keeps %d attributes, want 4", n)
			}
			if v, _ := span.Links().At(0).Attributes().Get("l"); v.Str() != "01234567" {
				t.Errorf("link attribute %q, want it cut to 8 bytes", v.Str())
			}
			if got := env.counter(t, "spansink_attributes_dropped_total", map[string]string{"protocol": ProtocolOTLPHTTP}); got != 3 {
				t.Errorf("attributes dropped = %v, want 3 (2 of the span, 1 of the event)", got)
			}
			if got := env.counter(t, "spansink_attribute_values_truncated_total", map[string]string{"protocol": ProtocolOTLPHTTP}); got != 4 {
				t.Errorf("values truncated = %v, want 4", got)
			}
		})
	}
}

// storedTraces reads a stored line back as pdata: an otlp-json line as it
// is, a dbgpt line's metadata attributes, events and links into one span.
func storedTraces(t *testing.T, f config.Format, line []byte) ptrace.Traces {
	t.Helper()
	if f == config.FormatOTLPJSON {
		var u ptrace.JSONUnmarshaler
		td, err := u.UnmarshalTraces(line)
		if err != nil {
			t.Fatal(err)
		}
		return td
	}
	var rec struct {
		Metadata struct {
			Attributes map[string]any `json:"attributes"`
			Events     []struct {
				Attributes map[string]any `json:"attributes"`
			} `json:"events"`
			Links []struct {
				Attributes map[string]any `json:"attributes"`
			} `json:"links"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(line, &rec); err != nil {
		t.Fatal(err)
	}
	td := spansTraces(1)
	span := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	if err := span.Attributes().FromRaw(rec.Metadata.Attributes); err != nil {
		t.Fatal(err)
	}
	for _, ev := range rec.Metadata.Events {
		if err := span.Events().AppendEmpty().Attributes().FromRaw(ev.Attributes); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range rec.Metadata.Links {
		if err := span.Links().AppendEmpty().Attributes().FromRaw(l.Attributes); err != nil {
			t.Fatal(err)
		}
	}
	return td
}

// nestedTraces is one span with an event attribute nested depth lists deep
// (key-value lists, or arrays).
func nestedTraces(depth int, maps bool) ptrace.Traces {
	td := spansTraces(1)
	v := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Events().AppendEmpty().Attributes().PutEmpty("deep")
	for range depth {
		if maps {
			v = v.SetEmptyMap().PutEmpty("k")
		} else {
			v = v.SetEmptySlice().AppendEmpty()
		}
	}
	v.SetStr("bottom")
	return td
}

// Values nested deeper than config.MaxNestingDepth are refused on every
// OTLP path with a message naming the limit; at the limit they are stored.
func TestOTLPNesting(t *testing.T) {
	limit := config.MaxNestingDepth
	deepJSON := func(levels int) []byte {
		// Far deeper than any request: refused before pdata sees it.
		return []byte(`{"resourceSpans":[` + strings.Repeat(`{"x":[`, levels) + strings.Repeat(`]}`, levels) + `]}`)
	}
	for _, tc := range []struct {
		name, contentType string
		format            config.Format
		body              func(t *testing.T) []byte
		status            int
		msg               string
	}{
		{"protobuf maps at the limit, dbgpt wire path", contentTypeProto, config.FormatDBGPT, func(t *testing.T) []byte { return protoBody(t, nestedTraces(limit, true)) }, 200, ""},
		{"protobuf arrays at the limit, otlp-json wire path", contentTypeProto, config.FormatOTLPJSON, func(t *testing.T) []byte { return protoBody(t, nestedTraces(limit, false)) }, 200, ""},
		{"protobuf arrays over the limit", contentTypeProto, config.FormatDBGPT, func(t *testing.T) []byte { return protoBody(t, nestedTraces(limit+1, false)) },
			400, `decode OTLP protobuf ExportTraceServiceRequest: event attribute "deep" nests arrays and key-value lists more than 32 deep (the limit of every ingest path, config.MaxNestingDepth)`},
		// pdata's protobuf decoder itself stops at 33 key-value lists.
		{"protobuf maps past pdata's recursion limit", contentTypeProto, config.FormatDBGPT, func(t *testing.T) []byte { return protoBody(t, nestedTraces(limit+8, true)) },
			400, "decode OTLP protobuf ExportTraceServiceRequest: attribute values nest arrays and key-value lists more than 32 deep (the limit of every ingest path, config.MaxNestingDepth): proto: " + pdataRecursionError},
		{"json maps at the limit", contentTypeJSON, config.FormatOTLPJSON, func(t *testing.T) []byte { return jsonBody(t, nestedTraces(limit, true)) }, 200, ""},
		// Arrays nest 3 JSON levels per AnyValue level, so 33 of them pass
		// the byte scan and pdata decodes them.
		{"json arrays over the limit", contentTypeJSON, config.FormatDBGPT, func(t *testing.T) []byte { return jsonBody(t, nestedTraces(limit+1, false)) },
			400, `decode OTLP JSON ExportTraceServiceRequest: event attribute "deep" nests arrays and key-value lists more than 32 deep (the limit of every ingest path, config.MaxNestingDepth)`},
		{"json maps over the limit", contentTypeJSON, config.FormatDBGPT, func(t *testing.T) []byte { return jsonBody(t, nestedTraces(limit+1, true)) },
			400, "decode OTLP JSON ExportTraceServiceRequest: objects and arrays nest more than 140 deep, deeper than a request whose attribute values nest at most 32 arrays and key-value lists (the limit of every ingest path, config.MaxNestingDepth)"},
		{"json 700k deep", contentTypeJSON, config.FormatDBGPT, func(*testing.T) []byte { return deepJSON(700_000) },
			400, "decode OTLP JSON ExportTraceServiceRequest: objects and arrays nest more than 140 deep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newLimitEnv(t, tc.format, func(*Options) {})
			start := time.Now()
			resp := post(t, env.baseURL+TracesPath, tc.contentType, "", tc.body(t))
			out := readAll(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, out)
			}
			if tc.status != 200 {
				if msg, _ := errorMessage(t, resp, out); !strings.HasPrefix(msg, tc.msg) {
					t.Errorf("message %q, want %q", msg, tc.msg)
				}
				if env.sub.count() != 0 {
					t.Error("a refused request was stored")
				}
			} else if env.sub.count() != 1 {
				t.Errorf("%d records stored, want 1", env.sub.count())
			}
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("took %s", elapsed)
			}
		})
	}
}

// dbgptMetadata is one DB-GPT record whose metadata holds a value nested
// depth objects deep.
func dbgptMetadata(depth int) string {
	return `{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7","operation_name":"op","start_time":"2024-03-01 10:00:00","metadata":{"v":` +
		strings.Repeat(`{"k":`, depth) + `1` + strings.Repeat(`}`, depth) + `}}`
}

// DB-GPT metadata values nest as deeply as OTLP attribute values may, in
// both formats; a deeper record is rejected on its own.
func TestDBGPTNesting(t *testing.T) {
	for _, f := range []config.Format{config.FormatDBGPT, config.FormatOTLPJSON} {
		t.Run(string(f), func(t *testing.T) {
			env := newLimitEnv(t, f, func(*Options) {})
			body := dbgptMetadata(config.MaxNestingDepth) + "\n" + dbgptMetadata(config.MaxNestingDepth+1) + "\n" + dbgptMetadata(9_990)
			resp := post(t, env.baseURL+DBGPTPath, "application/x-ndjson", "", []byte(body))
			out := readAll(t, resp)
			var r DBGPTResponse
			if err := json.Unmarshal(out, &r); err != nil || resp.StatusCode != 200 {
				t.Fatalf("status %d: %s (%v)", resp.StatusCode, out, err)
			}
			want := []string{
				"metadata values nest arrays and objects 33 deep, more than the 32 accepted (the limit of every ingest path, config.MaxNestingDepth)",
				"metadata values nest arrays and objects 9990 deep, more than the 32 accepted (the limit of every ingest path, config.MaxNestingDepth)",
			}
			if r.Accepted != 1 || r.Rejected != 2 || len(r.Errors) != 2 || r.Errors[0].Message != want[0] || r.Errors[1].Message != want[1] || r.Errors[1].Index != 2 {
				t.Fatalf("response %+v, want 1 accepted and the deeper two rejected with %q", r, want)
			}
		})
	}
}

// A reply lists at most MaxReportedRejections reasons with the exact count,
// and stays small however many records were bad.
func TestDBGPTRejectionCap(t *testing.T) {
	const records = 1_000_000
	body := append(bytes.Repeat([]byte("0,"), records-1), '0')
	body = append(append([]byte{'['}, body...), ']')
	env := newLimitEnv(t, config.FormatDBGPT, func(*Options) {})
	start := time.Now()
	resp := post(t, env.baseURL+DBGPTPath, contentTypeJSON, "", body)
	out := readAll(t, resp)
	elapsed := time.Since(start)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	var r DBGPTResponse
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	if r.Rejected != records || len(r.Errors) != config.MaxReportedRejections || r.ErrorsOmitted != records-config.MaxReportedRejections {
		t.Fatalf("rejected %d, %d errors listed, %d omitted; want %d, %d, %d", r.Rejected, len(r.Errors), r.ErrorsOmitted, records, config.MaxReportedRejections, records-config.MaxReportedRejections)
	}
	if r.Errors[99].Index != 99 || r.Errors[99].Message != "record must be a JSON object, got a number" {
		t.Errorf("last listed error %+v", r.Errors[99])
	}
	if r.Error != "none of the 1000000 records is a valid DB-GPT span" {
		t.Errorf("error %q", r.Error)
	}
	// 100 errors of at most maxRejectionMessage bytes, each escaped at most
	// sixfold, and the counts.
	if limit := config.MaxReportedRejections*(6*maxRejectionMessage+40) + 200; len(out) > limit {
		t.Errorf("reply of %d bytes, over %d", len(out), limit)
	}
	if elapsed > 5*time.Second {
		t.Errorf("took %s", elapsed)
	}
	if got := env.counter(t, "spansink_spans_rejected_total", map[string]string{"protocol": ProtocolDBGPT, "reason": ReasonInvalidRecord}); got != records {
		t.Errorf("rejected{invalid_record} = %v, want %d", got, records)
	}
}

// A rejection quoting a huge value is cut in the reply.
func TestDBGPTRejectionMessageCap(t *testing.T) {
	long := strings.Repeat("9", 100_000)
	body := `{"trace_id":"t","span_id":"s","start_time":"` + long + `"}`
	batch, err := DecodeDBGPT([]byte(body), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(batch.Rejections) != 1 {
		t.Fatalf("rejections %v", batch.Rejections)
	}
	msg := batch.Rejections[0].Message
	if len(msg) != maxRejectionMessage+3 || !strings.HasPrefix(msg, `start_time: want "YYYY-MM-DD HH:MM:SS[.ffffff]", got "999`) || !strings.HasSuffix(msg, "...") {
		t.Errorf("message of %d bytes: %.80q...", len(msg), msg)
	}
}

// DB-GPT keys are matched exactly: encoding/json would take "TRACE_ID" for
// trace_id.
func TestDBGPTKeysExact(t *testing.T) {
	for _, tc := range []struct {
		name, record string
		err          string
		traceID      string
	}{
		{"upper-case key is unknown", `{"TRACE_ID":"t","span_id":"s"}`, "trace_id must be a non-empty string", ""},
		{"mixed case is unknown", `{"Trace_Id":"t","trace_id":"","span_id":"s"}`, "trace_id must be a non-empty string", ""},
		{"exact key", `{"TRACE_ID":"x","trace_id":"t","span_id":"s"}`, "", "t"},
		{"escaped key says trace_id", `{"trace\u005fid":"t","span_id":"s"}`, "", "t"},
		{"last of a repeated key", `{"trace_id":"a","trace_id":"b","span_id":"s"}`, "", "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, body := range []string{tc.record, "[" + tc.record + "]"} {
				batch, err := DecodeDBGPT([]byte(body), 0)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case tc.err != "" && (batch.Rejected != 1 || batch.Rejections[0].Message != tc.err):
					t.Errorf("%s: rejections %+v, want %q", body, batch.Rejections, tc.err)
				case tc.err == "" && (len(batch.Spans) != 1 || batch.Spans[0].TraceID != tc.traceID):
					t.Errorf("%s: spans %+v (rejections %+v), want trace_id %q", body, batch.Spans, batch.Rejections, tc.traceID)
				}
			}
		})
	}
}
