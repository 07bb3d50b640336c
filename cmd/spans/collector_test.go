package spans

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/spansink/spansink/sink/collector"
	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/reader"
)

// recorder keeps the spans the SDK ended, to compare with what is read back.
type recorder struct{ spans []sdktrace.ReadOnlySpan }

func (r *recorder) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (r *recorder) OnEnd(s sdktrace.ReadOnlySpan)                   { r.spans = append(r.spans, s) }
func (r *recorder) Shutdown(context.Context) error                  { return nil }
func (r *recorder) ForceFlush(context.Context) error                { return nil }

// storageVariant is a way of storing spans: a format and its options.
type storageVariant struct {
	name    string
	format  config.Format
	records config.DBGPTRecords
}

// storageVariants are every way the collector stores OTLP spans.
var storageVariants = []storageVariant{
	{name: "dbgpt", format: config.FormatDBGPT},
	{name: "otlp-json", format: config.FormatOTLPJSON},
	{name: "dbgpt-startEnd", format: config.FormatDBGPT, records: config.DBGPTRecordsStartEnd},
}

// sendThroughCollector runs a collector storing spans as variant says into
// a temp dir, sends a small trace over OTLP/gRPC with the OpenTelemetry
// SDK, stops the collector (which drains to disk) and returns the dir and
// the sent spans.
func sendThroughCollector(t *testing.T, variant storageVariant) (string, []sdktrace.ReadOnlySpan) {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = config.Listen{OTLPGRPC: "127.0.0.1:0", OTLPHTTP: "127.0.0.1:0", Admin: "127.0.0.1:0"}
	cfg.Storage.Dir = t.TempDir()
	cfg.Storage.Format = variant.format
	cfg.Storage.DBGPT.Records = variant.records
	cfg.Batch.FlushInterval = config.Duration(20 * time.Millisecond)
	c, err := collector.New(cfg, testr.New(t))
	if err != nil {
		t.Fatalf("start collector: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	exporter, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(c.Addrs().OTLPGRPC), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	res := resource.NewSchemaless(attribute.String("service.name", "agree-svc"), attribute.String("deployment.environment", "test"), attribute.Int("replica", 3))
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSpanProcessor(rec), sdktrace.WithSyncer(exporter))
	tracer := tp.Tracer("agree-scope", oteltrace.WithInstrumentationVersion("0.9.1"))

	start := time.Date(2024, 5, 2, 10, 0, 0, 123456789, time.UTC)
	rootCtx, root := tracer.Start(context.Background(), "handle /checkout", oteltrace.WithSpanKind(oteltrace.SpanKindServer), oteltrace.WithTimestamp(start),
		oteltrace.WithAttributes(attribute.String("http.route", "/checkout"), attribute.String("span_type", "chat")))
	_, child := tracer.Start(rootCtx, "charge card", oteltrace.WithSpanKind(oteltrace.SpanKindClient), oteltrace.WithTimestamp(start.Add(10*time.Millisecond)),
		oteltrace.WithAttributes(
			attribute.String("card.brand", "visa"), attribute.Int64("amount.cents", 1999), attribute.Bool("retry", true),
			attribute.Float64("fx.rate", 1.25), attribute.StringSlice("tags", []string{"a", "b"}), attribute.Int64Slice("codes", []int64{4, 2}),
		),
		oteltrace.WithLinks(oteltrace.Link{SpanContext: root.SpanContext(), Attributes: []attribute.KeyValue{attribute.String("why", "caused by")}}))
	child.AddEvent("declined", oteltrace.WithTimestamp(start.Add(20*time.Millisecond)), oteltrace.WithAttributes(attribute.String("reason", "insufficient funds")))
	child.SetStatus(codes.Error, "card declined")
	child.End(oteltrace.WithTimestamp(start.Add(35*time.Millisecond + 789)))
	root.SetStatus(codes.Ok, "")
	root.End(oteltrace.WithTimestamp(start.Add(50 * time.Millisecond)))
	// Values the two formats once spelled differently: doubles that
	// encoding/json writes without an exponent or with a one-digit one, an
	// empty span_type, and strings that need JSON escapes.
	_, edge := tracer.Start(rootCtx, "edge values", oteltrace.WithTimestamp(start.Add(60*time.Millisecond)),
		oteltrace.WithAttributes(
			attribute.String("span_type", ""), attribute.Float64("big", 1e6), attribute.Float64("tiny", 1e-7),
			attribute.Float64("huge", 1e21), attribute.Float64Slice("mixed", []float64{0.5, 1e20, -2.5e-9}),
			attribute.String("escapes", "quote\" back\\ nl\n tab\t bell\a nul\x00 sep\u2028 del\x7f <&>"),
		))
	edge.End(oteltrace.WithTimestamp(start.Add(70 * time.Millisecond)))
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatalf("export: %v", err)
	}
	sendInvalidUTF8(t, c.Addrs().OTLPHTTP)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("collector stopped with %v", err)
	}
	done <- nil
	return cfg.Storage.Dir, rec.spans
}

// Ids of the span sendInvalidUTF8 sends.
const (
	rawTraceID = "0102030405060708090a0b0c0d0e0f10"
	rawSpanID  = "a1a2a3a4a5a6a7a8"
)

// sendInvalidUTF8 posts a span whose strings are not valid UTF-8 over
// OTLP/HTTP protobuf. The SDK's exporters refuse to send such strings, but
// other clients do, and pdata passes them through; the collector repairs them
// on the way to disk.
func sendInvalidUTF8(t *testing.T, addr string) {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "raw\xffsvc")
	span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetTraceID(pcommon.TraceID(hex16(t, rawTraceID)))
	span.SetSpanID(pcommon.SpanID{0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8})
	span.SetName("bad\xff\xfename")
	start := time.Date(2024, 5, 2, 10, 0, 1, 0, time.UTC)
	span.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	span.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Millisecond)))
	span.Attributes().PutStr("key\xe4\xb8", "value\xed\xa0\x80")
	span.Attributes().PutDouble("big", 1e6)
	span.Status().SetMessage("half a rune \xe4\xb8")
	var marshaler ptrace.ProtoMarshaler
	body, err := marshaler.MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+addr+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("post span with invalid UTF-8: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("post span with invalid UTF-8: %s %q", resp.Status, msg)
	}
}

// checkInvalidUTF8 checks the span sendInvalidUTF8 sent: every bad byte
// read back as one U+FFFD.
func checkInvalidUTF8(t *testing.T, got map[string]map[string]any) {
	t.Helper()
	line, ok := got[rawSpanID]
	if !ok {
		t.Errorf("span with invalid UTF-8 not read back")
		return
	}
	const bad = "\uFFFD"
	if line["operation_name"] != "bad"+bad+bad+"name" || line["span_type"] != "base" || line["trace_id"] != rawTraceID {
		t.Errorf("span with invalid UTF-8 read back as %v", line)
	}
	meta, _ := line["metadata"].(map[string]any)
	want := map[string]any{
		"service.name": "raw" + bad + "svc",
		"attributes":   map[string]any{"key" + bad + bad: "value" + bad + bad + bad, "big": json.Number("1000000")},
		"status":       map[string]any{"code": "unset", "message": "half a rune " + bad + bad},
	}
	for key, value := range want {
		if !reflect.DeepEqual(meta[key], value) {
			t.Errorf("span with invalid UTF-8: metadata %s = %#v, want %#v", key, meta[key], value)
		}
	}
}

// TestReaderAgreesWithCollector sends spans through the real collector in
// both formats, and in the dbgpt format's start and end records, and checks
// that the reader reports every field as sent, and the same way for all.
func TestReaderAgreesWithCollector(t *testing.T) {
	outputs := map[string]string{}
	for _, variant := range storageVariants {
		t.Run(variant.name, func(t *testing.T) {
			dir, sent := sendThroughCollector(t, variant)
			stdout, stderr, err := run(t, "", "list", "--limit", "0", "-o", "json", "--path", filepath.Join(dir, config.DefaultPath))
			if err != nil || stderr != "" {
				t.Fatalf("list: %v\n%s", err, stderr)
			}
			outputs[variant.name] = stdout
			got := map[string]map[string]any{}
			dec := json.NewDecoder(strings.NewReader(stdout))
			dec.UseNumber()
			for dec.More() {
				var line map[string]any
				if err := dec.Decode(&line); err != nil {
					t.Fatalf("list printed a line that is not JSON: %v\n%s", err, stdout)
				}
				got[line["span_id"].(string)] = line
			}
			if len(got) != len(sent)+1 {
				t.Fatalf("read %d spans, sent %d:\n%s", len(got), len(sent)+1, stdout)
			}
			for _, s := range sent {
				checkSpan(t, s, got)
			}
			checkInvalidUTF8(t, got)
			// The text views agree too: status and service as sent.
			childID := sent[0].SpanContext().SpanID().String()
			text, _, err := run(t, "", "list", "--errors", "--path", filepath.Join(dir, config.DefaultPath))
			if err != nil || !strings.Contains(text, childID) || !strings.Contains(text, "agree-svc") || strings.Count(text, "\n") != 2 {
				t.Errorf("list --errors printed:\n%s (err %v)", text, err)
			}
		})
	}
	// Both runs send the same spans but with fresh ids; compare the bytes
	// with the ids masked.
	dbgpt := mask(outputs[storageVariants[0].name])
	if dbgpt == "" {
		t.Fatal("the dbgpt format read back nothing")
	}
	for _, variant := range storageVariants[1:] {
		if other := mask(outputs[variant.name]); other != dbgpt {
			t.Errorf("%s reads back differently from dbgpt:\n%s", variant.name, cmp.Diff(strings.Split(dbgpt, "\n"), strings.Split(other, "\n")))
		}
	}
}

// mask replaces trace and span ids (hex runs of 16 or 32) so outputs of two
// runs compare.
func mask(s string) string {
	var b strings.Builder
	for _, field := range strings.SplitAfter(s, `"`) {
		body := strings.TrimSuffix(field, `"`)
		if _, err := hex.DecodeString(body); err == nil && (len(body) == 16 || len(body) == 32) {
			b.WriteString(strings.Repeat("x", len(body)) + `"`)
			continue
		}
		b.WriteString(field)
	}
	return b.String()
}

// checkSpan compares one sent span with the reader's JSON line for it.
func checkSpan(t *testing.T, s sdktrace.ReadOnlySpan, got map[string]map[string]any) {
	t.Helper()
	line, ok := got[s.SpanContext().SpanID().String()]
	if !ok {
		t.Errorf("span %q not read back", s.Name())
		return
	}
	var parent any
	if s.Parent().IsValid() {
		parent = s.Parent().SpanID().String()
	}
	spanType := "base"
	for _, kv := range s.Attributes() {
		if kv.Key == "span_type" && kv.Value.AsString() != "" {
			spanType = kv.Value.AsString()
		}
	}
	want := map[string]any{
		"span_type":      spanType,
		"trace_id":       s.SpanContext().TraceID().String(),
		"span_id":        s.SpanContext().SpanID().String(),
		"parent_span_id": parent,
		"operation_name": s.Name(),
		"start_time":     s.StartTime().UTC().Format(reader.TimeLayout),
		"end_time":       s.EndTime().UTC().Format(reader.TimeLayout),
	}
	for key, value := range want {
		if !reflect.DeepEqual(line[key], value) {
			t.Errorf("span %q: %s = %v, want %v", s.Name(), key, line[key], value)
		}
	}
	meta, _ := line["metadata"].(map[string]any)
	wantMeta := map[string]any{
		"service.name":         "agree-svc",
		"span_kind":            strings.ToLower(s.SpanKind().String()),
		"start_time_unix_nano": json.Number(fmt.Sprint(s.StartTime().UnixNano())),
		"end_time_unix_nano":   json.Number(fmt.Sprint(s.EndTime().UnixNano())),
		"scope":                map[string]any{"name": "agree-scope", "version": "0.9.1"},
		"resource":             map[string]any{"service.name": "agree-svc", "deployment.environment": "test", "replica": json.Number("3")},
		"attributes":           attributesJSON(s.Attributes()),
	}
	status := map[string]any{"code": map[codes.Code]string{codes.Unset: "unset", codes.Ok: "ok", codes.Error: "error"}[s.Status().Code]}
	if s.Status().Description != "" {
		status["message"] = s.Status().Description
	}
	wantMeta["status"] = status
	if len(s.Events()) > 0 {
		var events []any
		for _, e := range s.Events() {
			events = append(events, map[string]any{"name": e.Name, "time_unix_nano": json.Number(fmt.Sprint(e.Time.UnixNano())), "attributes": attributesJSON(e.Attributes)})
		}
		wantMeta["events"] = events
	}
	for key, value := range wantMeta {
		if !reflect.DeepEqual(meta[key], value) {
			t.Errorf("span %q: metadata %s = %#v, want %#v", s.Name(), key, meta[key], value)
		}
	}
	if len(s.Links()) > 0 {
		links, _ := meta["links"].([]any)
		if len(links) != len(s.Links()) {
			t.Fatalf("span %q: links %v", s.Name(), meta["links"])
		}
		link := links[0].(map[string]any)
		sent := s.Links()[0]
		if link["trace_id"] != sent.SpanContext.TraceID().String() || link["span_id"] != sent.SpanContext.SpanID().String() ||
			!reflect.DeepEqual(link["attributes"], attributesJSON(sent.Attributes)) {
			t.Errorf("span %q: link %v, sent %v", s.Name(), link, sent)
		}
	}
}

// attributesJSON is how attributes look in the reader's JSON, decoded with
// UseNumber.
func attributesJSON(attrs []attribute.KeyValue) map[string]any {
	out := map[string]any{}
	for _, kv := range attrs {
		var buf bytes.Buffer
		json.NewEncoder(&buf).Encode(kv.Value.AsInterface())
		dec := json.NewDecoder(&buf)
		dec.UseNumber()
		var v any
		dec.Decode(&v)
		out[string(kv.Key)] = v
	}
	return out
}
