// Package jaegerproc runs a real Jaeger for tests: the Jaeger v2 binary
// (an OpenTelemetry Collector with Jaeger's storage and query extensions),
// built from the Go module proxy by hack/test-servers.sh, with in-memory
// storage, OTLP gRPC and HTTP receivers and the query API on free loopback
// ports.
//
// A test that replays spans into Jaeger proves more than one that decodes
// what it sent: Jaeger's own OTLP receivers parse the payload and its query
// API says what it made of it, parents and all.
//
//	j, err := jaegerproc.Start(ctx, jaegerproc.Options{})
//	...
//	defer j.Close()
//	// send OTLP to j.OTLPGRPCAddr() or http://j.OTLPHTTPAddr()/v1/traces, then
//	spans, err := j.WaitForSpans(ctx, traceIDHex, 3)
package jaegerproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spansink/spansink/test/testservers"
)

// Options configure Start. The zero value is what most tests want.
type Options struct {
	// MaxTraces bounds the in-memory store (oldest traces are evicted);
	// default 100000.
	MaxTraces int
	// StartTimeout bounds the start until every listener serves; default
	// 60 s, generous because the machine is shared with builds.
	StartTimeout time.Duration
}

// Jaeger is a running Jaeger v2.
type Jaeger struct {
	// LogPath is Jaeger's log (JSON lines from the collector's zap logger);
	// print it when a test fails. Close removes it.
	LogPath string

	dir                                  string // holds the config and the log
	otlpGRPC, otlpHTTP, query, queryGRPC string // host:port

	closeOnce sync.Once
	cmd       *exec.Cmd
	exited    chan struct{} // closed once cmd has exited
	waitErr   error         // cmd's exit, set before exited closes
}

// config is Jaeger's configuration: the all-in-one of
// cmd/jaeger/internal/all-in-one.yaml (which the binary uses when given no
// --config) cut down to what tests use, every listener on a port of ours.
// The all-in-one also starts Jaeger/Zipkin receivers, remote sampling,
// healthcheck, expvar, zpages and Prometheus on fixed ports (4317, 16686,
// 8888, ...) that two tests, or anything else on the machine, would share.
// No batch processor: spans reach the store as soon as the receiver has them.
// enable_tracing off: the query extension traces its own requests by default
// and exports them over OTLP to localhost:4317, which in a test may be the
// collector under test (and when nothing listens there, Jaeger spends ~10 s
// of its shutdown retrying the export).
const config = `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
      encoding: json
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: %d
  jaeger_query:
    enable_tracing: false
    storage:
      traces: memstore
    http:
      endpoint: %s
    grpc:
      endpoint: %s
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
      http:
        endpoint: %s
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`

// Start runs Jaeger and returns once its query API answers and both OTLP
// receivers accept connections. The collector starts exporters before
// receivers, so by then a span that is received is also stored.
func Start(ctx context.Context, opts Options) (*Jaeger, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if opts.MaxTraces == 0 {
		opts.MaxTraces = 100000
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 60 * time.Second
	}
	// The ports are free when chosen but nothing holds them until Jaeger
	// listens; if another process takes one in between, Jaeger exits, and
	// we try again on new ports.
	const attempts = 3
	for i := 1; ; i++ {
		j, err := start(ctx, bin, opts)
		if err == nil {
			return j, nil
		}
		if i == attempts || ctx.Err() != nil || !errors.Is(err, errExited) {
			return nil, err
		}
	}
}

var errExited = errors.New("jaeger exited")

func start(ctx context.Context, bin string, opts Options) (*Jaeger, error) {
	dir, err := os.MkdirTemp("", "spansink-jaeger-")
	if err != nil {
		return nil, err
	}
	addrs, err := freeAddrs(4)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	j := &Jaeger{
		LogPath:   filepath.Join(dir, "jaeger.log"),
		dir:       dir,
		query:     addrs[0],
		queryGRPC: addrs[1],
		otlpGRPC:  addrs[2],
		otlpHTTP:  addrs[3],
		exited:    make(chan struct{}),
	}
	configPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf(config, opts.MaxTraces, j.query, j.queryGRPC, j.otlpGRPC, j.otlpHTTP)
	if err := os.WriteFile(configPath, []byte(cfg), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	log, err := os.Create(j.LogPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer log.Close() // the child has its own copy
	j.cmd = exec.Command(bin, "--config", configPath)
	j.cmd.Dir = dir
	j.cmd.Stdout, j.cmd.Stderr = log, log
	// If the test process dies without Close, Jaeger dies with it instead
	// of holding the ports.
	j.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := j.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start jaeger: %w", err)
	}
	go func() {
		j.waitErr = j.cmd.Wait()
		close(j.exited)
	}()
	if err := j.waitReady(ctx, opts.StartTimeout); err != nil {
		j.Close()
		return nil, err
	}
	return j, nil
}

// waitReady polls the query API and dials both receivers until all answer.
func (j *Jaeger) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		last = j.probe(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-j.exited:
			return fmt.Errorf("%w before serving (%v); log %s:\n%s", errExited, j.waitErr, j.LogPath, testservers.Tail(j.LogPath, 3000))
		case <-ctx.Done():
			return fmt.Errorf("jaegerproc: not ready within %s (last: %v); log %s:\n%s", timeout, last, j.LogPath, testservers.Tail(j.LogPath, 3000))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (j *Jaeger) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.QueryURL()+"/api/services", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /api/services: %s", resp.Status)
	}
	for _, addr := range []string{j.otlpGRPC, j.otlpHTTP} {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		c.Close()
	}
	return nil
}

// OTLPGRPCAddr is the OTLP/gRPC receiver, host:port (plaintext).
func (j *Jaeger) OTLPGRPCAddr() string { return j.otlpGRPC }

// OTLPHTTPAddr is the OTLP/HTTP receiver, host:port; traces go to
// http://<addr>/v1/traces.
func (j *Jaeger) OTLPHTTPAddr() string { return j.otlpHTTP }

// QueryURL is the base URL of the query HTTP API (and UI), e.g.
// http://127.0.0.1:port; Trace reads /api/v3/traces/{id} under it.
func (j *Jaeger) QueryURL() string { return "http://" + j.query }

// Close stops Jaeger (SIGTERM, then SIGKILL after 10 s), waits until it is
// gone and removes its config and log. Calling it again does nothing.
func (j *Jaeger) Close() error {
	j.closeOnce.Do(func() {
		j.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-j.exited:
		case <-time.After(10 * time.Second):
			j.cmd.Process.Kill()
			<-j.exited
		}
		os.RemoveAll(j.dir)
	})
	return nil
}

// freeAddrs asks the kernel for n distinct free loopback addresses, holding
// each until all are chosen so that none is picked twice.
func freeAddrs(n int) ([]string, error) {
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		defer l.Close()
		addrs = append(addrs, net.JoinHostPort("127.0.0.1", strconv.Itoa(l.Addr().(*net.TCPAddr).Port)))
	}
	return addrs, nil
}
