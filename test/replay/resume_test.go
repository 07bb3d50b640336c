package replay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spansink/spansink/test/collectorproc"
)

// The resume tests replay the fixture slowly (--rate) into a spansink
// collector that acknowledges a request only once its spans are written
// and fsynced (Durable delivery), so that what it acknowledged is what its
// files hold, and interrupt the replay in the middle.

const (
	slowRate  = "300" // spans per second: the fixture takes a few seconds
	slowBatch = 50
)

// receiver is a collector that counts what it acknowledged.
type receiver struct {
	proc *collectorproc.Proc
	dir  string
}

func startReceiver(t *testing.T, dir string, extra ...string) *receiver {
	t.Helper()
	args := append([]string{"--path", filepath.Join(dir, "spans.jsonl"), "--delivery", "Durable", "--flush-interval", "20ms"}, extra...)
	return &receiver{proc: collectorproc.Start(t, filepath.Join(dir, "collector.log"), args...), dir: dir}
}

// acknowledged is the spans the collector acknowledged so far.
func (r *receiver) acknowledged(t *testing.T) int {
	t.Helper()
	return int(r.proc.MetricSum("spansink_spans_accepted_total"))
}

// stored counts the spans in a collector's files: every line, and each
// span once.
func stored(t *testing.T, dir string) (lines int, distinct map[spanKey]int) {
	t.Helper()
	res := spansink(t, nil, "spans", "list", "--limit", "0", "-o", "json", dir).mustSucceed(t, "list the receiver's files")
	distinct = map[spanKey]int{}
	for _, line := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
		var s struct {
			TraceID string `json:"trace_id"`
			SpanID  string `json:"span_id"`
		}
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("list printed %q: %v", line, err)
		}
		distinct[spanKey{s.TraceID, s.SpanID}]++
		lines++
	}
	return lines, distinct
}

// stateTotal is the spans a resume file records as acknowledged.
func stateTotal(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	var state struct {
		Acknowledged map[string]int `json:"acknowledged"`
	}
	if err := json.Unmarshal(data, &state); err != nil {
		t.Fatalf("resume file %s: %v\n%s", path, err, data)
	}
	n := 0
	for _, count := range state.Acknowledged {
		n += count
	}
	return n
}

// startReplay starts a replay and returns it running, with its output.
func startReplay(t *testing.T, env []string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := spansinkCommand(t, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, &stdout, &stderr
}

// waitForState waits until the resume file records at least n spans.
func waitForState(t *testing.T, path string, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for stateTotal(t, path) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the resume file records %d spans after a minute, want %d", stateTotal(t, path), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exitCode is a finished command's exit code, -1 when it did not run.
func exitCode(err error) int {
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitCode()
	}
	return -1
}

// TestResumeAfterCtrlC: Ctrl-C (SIGINT) waits for the request in flight
// and records it, so a resumed replay sends exactly the rest: the receiver
// gets every span once.
func TestResumeAfterCtrlC(t *testing.T) {
	f := sharedFixture(t)
	rx := startReceiver(t, t.TempDir())
	state := filepath.Join(t.TempDir(), "replay.state")
	args := append([]string{"spans", "replay", "--otlp-endpoint", rx.proc.GRPCAddr, "--insecure", "--resume", state}, f.allFiles()...)

	cmd, _, stderr := startReplay(t, nil, append(args, "--rate", slowRate, "--batch", fmt.Sprint(slowBatch))...)
	waitForState(t, state, 3*slowBatch)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(cmd.Wait()); code != 1 {
		t.Fatalf("an interrupted replay exited %d, want 1\n%s", code, stderr)
	}
	recorded := stateTotal(t, state)
	if !strings.Contains(stderr.String(), fmt.Sprintf("replay interrupted after %d spans were acknowledged; run again with --resume %s", recorded, state)) {
		t.Fatalf("stderr does not say how far it got (%d):\n%s", recorded, stderr)
	}
	if got := rx.acknowledged(t); got != recorded || recorded >= f.spanCount() {
		t.Fatalf("the receiver acknowledged %d spans, the resume file records %d (of %d)", got, recorded, f.spanCount())
	}

	res := spansink(t, nil, args...).mustSucceed(t, "resumed replay")
	wantSummary := fmt.Sprintf("%d span(s) sent in", f.spanCount()-recorded)
	if !strings.HasPrefix(res.stdout, wantSummary) || !strings.Contains(res.stdout, fmt.Sprintf("%d skipped as acknowledged before", recorded)) {
		t.Fatalf("summary %q, want %q... and %d skipped", res.stdout, wantSummary, recorded)
	}
	if code := rx.proc.Terminate(30 * time.Second); code != 0 {
		t.Fatalf("the collector exited %d", code)
	}
	lines, distinct := stored(t, rx.dir)
	if lines != f.spanCount() || len(distinct) != f.spanCount() {
		t.Fatalf("the receiver stored %d spans, %d distinct; want each of %d once", lines, len(distinct), f.spanCount())
	}
	t.Logf("interrupted after %d of %d spans; the resumed replay sent the other %d, none twice", recorded, f.spanCount(), f.spanCount()-recorded)
}

// TestResumeAfterAKill: a replay SIGKILLed in the middle, from the object
// store over OTLP/HTTP, resumed: every span arrives, and only the request
// in flight at the kill (at most one batch) may arrive twice; every span
// the resume file recorded arrives once.
func TestResumeAfterAKill(t *testing.T) {
	f := sharedFixture(t)
	s := startStore(t)
	s.upload(t, f)
	rx := startReceiver(t, t.TempDir())
	state := filepath.Join(t.TempDir(), "replay.state")
	args := append([]string{"spans", "replay", "--otlp-endpoint", rx.proc.HTTPAddr, "--otlp-http", "--insecure", "--resume", state, url3(prefix)}, s.flags...)

	cmd, _, _ := startReplay(t, s.env, append(args, "--rate", slowRate, "--batch", fmt.Sprint(slowBatch))...)
	waitForState(t, state, 3*slowBatch)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	recorded := stateTotal(t, state)
	arrived := rx.acknowledged(t)
	inFlight := arrived - recorded
	if inFlight < 0 || inFlight > slowBatch {
		t.Fatalf("the receiver acknowledged %d spans, the resume file records %d: more than one batch apart", arrived, recorded)
	}

	res := spansink(t, s.env, args...).mustSucceed(t, "resumed replay")
	if !strings.Contains(res.stdout, fmt.Sprintf("%d skipped as acknowledged before", recorded)) {
		t.Fatalf("summary %q, want %d skipped", res.stdout, recorded)
	}
	if code := rx.proc.Terminate(30 * time.Second); code != 0 {
		t.Fatalf("the collector exited %d", code)
	}
	lines, distinct := stored(t, rx.dir)
	twice := 0
	for _, n := range distinct {
		if n > 1 {
			twice += n - 1
		}
	}
	if len(distinct) != f.spanCount() || lines != f.spanCount()+inFlight || twice != inFlight {
		t.Fatalf("the receiver stored %d spans, %d distinct, %d twice; want all %d, and only the %d in flight at the kill twice", lines, len(distinct), twice, f.spanCount(), inFlight)
	}
	t.Logf("killed after %d spans were recorded (%d more had arrived); after the resume all %d arrived, %d twice", recorded, inFlight, f.spanCount(), twice)
}

// TestReplayRidesOutAReceiverRestart: the receiver stops in the middle of a
// replay and comes back on the same address; the replay retries and ends
// with every span delivered, without being run again.
func TestReplayRidesOutAReceiverRestart(t *testing.T) {
	f := sharedFixture(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	rx := startReceiver(t, dir, "--grpc-address", addr)
	cmd, stdout, stderr := startReplay(t, nil, append([]string{"spans", "replay", "--otlp-endpoint", addr, "--insecure", "--rate", slowRate, "--batch", fmt.Sprint(slowBatch)}, f.allFiles()...)...)
	deadline := time.Now().Add(time.Minute)
	for rx.acknowledged(t) < 3*slowBatch {
		if time.Now().After(deadline) {
			t.Fatal("the replay does not get going")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := rx.proc.Terminate(30 * time.Second); code != 0 {
		t.Fatalf("the collector exited %d", code)
	}
	time.Sleep(2 * time.Second) // the replay retries meanwhile
	rx = startReceiver(t, dir, "--grpc-address", addr)
	if code := exitCode(cmd.Wait()); code != 0 {
		t.Fatalf("the replay exited %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr.String(), "retrying a request") {
		t.Fatalf("no retry reported:\n%s", stderr)
	}
	// A replay of several seconds shows its progress, a line a second.
	if progress := strings.Count(stderr.String(), " spans/s, reading "); progress < 2 || progress > 8 {
		t.Fatalf("%d progress lines in a replay of a few seconds:\n%s", progress, stderr)
	}
	if code := rx.proc.Terminate(30 * time.Second); code != 0 {
		t.Fatalf("the collector exited %d", code)
	}
	lines, distinct := stored(t, dir)
	if len(distinct) != f.spanCount() || lines-len(distinct) > slowBatch {
		t.Fatalf("the receivers stored %d spans, %d distinct; want all %d, at most one batch twice", lines, len(distinct), f.spanCount())
	}
	t.Logf("%s; %d spans stored twice (the request cut by the restart)", strings.TrimSpace(stdout.String()), lines-len(distinct))
}
