package durability

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildMu sync.Mutex
	built   bool
)

// startTimeout bounds how long the collector may take to start serving;
// generous because the machine is shared with other builds.
const startTimeout = 60 * time.Second

// collectorProc is one run of the spansink collector binary.
type collectorProc struct {
	tb  testing.TB
	cmd *exec.Cmd

	// Addresses the collector listens on, read from its "collector
	// serving" log line (it is started with port 0 everywhere).
	httpAddr, grpcAddr, adminAddr string

	mu      sync.Mutex
	entries []map[string]any // its JSON log lines
	exited  chan struct{}
	waitErr error
}

// startCollector runs `spansink collector` with args (plus loopback port-0
// listen addresses) and waits until it serves. Its log goes to logFile too,
// appended, so one file holds every restart of a test.
func startCollector(tb testing.TB, logFile string, args ...string) *collectorProc {
	tb.Helper()
	p, err := launch(tb, logFile, args...)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func launch(tb testing.TB, logFile string, args ...string) (*collectorProc, error) {
	bin := spansinkBinary(tb)
	all := append([]string{"collector",
		"--grpc-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0"}, args...)
	cmd := exec.Command(bin, all...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	out, err := os.OpenFile(logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start collector: %w", err)
	}
	p := &collectorProc{tb: tb, cmd: cmd, exited: make(chan struct{})}
	serving := make(chan map[string]any, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		defer out.Close()
		p.scan(stderr, out, serving)
	}()
	go func() {
		<-scanned // Wait must not run before stderr is read to the end.
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
	})
	select {
	case entry := <-serving:
		p.httpAddr, _ = entry["otlpHttp"].(string)
		p.grpcAddr, _ = entry["otlpGrpc"].(string)
		p.adminAddr, _ = entry["admin"].(string)
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("collector exited before serving (%v); log in %s", p.waitErr, logFile)
	case <-time.After(startTimeout):
		return nil, fmt.Errorf("collector did not serve within %s; log in %s", startTimeout, logFile)
	}
}

func (p *collectorProc) scan(stderr io.Reader, out io.Writer, serving chan<- map[string]any) {
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fmt.Fprintln(out, sc.Text())
		var entry map[string]any
		if json.Unmarshal(sc.Bytes(), &entry) != nil {
			continue
		}
		p.mu.Lock()
		p.entries = append(p.entries, entry)
		p.mu.Unlock()
		if entry["msg"] == "collector serving" {
			select {
			case serving <- entry:
			default:
			}
		}
	}
}

// logged returns the log entries whose message is msg.
func (p *collectorProc) logged(msg string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var found []map[string]any
	for _, e := range p.entries {
		if e["msg"] == msg {
			found = append(found, e)
		}
	}
	return found
}

// kill SIGKILLs the collector and waits until it is gone.
func (p *collectorProc) kill() {
	p.tb.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.tb.Fatalf("SIGKILL collector: %v", err)
	}
	<-p.exited
}

// terminate sends SIGTERM and returns the exit code once it exits.
func (p *collectorProc) terminate(timeout time.Duration) int {
	p.tb.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.tb.Fatalf("SIGTERM collector: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.tb.Fatalf("collector did not exit within %s of SIGTERM", timeout)
	}
	var exit *exec.ExitError
	switch {
	case p.waitErr == nil:
		return 0
	case errors.As(p.waitErr, &exit):
		return exit.ExitCode()
	default:
		p.tb.Fatalf("wait for collector: %v", p.waitErr)
		return -1
	}
}

// admin GETs path from the admin server and returns the status and body.
func (p *collectorProc) admin(path string) (int, string, error) {
	resp, err := http.Get("http://" + p.adminAddr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// metric returns the value of the sample of name whose labels contain
// every one of labels (`key="value"`), from /metrics, and whether it was there.
func (p *collectorProc) metric(name string, labels ...string) (float64, bool) {
	p.tb.Helper()
	code, body, err := p.admin("/metrics")
	if err != nil || code != http.StatusOK {
		p.tb.Fatalf("GET /metrics: %d %v", code, err)
	}
	for line := range strings.SplitSeq(body, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		sample, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		match := true
		for _, l := range labels {
			if !strings.Contains(sample, l) {
				match = false
			}
		}
		if match {
			var v float64
			if _, err := fmt.Sscan(value, &v); err == nil {
				return v, true
			}
		}
	}
	return 0, false
}
