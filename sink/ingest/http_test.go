package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/record"
)

func oneSpanTraces(traceID pcommon.TraceID, spanID pcommon.SpanID, name string) ptrace.Traces {
	td := ptrace.NewTraces()
	s := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetTraceID(traceID)
	s.SetSpanID(spanID)
	s.SetName(name)
	return td
}

func protoBody(t *testing.T, td ptrace.Traces) []byte {
	t.Helper()
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jsonBody(t *testing.T, td ptrace.Traces) []byte {
	t.Helper()
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func post(t *testing.T, url, contentType, contentEncoding string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if contentEncoding != "" {
		req.Header.Set("Content-Encoding", contentEncoding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// errorMessage extracts the message of an error response in whichever
// shape the endpoint answers with.
func errorMessage(t *testing.T, resp *http.Response, body []byte) (msg string, retryInfo bool) {
	t.Helper()
	ct := resp.Header.Get("Content-Type")
	switch {
	case ct == contentTypeProto, ct == contentTypeJSON && strings.Contains(resp.Request.URL.Path, TracesPath):
		var st spb.Status
		var err error
		if ct == contentTypeProto {
			err = proto.Unmarshal(body, &st)
		} else {
			err = protojson.Unmarshal(body, &st)
		}
		if err != nil {
			t.Fatalf("error body is not a google.rpc.Status (%s): %v: %q", ct, err, body)
		}
		for _, d := range st.GetDetails() {
			var ri errdetails.RetryInfo
			if d.UnmarshalTo(&ri) == nil {
				retryInfo = true
			}
		}
		return st.GetMessage(), retryInfo
	case ct == contentTypeJSON:
		var r DBGPTResponse
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("DB-GPT error body does not parse: %v: %q", err, body)
		}
		return r.Error, false
	case strings.HasPrefix(ct, "text/plain"):
		return string(body), false
	}
	t.Fatalf("unexpected Content-Type %q", ct)
	return "", false
}

func TestHTTPErrorsOnTheWire(t *testing.T) {
	valid := oneSpanTraces(pcommon.TraceID{1}, pcommon.SpanID{1}, "ok")
	big := oneSpanTraces(pcommon.TraceID{1}, pcommon.SpanID{1}, strings.Repeat("x", 100<<10))
	const dbgptLine = `{"span_type":"base","trace_id":"t","span_id":"t:1","parent_span_id":null,"operation_name":"op","start_time":"2024-03-01 10:00:00.000","end_time":null,"metadata":null}`
	cases := []struct {
		name            string
		method, path    string
		contentType     string
		contentEncoding string
		body            []byte
		submitErr       error
		wantStatus      int
		wantContentType string
		wantHeader      map[string]string
		wantMsg         string
		wantRetryInfo   bool
	}{
		{name: "unknown path", method: "POST", path: "/v1/logs", contentType: contentTypeProto, wantStatus: 404, wantContentType: "text/plain; charset=utf-8", wantMsg: "/v1/logs"},
		{name: "GET traces", method: "GET", path: TracesPath, wantStatus: 405, wantContentType: "text/plain; charset=utf-8", wantHeader: map[string]string{"Allow": "POST"}, wantMsg: "method GET not allowed"},
		{name: "PUT spans", method: "PUT", path: DBGPTPath, wantStatus: 405, wantContentType: "text/plain; charset=utf-8", wantHeader: map[string]string{"Allow": "POST"}, wantMsg: "use POST"},
		{name: "unknown content type", method: "POST", path: TracesPath, contentType: "text/xml", body: []byte("<x/>"), wantStatus: 415, wantContentType: "text/plain; charset=utf-8", wantMsg: `unsupported Content-Type "text/xml"`},
		{name: "undecodable protobuf", method: "POST", path: TracesPath, contentType: contentTypeProto, body: []byte{0xff, 0xff, 0xff}, wantStatus: 400, wantContentType: contentTypeProto, wantMsg: "decode OTLP protobuf"},
		{name: "undecodable JSON", method: "POST", path: TracesPath, contentType: contentTypeJSON, body: []byte(`{"resourceSpans":[`), wantStatus: 400, wantContentType: contentTypeJSON, wantMsg: "decode OTLP JSON"},
		{name: "undecodable JSON with a malformed id", method: "POST", path: TracesPath, contentType: contentTypeJSON, body: []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"abcd","spanId":"0102030405060708"},{"traceId":"01010101010101010101010101010101","spanId":"0102030405060708","kind":{}}]}]}]}`), wantStatus: 400, wantContentType: contentTypeJSON, wantMsg: "decode OTLP JSON"},
		{name: "body over limit", method: "POST", path: TracesPath, contentType: contentTypeProto, body: protoBody(t, big), wantStatus: 413, wantContentType: contentTypeProto, wantMsg: "exceeds the limit of 65536 bytes"},
		{name: "gzip bomb", method: "POST", path: TracesPath, contentType: contentTypeProto, contentEncoding: "gzip", body: gzipped(t, protoBody(t, big)), wantStatus: 413, wantContentType: contentTypeProto, wantMsg: "exceeds the limit of 65536 bytes after decompression"},
		{name: "corrupt gzip", method: "POST", path: TracesPath, contentType: contentTypeJSON, contentEncoding: "gzip", body: []byte("not gzip at all"), wantStatus: 400, wantContentType: contentTypeJSON, wantMsg: "gzip body"},
		{name: "unknown content encoding", method: "POST", path: TracesPath, contentType: contentTypeProto, contentEncoding: "br", body: protoBody(t, valid), wantStatus: 415, wantContentType: contentTypeProto, wantMsg: `unsupported Content-Encoding "br"`},
		{name: "queue full", method: "POST", path: TracesPath, contentType: contentTypeProto, body: protoBody(t, valid), submitErr: record.ErrQueueFull, wantStatus: 429, wantContentType: contentTypeProto, wantHeader: map[string]string{"Retry-After": "1"}, wantMsg: "span queue is full", wantRetryInfo: true},
		{name: "stopping", method: "POST", path: TracesPath, contentType: contentTypeJSON, body: jsonBody(t, valid), submitErr: record.ErrStopping, wantStatus: 503, wantContentType: contentTypeJSON, wantHeader: map[string]string{"Retry-After": "1"}, wantMsg: "collector is stopping", wantRetryInfo: true},
		{name: "storage failing", method: "POST", path: TracesPath, contentType: contentTypeProto, body: protoBody(t, valid), submitErr: record.ErrStorageUnavailable, wantStatus: 503, wantContentType: contentTypeProto, wantHeader: map[string]string{"Retry-After": "1"}, wantMsg: "storage is unavailable", wantRetryInfo: true},
		// The request's context ended while Submit waited: the records may
		// still be stored, so no retry is suggested.
		{name: "client canceled", method: "POST", path: TracesPath, contentType: contentTypeProto, body: protoBody(t, valid), submitErr: fmt.Errorf("wait for fsync: %w", context.Canceled), wantStatus: 503, wantContentType: contentTypeProto, wantMsg: "context canceled"},
		{name: "deadline passed", method: "POST", path: TracesPath, contentType: contentTypeJSON, body: jsonBody(t, valid), submitErr: context.DeadlineExceeded, wantStatus: 503, wantContentType: contentTypeJSON, wantMsg: "deadline exceeded"},
		{name: "dbgpt client canceled", method: "POST", path: DBGPTPath, contentType: contentTypeJSON, body: []byte(dbgptLine), submitErr: context.Canceled, wantStatus: 503, wantContentType: contentTypeJSON, wantMsg: "context canceled"},
		{name: "dbgpt form content type", method: "POST", path: DBGPTPath, contentType: "application/x-www-form-urlencoded", body: []byte(dbgptLine), wantStatus: 415, wantContentType: contentTypeJSON, wantMsg: "unsupported Content-Type"},
		{name: "dbgpt empty body", method: "POST", path: DBGPTPath, contentType: contentTypeJSON, wantStatus: 400, wantContentType: contentTypeJSON, wantMsg: "empty body"},
		{name: "dbgpt broken array", method: "POST", path: DBGPTPath, contentType: contentTypeJSON, body: []byte(`[{"trace_id":"t"`), wantStatus: 400, wantContentType: contentTypeJSON, wantMsg: "decode JSON array of DB-GPT spans"},
		{name: "dbgpt nothing valid", method: "POST", path: DBGPTPath, contentType: "application/x-ndjson", body: []byte("garbage\n{\"trace_id\":1}\n"), wantStatus: 400, wantContentType: contentTypeJSON, wantMsg: "none of the 2 records"},
		{name: "dbgpt over limit", method: "POST", path: DBGPTPath, contentType: contentTypeJSON, body: bytes.Repeat([]byte(dbgptLine+"\n"), 500), wantStatus: 413, wantContentType: contentTypeJSON, wantMsg: "exceeds the limit"},
		{name: "dbgpt queue full", method: "POST", path: DBGPTPath, contentType: contentTypeJSON, body: []byte(dbgptLine), submitErr: record.ErrQueueFull, wantStatus: 429, wantContentType: contentTypeJSON, wantHeader: map[string]string{"Retry-After": "1"}, wantMsg: "span queue is full"},
		{name: "dbgpt stopping", method: "POST", path: DBGPTPath, contentType: contentTypeJSON, body: []byte(dbgptLine), submitErr: record.ErrStopping, wantStatus: 503, wantContentType: contentTypeJSON, wantHeader: map[string]string{"Retry-After": "1"}, wantMsg: "collector is stopping"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, config.FormatDBGPT, tc.submitErr)
			req, err := http.NewRequest(tc.method, env.baseURL+tc.path, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			if tc.contentEncoding != "" {
				req.Header.Set("Content-Encoding", tc.contentEncoding)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %q", resp.StatusCode, tc.wantStatus, body)
			}
			if got := resp.Header.Get("Content-Type"); got != tc.wantContentType {
				t.Errorf("Content-Type %q, want %q", got, tc.wantContentType)
			}
			for k, v := range tc.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if _, ok := tc.wantHeader["Retry-After"]; !ok && resp.Header.Get("Retry-After") != "" {
				t.Errorf("unexpected Retry-After %q on a non-retryable error", resp.Header.Get("Retry-After"))
			}
			msg, retryInfo := errorMessage(t, resp, body)
			if !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("message %q, want it to contain %q", msg, tc.wantMsg)
			}
			if retryInfo != tc.wantRetryInfo {
				t.Errorf("RetryInfo detail present = %v, want %v", retryInfo, tc.wantRetryInfo)
			}
			if n := env.sub.count(); n != 0 {
				t.Errorf("a failed request stored %d records", n)
			}
		})
	}
}

func TestOTLPHTTPPartialSuccess(t *testing.T) {
	for _, enc := range []otlpEncoding{otlpProto, otlpJSON} {
		t.Run(enc.contentType, func(t *testing.T) {
			env := newTestEnv(t, config.FormatDBGPT, nil)
			td := oneSpanTraces(pcommon.TraceID{0xaa, 15: 1}, pcommon.SpanID{0xbb, 7: 1}, "good")
			spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
			noTrace := spans.AppendEmpty()
			noTrace.SetSpanID(pcommon.SpanID{2})
			noTrace.SetName("no trace id")
			noSpan := spans.AppendEmpty()
			noSpan.SetTraceID(pcommon.TraceID{3})
			noSpan.SetName("no span id")

			var body []byte
			if enc.contentType == contentTypeProto {
				body = protoBody(t, td)
			} else {
				body = jsonBody(t, td)
			}
			resp := post(t, env.baseURL+TracesPath, enc.contentType, "", body)
			defer resp.Body.Close()
			out, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %q", resp.StatusCode, out)
			}
			if ct := resp.Header.Get("Content-Type"); ct != enc.contentType {
				t.Errorf("response Content-Type %q, want %q", ct, enc.contentType)
			}
			er := ptraceotlp.NewExportResponse()
			var err error
			if enc.contentType == contentTypeProto {
				err = er.UnmarshalProto(out)
			} else {
				err = er.UnmarshalJSON(out)
			}
			if err != nil {
				t.Fatalf("response is not an ExportTraceServiceResponse: %v", err)
			}
			ps := er.PartialSuccess()
			if ps.RejectedSpans() != 2 {
				t.Errorf("rejected_spans %d, want 2", ps.RejectedSpans())
			}
			for _, want := range []string{"1 with an empty or all-zero trace_id", "1 with an empty or all-zero span_id"} {
				if !strings.Contains(ps.ErrorMessage(), want) {
					t.Errorf("message %q does not contain %q", ps.ErrorMessage(), want)
				}
			}
			lines := env.sub.lines()
			if len(lines) != 1 || lines[0]["operation_name"] != "good" || lines[0]["trace_id"] != "aa000000000000000000000000000001" || lines[0]["span_id"] != "bb00000000000001" {
				t.Fatalf("stored %v, want only the valid span", lines)
			}
			if got := env.counter(t, "spansink_spans_rejected_total", map[string]string{"protocol": ProtocolOTLPHTTP, "reason": ReasonInvalidTraceID}); got != 1 {
				t.Errorf("rejected{invalid_trace_id} = %v, want 1", got)
			}
			if got := env.counter(t, "spansink_spans_accepted_total", map[string]string{"protocol": ProtocolOTLPHTTP}); got != 1 {
				t.Errorf("accepted = %v, want 1", got)
			}
			if got := env.counter(t, "spansink_spans_received_total", map[string]string{"protocol": ProtocolOTLPHTTP}); got != 3 {
				t.Errorf("received = %v, want 3", got)
			}
		})
	}
}

func TestOTLPHTTPGzipAndFullSuccess(t *testing.T) {
	env := newTestEnv(t, config.FormatOTLPJSON, nil)
	td := oneSpanTraces(pcommon.TraceID{1, 2, 3}, pcommon.SpanID{4, 5, 6}, "zipped")
	resp := post(t, env.baseURL+TracesPath, contentTypeProto+"; charset=binary", "gzip", gzipped(t, protoBody(t, td)))
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %q", resp.StatusCode, out)
	}
	er := ptraceotlp.NewExportResponse()
	if err := er.UnmarshalProto(out); err != nil {
		t.Fatal(err)
	}
	if er.PartialSuccess().RejectedSpans() != 0 || er.PartialSuccess().ErrorMessage() != "" {
		t.Errorf("unexpected partial success %d %q", er.PartialSuccess().RejectedSpans(), er.PartialSuccess().ErrorMessage())
	}
	if len(env.sub.records) != 1 || env.sub.records[0].Spans != 1 {
		t.Fatalf("want one otlp-json record with one span, got %+v", env.sub.records)
	}
	var u ptrace.JSONUnmarshaler
	back, err := u.UnmarshalTraces(env.sub.records[0].Line)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Name(); got != "zipped" {
		t.Errorf("stored span %q", got)
	}
	if got := env.counter(t, "spansink_requests_total", map[string]string{"protocol": ProtocolOTLPHTTP, "code": "200"}); got != 1 {
		t.Errorf("requests{200} = %v, want 1", got)
	}
}

func TestDBGPTIngest(t *testing.T) {
	lines := strings.Join([]string{
		`{"span_type":"run","trace_id":"a3f5","span_id":"a3f5:01","parent_span_id":null,"operation_name":"start","start_time":"2024-03-01 10:00:00.123456","end_time":null,"metadata":{"k":"v"}}`,
		``,
		`{"span_type":"run","trace_id":"","span_id":"x"}`,
		`not json`,
		`{"span_type":"run","trace_id":"a3f5","span_id":"a3f5:01","parent_span_id":null,"operation_name":"start","start_time":"2024-03-01 10:00:00.123456","end_time":"2024-03-01 10:00:02.5","metadata":{"k":"v"}}`,
		`{"trace_id":"t","span_id":"s","start_time":"2024-03-01 25:00:00"}`,
		`{"trace_id":"t","span_id":"s","metadata":"text"}`,
		`[1]`,
	}, "\n")
	wantErrors := []struct {
		index int
		msg   string
	}{
		{1, "trace_id must be a non-empty string"},
		{2, "record must be a JSON object"},
		{4, "start_time: want"},
		{5, "metadata must be a JSON object or null, got a string"},
		{6, "record must be a JSON object, got an array"},
	}
	for _, body := range []struct{ name, contentType, body string }{
		{"json lines", "application/x-ndjson", lines},
		{"no content type", "", lines},
	} {
		t.Run(body.name, func(t *testing.T) {
			env := newTestEnv(t, config.FormatDBGPT, nil)
			resp := post(t, env.baseURL+DBGPTPath, body.contentType, "", []byte(body.body))
			defer resp.Body.Close()
			out, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, out)
			}
			var r DBGPTResponse
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatal(err)
			}
			if r.Accepted != 2 || r.Rejected != len(wantErrors) || len(r.Errors) != len(wantErrors) {
				t.Fatalf("response %+v, want 2 accepted and %d rejected", r, len(wantErrors))
			}
			for i, w := range wantErrors {
				if r.Errors[i].Index != w.index || !strings.Contains(r.Errors[i].Message, w.msg) {
					t.Errorf("error %d = %+v, want index %d containing %q", i, r.Errors[i], w.index, w.msg)
				}
			}
			stored := env.sub.lines()
			if len(stored) != 2 {
				t.Fatalf("stored %d records, want 2", len(stored))
			}
			if stored[0]["end_time"] != nil || stored[1]["end_time"] != "2024-03-01 10:00:02.5" {
				t.Errorf("want the start and the end record as sent, got %v", stored)
			}
			if got := env.counter(t, "spansink_spans_rejected_total", map[string]string{"protocol": ProtocolDBGPT, "reason": ReasonInvalidRecord}); got != 5 {
				t.Errorf("rejected{invalid_record} = %v, want 5", got)
			}
		})
	}
}

func TestDBGPTIngestArrayAsOTLPJSON(t *testing.T) {
	env := newTestEnv(t, config.FormatOTLPJSON, nil)
	body := `[
	  {"span_type":"chat","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"0af7651916cd43dd8448eb211c80319c:b7ad6b7169203331","parent_span_id":null,"operation_name":"chat","start_time":"2024-03-01 10:00:00.250","end_time":null,"metadata":{"model":"m"}},
	  {"span_type":"chat","trace_id":"nothex","span_id":"s","parent_span_id":null,"operation_name":"chat","start_time":"2024-03-01 10:00:00.250","end_time":null,"metadata":null}
	]`
	resp := post(t, env.baseURL+DBGPTPath, contentTypeJSON+"; charset=utf-8", "", []byte(body))
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, out)
	}
	var r DBGPTResponse
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	if r.Accepted != 1 || r.Rejected != 1 || r.Errors[0].Index != 1 || !strings.Contains(r.Errors[0].Message, "trace_id: want 32 hex digits") {
		t.Fatalf("response %+v", r)
	}
	var u ptrace.JSONUnmarshaler
	td, err := u.UnmarshalTraces(env.sub.records[0].Line)
	if err != nil {
		t.Fatal(err)
	}
	span := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	if span.SpanID().String() != "b7ad6b7169203331" || span.Name() != "chat" {
		t.Errorf("stored span %s %q", span.SpanID(), span.Name())
	}
	if got := env.counter(t, "spansink_spans_rejected_total", map[string]string{"protocol": ProtocolDBGPT, "reason": ReasonUnconvertible}); got != 1 {
		t.Errorf("rejected{unconvertible} = %v, want 1", got)
	}
}

// TestBadRequestDoesNotAffectOthers interleaves bad and good requests on
// one handler and checks that every good one is stored.
func TestBadRequestDoesNotAffectOthers(t *testing.T) {
	env := newTestEnv(t, config.FormatDBGPT, nil)
	good := protoBody(t, oneSpanTraces(pcommon.TraceID{1}, pcommon.SpanID{1}, "good"))
	bad := gzipped(t, bytes.Repeat([]byte{0}, 1<<20))
	for range 5 {
		resp := post(t, env.baseURL+TracesPath, contentTypeProto, "gzip", bad)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("bomb got %d", resp.StatusCode)
		}
		resp = post(t, env.baseURL+TracesPath, contentTypeProto, "", good)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("good request got %d", resp.StatusCode)
		}
	}
	if n := env.sub.count(); n != 5 {
		t.Errorf("stored %d spans, want 5", n)
	}
}

func TestOTLPHTTPMalformedIDsArePartialSuccess(t *testing.T) {
	good := &tracepb.Span{TraceId: bytes.Repeat([]byte{1}, 16), SpanId: bytes.Repeat([]byte{2}, 8), Name: "good", StartTimeUnixNano: 1_700_000_000_000_000_001}
	shortTrace := &tracepb.Span{TraceId: []byte{1, 2, 3, 4}, SpanId: bytes.Repeat([]byte{3}, 8), Name: "short trace id"}
	longParent := &tracepb.Span{TraceId: bytes.Repeat([]byte{1}, 16), SpanId: bytes.Repeat([]byte{4}, 8), ParentSpanId: bytes.Repeat([]byte{5}, 9), Name: "long parent id"}
	badLink := &tracepb.Span{TraceId: bytes.Repeat([]byte{1}, 16), SpanId: bytes.Repeat([]byte{6}, 8), Name: "bad link",
		Links: []*tracepb.Span_Link{{TraceId: []byte{1}, SpanId: bytes.Repeat([]byte{7}, 8)}}}
	protoReq, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{shortTrace, good, longParent, badLink}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	jsonReq := []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[
		{"traceId":"abcd","spanId":"0303030303030303","name":"short trace id"},
		{"traceId":"01010101010101010101010101010101","spanId":"0202020202020202","name":"good","startTimeUnixNano":1700000000000000001},
		{"trace_id":"01010101010101010101010101010101","span_id":"0404040404040404","parent_span_id":"050505050505050505","name":"long parent id"},
		{"traceId":"01010101010101010101010101010101","spanId":"0606060606060606","name":"bad link","links":[{"traceId":"01","spanId":"0707070707070707"}]}
	]}]}]}`)
	for _, tc := range []struct {
		contentType string
		body        []byte
	}{{contentTypeProto, protoReq}, {contentTypeJSON, jsonReq}} {
		t.Run(tc.contentType, func(t *testing.T) {
			env := newTestEnv(t, config.FormatDBGPT, nil)
			resp := post(t, env.baseURL+TracesPath, tc.contentType, "", tc.body)
			defer resp.Body.Close()
			out, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %q", resp.StatusCode, out)
			}
			er := ptraceotlp.NewExportResponse()
			if tc.contentType == contentTypeProto {
				err = er.UnmarshalProto(out)
			} else {
				err = er.UnmarshalJSON(out)
			}
			if err != nil {
				t.Fatal(err)
			}
			if ps := er.PartialSuccess(); ps.RejectedSpans() != 3 || !strings.Contains(ps.ErrorMessage(), "3 with a trace_id, span_id, parent_span_id or link id of the wrong length") {
				t.Errorf("partial success %d %q", ps.RejectedSpans(), ps.ErrorMessage())
			}
			lines := env.sub.lines()
			if len(lines) != 1 || lines[0]["operation_name"] != "good" || lines[0]["span_id"] != "0202020202020202" {
				t.Fatalf("stored %v, want only the good span", lines)
			}
			// The timestamp survives the salvage re-encoding exactly.
			if !strings.Contains(string(env.sub.records[0].Line), `"start_time_unix_nano":1700000000000000001`) {
				t.Errorf("start time changed: %s", env.sub.records[0].Line)
			}
			if got := env.counter(t, "spansink_spans_rejected_total", map[string]string{"protocol": ProtocolOTLPHTTP, "reason": ReasonMalformedID}); got != 3 {
				t.Errorf("rejected{malformed_id} = %v, want 3", got)
			}
		})
	}
}
