package collectorproc

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StartTimeout bounds how long the collector may take to start serving;
// generous because the machine is shared with other builds.
const StartTimeout = 60 * time.Second

// Proc is one run of the spansink collector binary.
type Proc struct {
	tb  testing.TB
	cmd *exec.Cmd

	// HTTPAddr, GRPCAddr and AdminAddr are the addresses the collector
	// listens on, read from its "collector serving" log line (it is
	// started with port 0 everywhere).
	HTTPAddr, GRPCAddr, AdminAddr string

	mu      sync.Mutex
	entries []map[string]any // its JSON log lines
	exited  chan struct{}
	waitErr error
}

// Start runs `spansink collector` with args (after loopback port-0 listen
// addresses, so args may override them) and waits until it serves, failing
// the test if it does not. Its log goes to logFile too, appended, so one file
// holds every restart of a test. The process is killed when the test ends.
func Start(tb testing.TB, logFile string, args ...string) *Proc {
	tb.Helper()
	p, err := Launch(tb, logFile, args...)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// Launch is Start that returns the error instead of failing the test, for
// tests that expect the collector not to come up.
func Launch(tb testing.TB, logFile string, args ...string) (*Proc, error) {
	tb.Helper()
	return launch(tb, Binary(tb), logFile, args...)
}

// launch is Launch with the spansink binary at bin.
func launch(tb testing.TB, bin, logFile string, args ...string) (*Proc, error) {
	tb.Helper()
	all := append([]string{"collector",
		"--grpc-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0"}, args...)
	cmd := exec.Command(bin, all...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("pipe collector stderr: %w", err)
	}
	out, err := os.OpenFile(logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open collector log: %w", err)
	}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start collector: %w", err)
	}
	p := &Proc{tb: tb, cmd: cmd, exited: make(chan struct{})}
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
		p.HTTPAddr, _ = entry["otlpHttp"].(string)
		p.GRPCAddr, _ = entry["otlpGrpc"].(string)
		p.AdminAddr, _ = entry["admin"].(string)
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("collector exited before serving (%v); log in %s", p.waitErr, logFile)
	case <-time.After(StartTimeout):
		return nil, fmt.Errorf("collector did not serve within %s; log in %s", StartTimeout, logFile)
	}
}

func (p *Proc) scan(stderr io.Reader, out io.Writer, serving chan<- map[string]any) {
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

// PID is the collector's process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Logged returns the log entries whose message is msg.
func (p *Proc) Logged(msg string) []map[string]any {
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

// Kill SIGKILLs the collector and waits until it is gone.
func (p *Proc) Kill() {
	p.tb.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.tb.Fatalf("SIGKILL collector: %v", err)
	}
	<-p.exited
}

// Terminate sends SIGTERM and returns the exit code once it exits, failing
// the test if it does not exit within timeout.
func (p *Proc) Terminate(timeout time.Duration) int {
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

// Exited is closed once the collector process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }
