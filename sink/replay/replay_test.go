package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spansink/spansink/sink/format"
	"github.com/spansink/spansink/sink/reader"
)

// recordingExporter keeps every request and answers with answer (nil:
// acknowledge), after calling each.
type recordingExporter struct {
	mu       sync.Mutex
	requests []ptrace.Traces
	answer   func(n int) error // n: the request's number, from 1
	each     func(n int)
}

func (e *recordingExporter) Export(_ context.Context, td ptrace.Traces) (Result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := len(e.requests) + 1
	if e.answer != nil {
		if err := e.answer(n); err != nil {
			return Result{}, err
		}
	}
	e.requests = append(e.requests, td)
	if e.each != nil {
		e.each(n)
	}
	return Result{}, nil
}

func (e *recordingExporter) Close() error { return nil }

// spanIDs lists the span ids sent, in order.
func (e *recordingExporter) spanIDs() []string {
	var ids []string
	for _, td := range e.requests {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					ids = append(ids, s.SpanID().String())
				}
			}
		}
	}
	return ids
}

const testTrace = "0af7651916cd43dd8448eb211c80319c"

// dbgptSpans are n joined DB-GPT spans spread round-robin over the inputs,
// as the reader gives them.
func dbgptSpans(n int, inputs ...string) []reader.Span {
	start := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	spans := make([]reader.Span, n)
	for i := range spans {
		spans[i] = reader.Span{
			SpanType: "base", TraceID: testTrace, SpanID: fmt.Sprintf("%s:%016x", testTrace, i+1),
			Operation: "op", Start: start.Add(time.Duration(i) * time.Millisecond), End: start.Add(time.Duration(i+1) * time.Millisecond),
			Metadata: []byte(fmt.Sprintf(`{"service.name":"svc-%d","n":%d}`, i%2, i)),
			File:     inputs[i%len(inputs)], Line: i + 1,
		}
	}
	return spans
}

func addAll(t *testing.T, r *Replayer, spans []reader.Span) error {
	t.Helper()
	for i := range spans {
		if err := r.Add(&spans[i]); err != nil {
			return err
		}
	}
	_, err := r.Finish()
	return err
}

func TestReplayerBatchesInOrder(t *testing.T) {
	e := &recordingExporter{}
	r := New(Options{Exporter: e})
	spans := dbgptSpans(1100, "/in/a")
	if err := addAll(t, r, spans); err != nil {
		t.Fatal(err)
	}
	sizes := []int{}
	for _, td := range e.requests {
		sizes = append(sizes, td.SpanCount())
		// One resource per service: the spans alternate between two.
		if got := td.ResourceSpans().Len(); got != 2 {
			t.Errorf("a request has %d resources, want 2 (one per service)", got)
		}
	}
	if fmt.Sprint(sizes) != "[512 512 76]" {
		t.Fatalf("request sizes %v, want [512 512 76]", sizes)
	}
	ids := e.spanIDs()
	// Within a request spans are grouped by resource; across requests the
	// order is the reader's.
	seen := map[string]bool{}
	for _, id := range ids {
		seen[id] = true
	}
	if len(seen) != 1100 {
		t.Fatalf("%d distinct spans sent, want 1100", len(seen))
	}
	if s := r.Stats(); s.Sent != 1100 || s.Requests != 3 {
		t.Fatalf("stats %+v", s)
	}
}

func TestReplayerResumesAfterAnInterruption(t *testing.T) {
	statePath := filepath.Join(t.TempDir(), "replay.state")
	spans := dbgptSpans(1300, "/in/a", "/in/b", "s3://bucket/ns/x/0/year=2024/month=05/day=01/spans_2024-05-01.jsonl.gz")

	// First run: interrupted once the second request is acknowledged.
	state, err := LoadState(statePath)
	if err != nil {
		t.Fatal(err)
	}
	interrupt, stop := context.WithCancel(context.Background())
	first := &recordingExporter{each: func(n int) {
		if n == 2 {
			stop()
		}
	}}
	err = addAll(t, New(Options{Exporter: first, Endpoint: "rx:4317", State: state, Interrupt: interrupt}), spans)
	if !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "1024 spans were acknowledged") || !strings.Contains(err.Error(), "--resume "+statePath) {
		t.Fatalf("first run: %v", err)
	}

	// Second run from the saved state.
	state, err = LoadState(statePath)
	if err != nil {
		t.Fatal(err)
	}
	if state.Total() != 1024 || state.Endpoint() != "rx:4317" {
		t.Fatalf("state after the first run: %d spans for %q, want 1024", state.Total(), state.Endpoint())
	}
	second := &recordingExporter{}
	r := New(Options{Exporter: second, Endpoint: "rx:4317", State: state})
	if err := addAll(t, r, spans); err != nil {
		t.Fatal(err)
	}
	if s := r.Stats(); s.Resumed != 1024 || s.Sent != 276 {
		t.Fatalf("second run: %+v, want 1024 resumed and 276 sent", s)
	}
	all := append(first.spanIDs(), second.spanIDs()...)
	count := map[string]int{}
	for _, id := range all {
		count[id]++
	}
	if len(all) != 1300 || len(count) != 1300 {
		t.Fatalf("%d spans sent, %d distinct; want each of 1300 once", len(all), len(count))
	}

	// A third run has nothing left to send.
	state, _ = LoadState(statePath)
	third := &recordingExporter{}
	r = New(Options{Exporter: third, State: state})
	if err := addAll(t, r, spans); err != nil {
		t.Fatal(err)
	}
	if len(third.requests) != 0 || r.Stats().Resumed != 1300 {
		t.Fatalf("third run sent %d requests, resumed %d", len(third.requests), r.Stats().Resumed)
	}
}

func TestReplayerStopsAtARefusalAndSaysHowFar(t *testing.T) {
	statePath := filepath.Join(t.TempDir(), "replay.state")
	state, _ := LoadState(statePath)
	e := &recordingExporter{answer: func(n int) error {
		if n == 2 {
			return &ExportError{Err: errors.New("gRPC InvalidArgument: bad span")}
		}
		return nil
	}}
	err := addAll(t, New(Options{Exporter: e, State: state}), dbgptSpans(1500, "/in/a"))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"not retryable", "bad span", "512 spans were acknowledged", "--resume " + statePath} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	state, _ = LoadState(statePath)
	if state.Total() != 512 {
		t.Fatalf("state holds %d, want the 512 acknowledged", state.Total())
	}
}

func TestReplayerSkipsSpansThatCannotBeOTLPButCountsThem(t *testing.T) {
	spans := dbgptSpans(10, "/in/a")
	spans[3].TraceID = "not-hex"
	var warnings []string
	statePath := filepath.Join(t.TempDir(), "replay.state")
	state, _ := LoadState(statePath)
	e := &recordingExporter{}
	r := New(Options{Exporter: e, State: state, Warn: func(m string) { warnings = append(warnings, m) }})
	if err := addAll(t, r, spans); err != nil {
		t.Fatal(err)
	}
	if s := r.Stats(); s.Sent != 9 || s.Unconvertible != 1 {
		t.Fatalf("stats %+v", s)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "/in/a:4") || !strings.Contains(warnings[0], "trace_id") {
		t.Fatalf("warnings %q", warnings)
	}
	// Done with: a resumed run skips it too.
	state, _ = LoadState(statePath)
	if state.Acknowledged("/in/a") != 10 {
		t.Fatalf("state %d, want 10", state.Acknowledged("/in/a"))
	}
}

func TestReplayerKeepsTheRate(t *testing.T) {
	e := &recordingExporter{}
	r := New(Options{Exporter: e, Rate: 200})
	started := time.Now()
	if err := addAll(t, r, dbgptSpans(500, "/in/a")); err != nil {
		t.Fatal(err)
	}
	took := time.Since(started)
	// 200 at once (the burst), then 200 and 100 as the rate earns them:
	// never sooner than 1.5 s. The ceiling only catches a replayer that
	// waits far too long; it is loose because a loaded CI machine stretches
	// every wait (3.7 s was seen under a full CI run).
	if took < 1400*time.Millisecond || took > 10*time.Second {
		t.Fatalf("500 spans at 200/s took %s, want about 1.5s", took)
	}
	sizes := []int{}
	for _, td := range e.requests {
		sizes = append(sizes, td.SpanCount())
	}
	if fmt.Sprint(sizes) != "[200 200 100]" {
		t.Fatalf("requests %v: a batch above the rate should shrink to a second's worth", sizes)
	}
}

func TestReplayerSendsOTLPSpansAsTheyAre(t *testing.T) {
	td := sampleTraces()
	td.ResourceSpans().At(0).SetSchemaUrl("https://opentelemetry.io/schemas/1.21.0")
	td.ResourceSpans().At(0).ScopeSpans().At(0).Scope().SetVersion("1.0")
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetDroppedAttributesCount(3)
	rs := td.ResourceSpans().At(0)
	ss := rs.ScopeSpans().At(0)
	var spans []reader.Span
	for _, s := range ss.Spans().All() {
		spans = append(spans, reader.Span{TraceID: s.TraceID().String(), SpanID: s.SpanID().String(), File: "/in/otlp",
			OTLP: &reader.OTLPSpan{Resource: rs, Scope: ss, Span: s}})
	}
	e := &recordingExporter{}
	if err := addAll(t, New(Options{Exporter: e}), spans); err != nil {
		t.Fatal(err)
	}
	if len(e.requests) != 1 {
		t.Fatalf("%d requests", len(e.requests))
	}
	sameTraces(t, e.requests[0], td)
}

func TestReplayerGivesDBGPTRecordsOfOTLPJSONTheirService(t *testing.T) {
	// A DB-GPT record as the otlp-json format stores it: service.name is
	// only an attribute.
	records, _, err := mustOTLPJSONEncoder(t).EncodeDBGPT([]format.DBGPTSpan{{
		SpanType: "chat", TraceID: testTrace, SpanID: testTrace + ":0000000000000001", OperationName: "chat",
		StartTime: strPtr("2024-05-01 10:00:00"), EndTime: strPtr("2024-05-01 10:00:01"),
		Metadata: []byte(`{"service.name":"webserver"}`),
	}})
	if err != nil {
		t.Fatal(err)
	}
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(records[0].Line)
	if err != nil {
		t.Fatal(err)
	}
	rs := td.ResourceSpans().At(0)
	ss := rs.ScopeSpans().At(0)
	s := ss.Spans().At(0)
	e := &recordingExporter{}
	if err := addAll(t, New(Options{Exporter: e}), []reader.Span{{TraceID: testTrace, SpanID: s.SpanID().String(), File: "/f", OTLP: &reader.OTLPSpan{Resource: rs, Scope: ss, Span: s}}}); err != nil {
		t.Fatal(err)
	}
	got := e.requests[0].ResourceSpans().At(0)
	if v, _ := got.Resource().Attributes().Get("service.name"); v.Str() != "webserver" {
		t.Fatalf("resource %v, want service.name webserver", got.Resource().Attributes().AsRaw())
	}
	if v, _ := got.ScopeSpans().At(0).Spans().At(0).Attributes().Get("service.name"); v.Str() != "webserver" {
		t.Fatalf("the span's own attributes changed")
	}
}

func TestRequestsSplitAboveTheSizeLimit(t *testing.T) {
	var entries []batchEntry
	for i, s := range dbgptSpans(64, "/in/a") {
		out, err := toOutgoing(&s)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, batchEntry{span: &out, input: fmt.Sprintf("/in/%d", i%3)})
	}
	whole := buildRequest(entries)
	size := (&ptrace.ProtoMarshaler{}).TracesSize(whole.traces)
	reqs := requests(entries, size/3)
	if len(reqs) < 4 {
		t.Fatalf("%d requests for a limit of a third of the size", len(reqs))
	}
	total := map[string]int64{}
	spans := 0
	for _, req := range reqs {
		if got := (&ptrace.ProtoMarshaler{}).TracesSize(req.traces); got > size/3 {
			t.Errorf("a request of %d bytes, above the limit %d", got, size/3)
		}
		spans += req.spans
		for in, n := range req.inputs {
			total[in] += n
		}
	}
	if spans != 64 || total["/in/0"] != 22 || total["/in/1"] != 21 || total["/in/2"] != 21 {
		t.Fatalf("%d spans, per input %v", spans, total)
	}
	if got := requests(entries[:1], 1); len(got) != 1 || got[0].spans != 1 {
		t.Fatalf("a single span larger than the limit must still be sent alone: %d requests", len(got))
	}
}

func TestProgressPrintsAtMostOncePerInterval(t *testing.T) {
	var out bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	p := newProgress(&out, clock, time.Second)
	for i := 1; i <= 30; i++ {
		now = now.Add(100 * time.Millisecond)
		p.update(int64(i*100), "/in/a")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines in 3 seconds, want 3:\n%s", len(lines), out.String())
	}
	if lines[0] != "replay: 1000 spans sent, 1000 spans/s, reading /in/a" {
		t.Fatalf("line %q", lines[0])
	}
}

func mustOTLPJSONEncoder(t *testing.T) format.Encoder {
	t.Helper()
	enc, err := format.NewEncoder("otlp-json")
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func strPtr(s string) *string { return &s }
