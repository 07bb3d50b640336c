package durability

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// spansPerRequest is what every test request carries: a typical SDK batch.
const spansPerRequest = 100

// loadClient sends OTLP/HTTP protobuf requests with span ids that are
// unique over the whole test run, and records which were acknowledged (200
// with no rejected spans), when, and how long each acknowledgement took. It
// never retries a span id: a retry uses fresh ids, so a span id that appears
// twice in the files is always the collector's doing.
type loadClient struct {
	http   *http.Client
	nextID atomic.Uint64

	mu        sync.Mutex
	acked     []ack
	latencies []time.Duration
	answers   map[int]int // HTTP status (0 = no answer) -> requests
}

// ack is one acknowledged span.
type ack struct {
	id uint64
	at time.Time
}

func newLoadClient() *loadClient {
	c := &loadClient{
		http: &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
				MaxIdleConnsPerHost: 256,
			},
		},
		answers: map[int]int{},
	}
	// A random start keeps ids apart from any other run's in a reused dir.
	c.nextID.Store(rand.Uint64()>>8 | 1)
	return c
}

// request builds one OTLP/HTTP protobuf body of n spans with fresh ids.
func (c *loadClient) request(n int) ([]byte, []uint64) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "durability-test")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("spansink/test/durability")
	first := c.nextID.Add(uint64(n)) - uint64(n) + 1
	var traceID pcommon.TraceID
	binary.BigEndian.PutUint64(traceID[:8], first)
	binary.BigEndian.PutUint64(traceID[8:], rand.Uint64())
	now := time.Now()
	ids := make([]uint64, n)
	for i := range n {
		id := first + uint64(i)
		ids[i] = id
		var spanID pcommon.SpanID
		binary.BigEndian.PutUint64(spanID[:], id)
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(traceID)
		s.SetSpanID(spanID)
		s.SetName("operation")
		s.SetKind(ptrace.SpanKindServer)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Millisecond)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
		s.Attributes().PutStr("http.route", "/api/v1/items")
		s.Attributes().PutInt("http.status_code", 200)
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		panic(fmt.Sprintf("marshal an OTLP request built in the test: %v", err))
	}
	return body, ids
}

// send posts one request of n fresh spans and records the outcome. It
// returns the HTTP status (0 when no answer came) and the latency.
func (c *loadClient) send(ctx context.Context, url string, n int) (int, time.Duration) {
	body, ids := c.request(n)
	return c.post(ctx, url, body, ids, time.Now())
}

// post sends body, whose spans are ids, and records an acknowledgement
// with its latency measured from start (the scheduled send time under an
// open-loop load, so queueing in the client counts too).
func (c *loadClient) post(ctx context.Context, url string, body []byte, ids []uint64, start time.Time) (int, time.Duration) {
	status := c.do(ctx, url, body)
	now := time.Now()
	latency := now.Sub(start)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answers[status]++
	if status == http.StatusOK {
		for _, id := range ids {
			c.acked = append(c.acked, ack{id: id, at: now})
		}
		c.latencies = append(c.latencies, latency)
	}
	return status, latency
}

func (c *loadClient) do(ctx context.Context, url string, body []byte) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/traces", bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		// Cut off mid-answer (a kill): not an acknowledgement.
		return 0
	}
	if resp.StatusCode == http.StatusOK {
		answer := ptraceotlp.NewExportResponse()
		if err := answer.UnmarshalProto(respBody); err != nil || answer.PartialSuccess().RejectedSpans() > 0 {
			// Not every span was taken: count it as not acknowledged.
			return -1
		}
	}
	return resp.StatusCode
}

// run keeps workers requests in flight until ctx ends, backing off briefly
// after a refusal, and returns when every worker has stopped.
func (c *loadClient) run(ctx context.Context, url string, workers int) {
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				status, _ := c.send(ctx, url, spansPerRequest)
				if status != http.StatusOK {
					select {
					case <-ctx.Done():
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
		})
	}
	wg.Wait()
}

// takeAcked returns and forgets the spans acknowledged so far.
func (c *loadClient) takeAcked() []ack {
	c.mu.Lock()
	defer c.mu.Unlock()
	acked := c.acked
	c.acked = nil
	return acked
}

// takeAnswers returns and forgets the count of answers by status.
func (c *loadClient) takeAnswers() map[int]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	answers := c.answers
	c.answers = map[int]int{}
	return answers
}

// takeLatencies returns, sorted, and forgets the acknowledgement latencies.
func (c *loadClient) takeLatencies() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.latencies
	c.latencies = nil
	slices.Sort(l)
	return l
}

// quantile returns the q-quantile of sorted latencies (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := sort.Search(len(sorted), func(i int) bool { return float64(i+1) >= q*float64(len(sorted)) })
	return sorted[min(i, len(sorted)-1)]
}

// spanIDHex is how the dbgpt format writes a span id.
func spanIDHex(id uint64) string {
	return fmt.Sprintf("%016x", id)
}
