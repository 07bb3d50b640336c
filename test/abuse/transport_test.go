package abuse

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/spansink/spansink/test/collectorproc"
)

// underAttack starts the collector and the good client, warms both up, and
// returns what a test needs to attack and then judge the outcome.
type underAttack struct {
	p         *collectorproc.Proc
	spanFile  string
	baseline  collectorproc.Status
	attacking atomic.Bool
	good      *goodClient
	stopGood  context.CancelFunc
	goodDone  sync.WaitGroup
	watch     *memoryWatch
}

func startUnderAttack(t *testing.T) *underAttack {
	t.Helper()
	u := &underAttack{}
	u.p, u.spanFile = startCollector(t)
	u.good = newGoodClient(u.p, u.attacking.Load)
	for i := range 20 {
		if status, err := u.good.post(context.Background(), otlpBody(t, fmt.Sprintf("warmup-%d", i))); err != nil || status != 200 {
			t.Fatalf("warm-up request: %d %v", status, err)
		}
	}
	u.baseline = u.p.MustProcStatus()
	t.Logf("before the attack: RSS %s, peak %s, %d threads, %.0f goroutines",
		mib(u.baseline.RSSBytes), mib(u.baseline.HWMBytes), u.baseline.Threads, u.p.Goroutines())
	ctx, cancel := context.WithCancel(context.Background())
	u.stopGood = cancel
	u.goodDone.Add(1)
	go func() {
		defer u.goodDone.Done()
		u.good.run(ctx, t)
	}()
	u.watch = watchMemory(u.p)
	u.attacking.Store(true)
	return u
}

// finish ends the attack phase, checks the memory bound (bytes over the
// baseline RSS) and the good client's spans.
func (u *underAttack) finish(t *testing.T, bound int64, why string) {
	t.Helper()
	u.attacking.Store(false)
	time.Sleep(300 * time.Millisecond) // the good client stores some after, too
	peak := u.watch.Stop()
	grew := peak.HWMBytes - u.baseline.RSSBytes
	t.Logf("during the attack: peak RSS %s (%s over the baseline RSS), %d threads at most; bound %s (%s)",
		mib(peak.HWMBytes), mib(grew), peak.Threads, mib(bound), why)
	if grew > bound {
		t.Errorf("the collector's resident memory grew by %s, over the bound of %s (%s)", mib(grew), mib(bound), why)
	}
	u.stopGood()
	u.goodDone.Wait()
	u.good.check(t, u.p, u.spanFile)
}

// keepAttacking runs attack from parallel goroutines, over and over, until
// the good client has had servedDuring requests acknowledged while it went
// on, or a timeout passes (the good client's check then says so). An attack
// the server refuses in milliseconds would otherwise be over before the
// good client's next request, and prove nothing about serving it.
func (u *underAttack) keepAttacking(t *testing.T, parallel, servedDuring int, attack func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var attackers sync.WaitGroup
	var rounds atomic.Int64
	for range parallel {
		attackers.Add(1)
		go func() {
			defer attackers.Done()
			for ctx.Err() == nil {
				if err := attack(); err != nil {
					t.Error(err)
					cancel()
					return
				}
				rounds.Add(1)
			}
		}()
	}
	for ctx.Err() == nil && u.good.servedDuringAttack() < servedDuring {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	attackers.Wait()
	t.Logf("%d attacks from %d attackers while the good client was served %d times", rounds.Load(), parallel, u.good.servedDuringAttack())
}

// The slow-body attack of issue 9: before the fix, 20 connections that
// declare 20 MiB and send one byte made the collector allocate 400 MiB and
// hold it as long as the client liked.
func TestSlowHTTPBodies(t *testing.T) {
	u := startUnderAttack(t)
	const conns = 20
	type answer struct {
		status string
		took   time.Duration
		err    error
	}
	answers := make(chan answer, conns)
	for range conns {
		conn, err := net.Dial("tcp", u.p.HTTPAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		fmt.Fprintf(conn, "POST /v1/traces HTTP/1.1\r\nHost: collector\r\nContent-Type: application/x-protobuf\r\nContent-Length: %d\r\n\r\nA", 20<<20)
		go func() {
			conn.SetReadDeadline(time.Now().Add(requestTimeout + 5*time.Second))
			line, err := bufio.NewReader(conn).ReadString('\n')
			answers <- answer{status: strings.TrimSpace(line), took: time.Since(start), err: err}
		}()
	}
	for range conns {
		a := <-answers
		if a.err != nil || !strings.HasPrefix(a.status, "HTTP/1.1 408") {
			t.Errorf("slow body: answered %q (%v) after %s, want 408 Request Timeout", a.status, a.err, a.took)
		} else if a.took > requestTimeout+2*time.Second {
			t.Errorf("slow body answered after %s, want within limits.requestTimeout (%s)", a.took, requestTimeout)
		}
	}
	if v, _ := u.p.Metric("spansink_requests_refused_total", `reason="request_timeout"`); v < conns {
		t.Errorf("spansink_requests_refused_total{reason=request_timeout} = %v, want at least %d", v, conns)
	}
	// Each connection holds the first 32 KiB chunk of its buffer, 640 KiB
	// in all; the rest is goroutines and GC slack. Without the fix it is
	// 400 MiB.
	u.finish(t, 24<<20, "20 × a 32 KiB first chunk, plus 24 MiB for goroutines and GC slack")
}

// The stalled-stream attack of issue 9: streams that declare a 20 MiB
// message, send 1 MiB of it and stall held 300 MiB and more for as long as
// the client liked. Now each connection carries at most 32 streams, the
// buffers of all of them are charged to the 32 MiB inflight budget (the
// connection's reader waits for room, so its client is pushed back by TCP),
// and each call ends at limits.requestTimeout.
func TestStalledGRPCStreams(t *testing.T) {
	u := startUnderAttack(t)
	goroutinesBefore := u.p.Goroutines()
	const conns, streams = 4, 32
	prefix := make([]byte, 5)
	binary.BigEndian.PutUint32(prefix[1:], 20<<20)
	payload := append(prefix, make([]byte, 1<<20-len(prefix))...) // the stream window
	attackers := make([]*h2Conn, conns)
	var sent sync.WaitGroup
	start := time.Now()
	for i := range attackers {
		c := dialH2(t, u.p.GRPCAddr)
		attackers[i] = c
		sent.Add(1)
		go func() {
			defer sent.Done()
			for s := range streams {
				id := uint32(2*s + 1)
				if c.openStream(id, nil) != nil || c.sendData(id, payload) != nil {
					return // the server stopped reading: what the budget is for
				}
			}
		}()
	}
	sent.Wait()
	// Every stream the server took must end by its deadline; a stream the
	// server never read ends when the connection is closed below.
	// The server reads a connection only as budget frees, so the last
	// streams' headers arrive a few deadlines late: 128 MiB sent through a
	// 32 MiB budget is four rounds of requestTimeout.
	deadline := start.Add(8*requestTimeout + 5*time.Second)
	ended := 0
	for _, c := range attackers {
		for s := range streams {
			id := uint32(2*s + 1)
			for c.outcome(id) == "" && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			how := c.outcome(id)
			switch {
			case how == "":
				t.Errorf("stalled stream %d still open %s after the attack began", id, time.Since(start).Round(time.Millisecond))
			case strings.HasPrefix(how, "grpc-status 4: "): // DeadlineExceeded
				ended++
			case strings.HasPrefix(how, "RST_STREAM"):
				ended++ // the end of the call's stream after its deadline answer
			default:
				t.Errorf("stalled stream %d ended with %q, want DeadlineExceeded", id, how)
			}
		}
	}
	t.Logf("%d stalled streams ended within %s", ended, time.Since(start).Round(time.Millisecond))
	if v, _ := u.p.Metric("spansink_requests_refused_total", `protocol="otlp_grpc"`, `reason="request_timeout"`); v < 1 {
		t.Errorf("spansink_requests_refused_total{otlp_grpc, request_timeout} = %v, want the stalled calls counted", v)
	}
	for _, c := range attackers {
		c.conn.Close()
	}
	closed := time.Now()
	waitFor(t, 20*time.Second, "the inflight budget to empty", func() bool {
		v, _ := u.p.Metric("spansink_inflight_bytes")
		return v == 0
	})
	waitFor(t, 10*time.Second, "the attack's goroutines to end", func() bool {
		return u.p.Goroutines() <= goroutinesBefore+10
	})
	t.Logf("budget empty and goroutines back %s after the attackers closed", time.Since(closed).Round(time.Millisecond))
	// The budget holds 32 MiB of frames; the Go heap may reach twice its
	// live bytes before it collects (GOGC=100), and each connection has
	// 64 KiB of read and write buffers. Without the limits: 320 MiB.
	u.finish(t, 2*maxInflightBytes+16<<20, "2 × the 32 MiB inflight budget (GC headroom) + 16 MiB for connections and goroutines")
}

// Issue 9: 15 MiB of gRPC metadata was accepted (HTTP stops at 1 MiB).
func TestGRPCMetadataOverLimit(t *testing.T) {
	u := startUnderAttack(t)
	big := strings.Repeat("m", 64<<10)
	extra := map[string]string{}
	for i := range 15 * 16 {
		extra[fmt.Sprintf("x-pad-%d", i)] = big
	}
	// Raw clients that ignore the server's SETTINGS_MAX_HEADER_LIST_SIZE.
	u.keepAttacking(t, 2, 3, func() error { return sendMetadataOverLimit(u.p.GRPCAddr, extra) })
	// grpc-go honours the limit the server advertises and says why.
	conn, err := grpc.NewClient(u.p.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := ptraceotlp.NewGRPCClient(conn)
	// A first call learns the server's settings.
	if _, err := client.Export(ctx, ptraceotlp.NewExportRequest()); err != nil {
		t.Fatalf("small call: %v", err)
	}
	md := metadata.MD{}
	for k, v := range extra {
		md.Set(k, v)
	}
	_, err = client.Export(metadata.NewOutgoingContext(ctx, md), ptraceotlp.NewExportRequest())
	if st := status.Convert(err); st.Code() == codes.OK || !strings.Contains(st.Message(), "header list size") {
		t.Errorf("export with 15 MiB of metadata: %v, want refused for its header list size", err)
	}
	u.finish(t, 24<<20, "metadata is decoded and dropped, not kept: 24 MiB for buffers and GC slack")
}

// HTTP request headers over limits.maxHeaderBytes (1 MiB) are refused with
// 431 before any handler runs.
func TestHTTPHeadersOverLimit(t *testing.T) {
	u := startUnderAttack(t)
	u.keepAttacking(t, 1, 2, func() error { return sendHeadersOverLimit(u.p.HTTPAddr) })
	// Each refused request reads 1 MiB of headers and drops it. The attacks
	// follow each other faster than the heap is collected, and GOGC=200
	// lets the heap reach three times its live bytes first: the heap goal
	// rose from 11 to 27 MiB over 33 attacks, for 14–23 MiB more RSS. The
	// 431 each attack gets is what shows the limit holds.
	u.finish(t, 32<<20, "headers are read up to 1 MiB and dropped; garbage up to the heap goal of GOGC=200")
}

// sendMetadataOverLimit opens an Export stream with the extra metadata from
// a raw HTTP/2 client, and fails unless the server refuses the stream or
// cuts the connection.
func sendMetadataOverLimit(addr string, extra map[string]string) error {
	c, err := openH2(addr)
	if err != nil {
		return err
	}
	defer c.conn.Close()
	// An error here is the server cutting the connection before all of
	// the metadata was sent: a refusal too.
	c.openStream(1, extra)
	for deadline := time.Now().Add(10 * time.Second); c.outcome(1) == ""; {
		select {
		case <-c.gone:
			return nil
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("a call with 15 MiB of metadata was neither refused nor cut within 10s")
		}
	}
	if how := c.outcome(1); !strings.HasPrefix(how, "RST_STREAM") {
		return fmt.Errorf("a call with 15 MiB of metadata ended with %q, want it refused", how)
	}
	return nil
}

// sendHeadersOverLimit sends a request with 2.4 MiB of headers and fails
// unless the server answers 431.
func sendHeadersOverLimit(addr string) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		fmt.Fprintf(conn, "POST /v1/traces HTTP/1.1\r\nHost: collector\r\nContent-Type: application/x-protobuf\r\n")
		pad := strings.Repeat("h", 60<<10)
		for i := range 40 { // 2.4 MiB of headers
			if _, err := fmt.Fprintf(conn, "X-Pad-%d: %s\r\n", i, pad); err != nil {
				return // the server answered and closed
			}
		}
		fmt.Fprintf(conn, "Content-Length: 0\r\n\r\n")
	}()
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 431") {
		return fmt.Errorf("2.4 MiB of headers answered %q (%v), want 431 Request Header Fields Too Large", line, err)
	}
	return nil
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
