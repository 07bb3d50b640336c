package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"
)

// shape is one kind of span load. Each sends spansPerWorker spans (or
// DB-GPT records) from every worker at the per-worker rate.
type shape struct {
	name string
	// about says what the spans look like, for the table's notes.
	about string
	// spansPerTrace is how many spans one trace has; a worker sends whole
	// traces, so its spans are rounded down to a multiple of it.
	spansPerTrace int
	// idsPerSpan is the distinct span ids per stored span: 1, except for
	// DB-GPT, whose start and end records share the span's id.
	idsPerSpan float64
	// dbgpt is true for DB-GPT records over /v1/spans, which the peer does
	// not take and which need no protocol.
	dbgpt bool
	// send runs the load; it returns once every span was acknowledged.
	send func(ctx context.Context, l loadSpec) error
}

// loadSpec is one run's load.
type loadSpec struct {
	protocol string // "grpc" or "http"
	endpoint string // host:port
	workers  int
	traces   int     // per worker
	rate     float64 // spans per second per worker
	// telemetrygen is the binary, for the shapes it generates.
	telemetrygen string
	// logDir gets the sender's output.
	logDir string
}

func shapes() map[string]shape {
	attrs := make([]string, 0, 20)
	for i := range 20 {
		// A mix of the value types telemetrygen takes: strings, ints, bools.
		switch i % 4 {
		case 0, 1:
			attrs = append(attrs, fmt.Sprintf(`app.attr%02d="value-%02d-of-twenty"`, i, i))
		case 2:
			attrs = append(attrs, fmt.Sprintf("app.attr%02d=%d", i, 1000+i))
		case 3:
			attrs = append(attrs, fmt.Sprintf("app.attr%02d=true", i))
		}
	}
	return map[string]shape{
		"default": {
			name: "default", about: "telemetrygen's default: a root and one child span, a few attributes",
			spansPerTrace: 2, idsPerSpan: 1,
			send: func(ctx context.Context, l loadSpec) error { return runTelemetrygen(ctx, l, nil) },
		},
		"attrs": {
			name: "attrs", about: "telemetrygen's default plus 20 attributes on every span (--telemetry-attributes)",
			spansPerTrace: 2, idsPerSpan: 1,
			send: func(ctx context.Context, l loadSpec) error { return runTelemetrygen(ctx, l, attrs) },
		},
		"events": {
			name: "events", about: "a root and one child span, each with 5 events of 2 attributes (OTel Go SDK)",
			spansPerTrace: 2, idsPerSpan: 1,
			send: func(ctx context.Context, l loadSpec) error { return sendSDK(ctx, l, 2, 5, false) },
		},
		"clients": {
			name: "clients", about: "a root and one child span from independent OTel Go SDK clients, one exporter each, so that every client has a request in flight (telemetrygen's workers share one exporter, which sends one request at a time)",
			spansPerTrace: 2, idsPerSpan: 1,
			send: func(ctx context.Context, l loadSpec) error { return sendSDK(ctx, l, 2, 0, true) },
		},
		"deep": {
			name: "deep", about: "traces of 12 nested spans, each the parent of the next (OTel Go SDK)",
			spansPerTrace: 12, idsPerSpan: 1,
			send: func(ctx context.Context, l loadSpec) error { return sendSDK(ctx, l, 12, 0, false) },
		},
		"dbgpt": {
			name: "dbgpt", about: "DB-GPT tracer records over /v1/spans: a start and an end record per span, chat messages in the metadata",
			// A trace is 8 spans of two records each, and each record is
			// stored as one span.
			spansPerTrace: 16, idsPerSpan: 0.5, dbgpt: true,
			send: sendDBGPT,
		},
	}
}

// runTelemetrygen runs the real telemetrygen. Its SDK queue drops spans
// silently when it fills, so the queue is made big enough to hold a
// worker's burst; the file count catches any loss anyway.
func runTelemetrygen(ctx context.Context, l loadSpec, attributes []string) error {
	args := []string{"traces", "--otlp-insecure", "--otlp-endpoint", l.endpoint,
		"--workers", strconv.Itoa(l.workers), "--traces", strconv.Itoa(l.traces),
		"--child-spans", "1", "--rate", strconv.FormatFloat(l.rate, 'f', -1, 64)}
	if l.protocol == "http" {
		args = append(args, "--otlp-http")
	}
	for _, a := range attributes {
		args = append(args, "--telemetry-attributes", a)
	}
	out, err := os.Create(filepath.Join(l.logDir, "telemetrygen.log"))
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.CommandContext(ctx, l.telemetrygen, args...)
	cmd.Env = append(os.Environ(), "OTEL_BSP_MAX_QUEUE_SIZE=1000000")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("telemetrygen: %w (see %s)", err, out.Name())
	}
	log, err := os.ReadFile(out.Name())
	if err != nil {
		return err
	}
	if bytes.Contains(log, []byte(`"error"`)) {
		return fmt.Errorf("telemetrygen reported errors (see %s)", out.Name())
	}
	return nil
}

// sendSDK sends traces built with the OpenTelemetry Go SDK, the way an
// instrumented service would: the SDK's batch span processor with a queue
// that holds every span a worker makes, so none is dropped. The workers
// share one tracer provider and exporter, like telemetrygen's, unless
// ownClient gives each its own, as separate services would have. Each
// trace is a chain of depth spans, each a child of the one before; every
// span gets events events.
func sendSDK(ctx context.Context, l loadSpec, depth, events int, ownClient bool) error {
	newProvider := func(queue int) (*sdktrace.TracerProvider, error) {
		var exporter sdktrace.SpanExporter
		var err error
		switch l.protocol {
		case "grpc":
			exporter, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(l.endpoint), otlptracegrpc.WithInsecure())
		default:
			exporter, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(l.endpoint), otlptracehttp.WithInsecure())
		}
		if err != nil {
			return nil, fmt.Errorf("exporter: %w", err)
		}
		return sdktrace.NewTracerProvider(
			sdktrace.WithBatcher(exporter, sdktrace.WithMaxQueueSize(queue)),
			sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName("bench-sdk"))),
		), nil
	}
	perWorker := l.traces * depth
	providers := make([]*sdktrace.TracerProvider, l.workers)
	for w := range providers {
		switch {
		case ownClient:
			p, err := newProvider(perWorker)
			if err != nil {
				return err
			}
			providers[w] = p
		case w == 0:
			p, err := newProvider(perWorker * l.workers)
			if err != nil {
				return err
			}
			providers[w] = p
		default:
			providers[w] = providers[0]
		}
	}
	// Export failures reach the global error handler, not the caller.
	var exportErrors atomic.Int64
	var firstError atomic.Value
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		if exportErrors.Add(1) == 1 {
			firstError.Store(err)
		}
	}))
	var wg sync.WaitGroup
	for w := range l.workers {
		wg.Go(func() {
			tracer := providers[w].Tracer("spansink/bench")
			limiter := rate.NewLimiter(rate.Limit(l.rate), depth)
			for t := range l.traces {
				if err := limiter.WaitN(ctx, depth); err != nil {
					return
				}
				spanCtx := ctx
				spans := make([]trace.Span, depth)
				for d := range depth {
					var span trace.Span
					spanCtx, span = tracer.Start(spanCtx, fmt.Sprintf("level-%02d", d),
						trace.WithSpanKind(trace.SpanKindInternal),
						trace.WithAttributes(attribute.Int("worker", w), attribute.Int("trace", t), attribute.String("peer.service", "bench-downstream")))
					for e := range events {
						span.AddEvent("step", trace.WithAttributes(attribute.Int("step", e), attribute.String("detail", "cache lookup finished")))
					}
					spans[d] = span
				}
				for d := depth - 1; d >= 0; d-- {
					spans[d].End()
				}
			}
		})
	}
	wg.Wait()
	// Shutdown exports what is queued and waits for the answers.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Shut the clients down at once, as their last exports would overlap.
	shutdownErrs := make([]error, len(providers))
	for w, p := range providers {
		if w > 0 && p == providers[0] {
			break
		}
		wg.Go(func() { shutdownErrs[w] = p.Shutdown(shutdownCtx) })
	}
	wg.Wait()
	if err := errors.Join(shutdownErrs...); err != nil {
		return fmt.Errorf("sdk shutdown: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if n := exportErrors.Load(); n > 0 {
		return fmt.Errorf("%d export errors, first: %v", n, firstError.Load())
	}
	return nil
}

// dbgptBatch is how many records one /v1/spans request carries.
const dbgptBatch = 100

// sendDBGPT posts DB-GPT tracer records to /v1/spans as JSON lines, the
// form DB-GPT's file span storage writes: each span is a start record
// (end_time null) and an end record with the same ids. The records of a
// trace are an agent chat: a root "chat" span and its nested calls, the
// start records carrying the chat messages and model parameters.
func sendDBGPT(ctx context.Context, l loadSpec) error {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: l.workers, MaxConnsPerHost: l.workers}}
	url := "http://" + l.endpoint + "/v1/spans"
	errs := make(chan error, l.workers)
	var wg sync.WaitGroup
	for range l.workers {
		wg.Go(func() {
			records := l.traces * 2 * len(dbgptOperations)
			// Rate counts stored spans, and each record is stored as one.
			limiter := rate.NewLimiter(rate.Limit(l.rate), dbgptBatch)
			var body bytes.Buffer
			gen := newDBGPTTrace()
			for sent := 0; sent < records; {
				body.Reset()
				n := min(dbgptBatch, records-sent)
				for range n {
					gen.next(&body)
				}
				if err := limiter.WaitN(ctx, n); err != nil {
					errs <- err
					return
				}
				if err := postDBGPT(ctx, client, url, body.Bytes(), n); err != nil {
					errs <- err
					return
				}
				sent += n
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func postDBGPT(ctx context.Context, client *http.Client, url string, body []byte, n int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("POST /v1/spans: %w", err)
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("POST /v1/spans: read reply: %w", err)
	}
	var answer struct {
		Accepted int    `json:"accepted"`
		Rejected int    `json:"rejected"`
		Error    string `json:"error"`
	}
	if err := json.Unmarshal(reply, &answer); err != nil {
		return fmt.Errorf("POST /v1/spans: %s: %q", resp.Status, reply)
	}
	if resp.StatusCode != http.StatusOK || answer.Accepted != n {
		return fmt.Errorf("POST /v1/spans: %s: accepted %d of %d, rejected %d: %s", resp.Status, answer.Accepted, n, answer.Rejected, answer.Error)
	}
	return nil
}

// dbgptTrace writes the records of one DB-GPT chat trace after another:
// 8 spans, each a start record and then, once its children ended, an end
// record, so the order is the one DB-GPT's tracer produces.
type dbgptTrace struct {
	pending [][]byte
}

func newDBGPTTrace() *dbgptTrace { return &dbgptTrace{} }

// dbgptOperations are the spans of one chat, outermost first, with their
// DB-GPT span types; each is the parent of the next.
var dbgptOperations = [8][2]string{
	{"chat", "BaseChat.stream_call"},
	{"chat", "BaseChat._build_model_request"},
	{"base", "PromptTemplate.format"},
	{"run", "AgentManager.run_agents"},
	{"agent", "ConversableAgent.generate_reply"},
	{"agent", "ConversableAgent.thinking"},
	{"base", "DefaultLLMClient.generate"},
	{"run", "WorkerManager.generate_stream"},
}

func (g *dbgptTrace) next(w *bytes.Buffer) {
	if len(g.pending) == 0 {
		g.fill()
	}
	w.Write(g.pending[0])
	w.WriteByte('\n')
	g.pending = g.pending[1:]
}

func (g *dbgptTrace) fill() {
	var raw [24]byte
	_, _ = rand.Read(raw[:])
	traceID := hex.EncodeToString(raw[:16])
	start := time.Now().UTC()
	var starts, ends [][]byte
	parent := ""
	for i, op := range dbgptOperations {
		_, _ = rand.Read(raw[16:])
		spanID := traceID + ":" + hex.EncodeToString(raw[16:])
		begin := start.Add(time.Duration(i) * time.Millisecond)
		finish := start.Add(time.Duration(200-i*10) * time.Millisecond)
		starts = append(starts, dbgptRecord(op, traceID, spanID, parent, begin, time.Time{}, startMetadata(i)))
		ends = append(ends, dbgptRecord(op, traceID, spanID, parent, begin, finish, endMetadata(i)))
		parent = spanID
	}
	g.pending = append(g.pending, starts...)
	for i := len(ends) - 1; i >= 0; i-- {
		g.pending = append(g.pending, ends[i])
	}
}

const dbgptTimeLayout = "2006-01-02 15:04:05.000000"

func dbgptRecord(op [2]string, traceID, spanID, parent string, begin, finish time.Time, metadata string) []byte {
	b := make([]byte, 0, 1024)
	b = append(b, `{"span_type": "`...)
	b = append(b, op[0]...)
	b = append(b, `", "trace_id": "`...)
	b = append(b, traceID...)
	b = append(b, `", "span_id": "`...)
	b = append(b, spanID...)
	b = append(b, `", "parent_span_id": `...)
	if parent == "" {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendQuote(b, parent)
	}
	b = append(b, `, "operation_name": "`...)
	b = append(b, op[1]...)
	b = append(b, `", "start_time": "`...)
	b = begin.AppendFormat(b, dbgptTimeLayout)
	b = append(b, `", "end_time": `...)
	if finish.IsZero() {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = finish.AppendFormat(b, dbgptTimeLayout)
		b = append(b, '"')
	}
	b = append(b, `, "metadata": `...)
	b = append(b, metadata...)
	return append(b, '}')
}

// startMetadata is what DB-GPT's chat spans carry when they start: the
// conversation, the model and its parameters; inner spans carry less.
func startMetadata(level int) string {
	if level < 2 {
		return `{"cls": "ChatNormal", "chat_mode": "chat_normal", "conv_uid": "7f1c6a2e-7e3b-4d52-9a8c-2f0d4b9e6c11", "model_name": "qwen2.5-7b-instruct", "temperature": 0.6, "max_new_tokens": 1024, ` +
			`"messages": [{"role": "system", "content": "You are a helpful data analyst. Answer with SQL when a question asks for figures."}, ` +
			`{"role": "human", "content": "Which five customers ordered the most in November, and how much did each spend?"}], "sys_infos": {"python": "3.10.14", "cpu": "2 cores"}}`
	}
	return `{"cls": "` + dbgptOperations[level][1] + `", "model_name": "qwen2.5-7b-instruct", "span_level": ` + strconv.Itoa(level) + `}`
}

// endMetadata is what they carry when they end: the answer and token use
// on the outer spans, nothing on the others.
func endMetadata(level int) string {
	if level < 2 {
		return `{"output": "SELECT customer_id, SUM(amount) AS spent FROM orders WHERE order_date >= '2026-11-01' AND order_date < '2026-12-01' GROUP BY customer_id ORDER BY spent DESC LIMIT 5;", ` +
			`"usage": {"prompt_tokens": 212, "completion_tokens": 58, "total_tokens": 270}}`
	}
	return `{}`
}

// endpointFor picks the collector address a load goes to.
func endpointFor(c *collector, s shape, protocol string) string {
	if s.dbgpt || protocol == "http" {
		return c.http
	}
	return c.grpc
}
