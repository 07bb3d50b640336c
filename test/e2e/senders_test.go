//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// sendWithSDK sends n spans (one trace: a root and n-1 children) through
// the OpenTelemetry Go SDK's OTLP exporter over "http" or "grpc", and
// returns the ids the SDK gave them.
func sendWithSDK(ctx context.Context, protocol, addr, service string, n int) map[spanKey]bool {
	GinkgoHelper()
	var exporter sdktrace.SpanExporter
	var err error
	switch protocol {
	case "http":
		exporter, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(addr), otlptracehttp.WithInsecure())
	case "grpc":
		exporter, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(addr), otlptracegrpc.WithInsecure())
	}
	Expect(err).NotTo(HaveOccurred())
	return sendWithExporter(ctx, exporter, service, n)
}

// sendWithExporter sends n spans (one trace: a root and n-1 children)
// through the SDK with exporter, which the caller configured (TLS, headers),
// and returns the ids the SDK gave them.
func sendWithExporter(ctx context.Context, exporter sdktrace.SpanExporter, service string, n int) map[spanKey]bool {
	GinkgoHelper()
	var exportErrs []error
	var mu sync.Mutex
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		mu.Lock()
		exportErrs = append(exportErrs, err)
		mu.Unlock()
	}))
	res, err := resource.Merge(resource.Empty(), resource.NewSchemaless(attribute.String("service.name", service)))
	Expect(err).NotTo(HaveOccurred())
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter, sdktrace.WithMaxExportBatchSize(100)), sdktrace.WithResource(res))
	tracer := provider.Tracer("spansink-e2e")
	sent := map[spanKey]bool{}
	rootCtx, root := tracer.Start(ctx, "e2e root")
	sent[spanKey{root.SpanContext().TraceID().String(), root.SpanContext().SpanID().String()}] = true
	for i := 1; i < n; i++ {
		_, child := tracer.Start(rootCtx, "e2e child")
		child.SetAttributes(attribute.Int("e2e.seq", i))
		sent[spanKey{child.SpanContext().TraceID().String(), child.SpanContext().SpanID().String()}] = true
		child.End()
	}
	root.End()
	Expect(provider.ForceFlush(ctx)).To(Succeed())
	Expect(provider.Shutdown(ctx)).To(Succeed())
	mu.Lock()
	defer mu.Unlock()
	Expect(exportErrs).To(BeEmpty(), "the exporter reported errors")
	return sent
}

// sendWithTelemetrygen runs OpenTelemetry's load generator for traces
// traces of one root and one child span each, and returns the number of
// spans it sent.
func sendWithTelemetrygen(ctx context.Context, protocol, addr, service string, traces int) int {
	GinkgoHelper()
	return sendWithTelemetrygenArgs(ctx, protocol, addr, service, traces, "--otlp-insecure")
}

// sendWithTelemetrygenArgs is sendWithTelemetrygen with the connection
// flags given (--otlp-insecure, or TLS and header flags).
func sendWithTelemetrygenArgs(ctx context.Context, protocol, addr, service string, traces int, connection ...string) int {
	GinkgoHelper()
	args := append([]string{"traces", "--otlp-endpoint", addr, "--traces", strconv.Itoa(traces),
		"--child-spans", "1", "--rate", "0", "--workers", "1", "--service", service}, connection...)
	if protocol == "http" {
		args = append(args, "--otlp-http")
	}
	out, err := exec.CommandContext(ctx, suite.telemetrygen, args...).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "telemetrygen: %s", out)
	return traces * 2
}

// retryingClient sends batches of spans over OTLP/HTTP protobuf as an OTLP
// exporter does: a batch that gets 429, 503, a refused or broken
// connection is sent again after a pause, and a batch counts as
// acknowledged only on a 200 with no rejected spans.
type retryingClient struct {
	addr    string
	service string
	batch   int

	mu      sync.Mutex
	acked   map[spanKey]bool
	retries int
	// refused counts the retries the collector asked for (429, 503 …);
	// the rest of retries are the client's own (a timeout, a reset).
	refused int
	seq     uint64
	// lastErr is the latest failed attempt, and exited what ended send
	// early (a permanent error), for the message of a check that finds the
	// client stalled.
	lastErr error
	exited  error
}

// run sends until ctx ends, finishing (or abandoning, unacknowledged) the
// batch in flight.
func (c *retryingClient) run(ctx context.Context) error {
	return c.send(ctx, ctx.Done())
}

// send sends until stop is closed. The batch in flight then is still sent
// until it is acknowledged, as an exporter flushes when it shuts down, so
// that what was sent and what was acknowledged are the same set; only the
// end of ctx abandons it.
func (c *retryingClient) send(ctx context.Context, stop <-chan struct{}) (err error) {
	defer func() {
		c.mu.Lock()
		c.exited = err
		c.mu.Unlock()
	}()
	httpClient := &http.Client{Timeout: 5 * time.Second}
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return ctx.Err() != nil
		}
	}
	for !stopped() {
		req, keys := c.nextBatch()
		body, err := req.MarshalProto()
		if err != nil {
			return fmt.Errorf("marshal batch: %w", err)
		}
		for ctx.Err() == nil {
			err := c.post(ctx, httpClient, body)
			if err == nil {
				c.mu.Lock()
				for _, k := range keys {
					c.acked[k] = true
				}
				c.mu.Unlock()
				break
			}
			var permanent permanentError
			if errors.As(err, &permanent) {
				return err
			}
			var refusal refusedError
			c.mu.Lock()
			c.lastErr = err
			c.retries++
			if errors.As(err, &refusal) {
				c.refused++
			}
			c.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// permanentError is an answer an OTLP exporter does not retry.
type permanentError struct{ error }

// refusedError is an answer by which the collector refused the batch for
// now (an OTLP exporter retries it).
type refusedError struct{ status int }

func (e refusedError) Error() string { return fmt.Sprintf("retryable status %d", e.status) }

func (c *retryingClient) post(ctx context.Context, httpClient *http.Client, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.addr+"/v1/traces", bytes.NewReader(body))
	if err != nil {
		return permanentError{err}
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	payload, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		answer := ptraceotlp.NewExportResponse()
		if err := answer.UnmarshalProto(payload); err != nil {
			return permanentError{fmt.Errorf("decode export response: %w", err)}
		}
		if rejected := answer.PartialSuccess().RejectedSpans(); rejected != 0 {
			return permanentError{fmt.Errorf("%d spans rejected: %s", rejected, answer.PartialSuccess().ErrorMessage())}
		}
		return nil
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return refusedError{status: resp.StatusCode}
	}
	return permanentError{fmt.Errorf("status %d: %s", resp.StatusCode, payload)}
}

// nextBatch builds a batch of spans with fresh ids in one trace.
func (c *retryingClient) nextBatch() (ptraceotlp.ExportRequest, []spanKey) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", c.service)
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	var traceID pcommon.TraceID
	_, _ = rand.Read(traceID[:])
	keys := make([]spanKey, 0, c.batch)
	now := time.Now()
	for i := 0; i < c.batch; i++ {
		c.seq++
		var spanID pcommon.SpanID
		for b := 0; b < 8; b++ {
			spanID[7-b] = byte(c.seq >> (8 * b))
		}
		s := spans.AppendEmpty()
		s.SetTraceID(traceID)
		s.SetSpanID(spanID)
		s.SetName("e2e rolling")
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
		keys = append(keys, spanKey{traceID.String(), spanID.String()})
	}
	return ptraceotlp.NewExportRequestFromTraces(td), keys
}

// count is how many spans were acknowledged so far.
func (c *retryingClient) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.acked)
}

// String tells how the client fares: what a stalled client's check prints.
func (c *retryingClient) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("%d acknowledged, %d retries (%d refused), last error: %v, exited: %v", len(c.acked), c.retries, c.refused, c.lastErr, c.exited)
}

func (c *retryingClient) acknowledged() map[spanKey]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[spanKey]bool, len(c.acked))
	for k := range c.acked {
		out[k] = true
	}
	return out
}
