package jaegerproc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// A trace of a root and two children sent over OTLP/HTTP comes back from
// Trace span for span, with its parent links, names, times and attributes.
func TestTraceReadsBackWhatOTLPHTTPSent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	began := time.Now()
	j, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("started in %s; query API %s", time.Since(began).Round(time.Millisecond), j.QueryURL())
	defer j.Close()
	defer func() {
		if t.Failed() {
			log, _ := os.ReadFile(j.LogPath)
			t.Logf("jaeger log %s:\n%s", j.LogPath, log)
		}
	}()

	traceID := pcommon.TraceID([16]byte{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c})
	rootID := pcommon.SpanID([8]byte{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74})
	childA := pcommon.SpanID([8]byte{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x75})
	childB := pcommon.SpanID([8]byte{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x76})
	start := time.Now().Add(-time.Minute).Truncate(time.Microsecond)

	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("jaegerproc-test")
	add := func(id, parent pcommon.SpanID, name string, offset, d time.Duration) ptrace.Span {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(traceID)
		sp.SetSpanID(id)
		sp.SetParentSpanID(parent)
		sp.SetName(name)
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(offset)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(offset + d)))
		return sp
	}
	root := add(rootID, pcommon.NewSpanIDEmpty(), "GET /cart", 0, 300*time.Millisecond)
	root.Attributes().PutStr("http.route", "/cart")
	root.Attributes().PutInt("http.status_code", 200)
	a := add(childA, rootID, "load cart", 10*time.Millisecond, 100*time.Millisecond)
	a.Attributes().PutBool("cache.hit", false)
	b := add(childB, rootID, "price cart", 120*time.Millisecond, 150*time.Millisecond)
	b.Status().SetCode(ptrace.StatusCodeError)
	b.Status().SetMessage("no price")

	body, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+j.OTLPHTTPAddr()+"/v1/traces", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	respBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/traces: %s: %s", resp.Status, respBody)
	}

	waitCtx, waitCancel := context.WithTimeout(ctx, 30*time.Second)
	defer waitCancel()
	spans, err := j.WaitForSpans(waitCtx, traceID.String(), 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 3 {
		t.Fatalf("got %d spans, want 3: %+v", len(spans), spans)
	}
	byID := map[string]Span{}
	for _, sp := range spans {
		byID[sp.SpanID] = sp
		if sp.TraceID != traceID.String() || sp.Service != "checkout" || sp.Scope != "jaegerproc-test" || sp.Kind != "Server" {
			t.Errorf("span %s: trace %s service %q scope %q kind %q", sp.SpanID, sp.TraceID, sp.Service, sp.Scope, sp.Kind)
		}
	}
	want := []struct {
		id, parent, name string
		offset, d        time.Duration
	}{
		{rootID.String(), "", "GET /cart", 0, 300 * time.Millisecond},
		{childA.String(), rootID.String(), "load cart", 10 * time.Millisecond, 100 * time.Millisecond},
		{childB.String(), rootID.String(), "price cart", 120 * time.Millisecond, 150 * time.Millisecond},
	}
	for _, w := range want {
		sp, ok := byID[w.id]
		if !ok {
			t.Errorf("span %s (%s) missing", w.id, w.name)
			continue
		}
		if sp.ParentSpanID != w.parent || sp.Name != w.name || !sp.Start.Equal(start.Add(w.offset)) || sp.Duration != w.d {
			t.Errorf("span %s: parent %q name %q start %s duration %s, want parent %q name %q start %s duration %s",
				w.id, sp.ParentSpanID, sp.Name, sp.Start, sp.Duration, w.parent, w.name, start.Add(w.offset), w.d)
		}
	}
	if got := byID[rootID.String()].Attributes; got["http.route"] != "/cart" || got["http.status_code"] != int64(200) {
		t.Errorf("root attributes %v", got)
	}
	if got := byID[childA.String()].Attributes; got["cache.hit"] != false {
		t.Errorf("load cart attributes %v", got)
	}
	if sp := byID[childB.String()]; sp.StatusCode != "Error" || sp.StatusMessage != "no price" {
		t.Errorf("price cart status %q %q", sp.StatusCode, sp.StatusMessage)
	}

	if _, err := j.Trace(ctx, "0123456789abcdef0123456789abcdef"); !errors.Is(err, ErrTraceNotFound) {
		t.Errorf("Trace of an unknown id: %v, want ErrTraceNotFound", err)
	}
}
