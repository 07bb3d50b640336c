package collector

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinaryDrainsOnSIGTERM runs the real spansink binary, sends it spans
// that can only reach the disk through the shutdown flush (the interval is
// an hour and the batch larger than what is sent), then SIGTERM, and checks
// it exits 0 with every span in the file.
func TestBinaryDrainsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the spansink binary")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "spansink")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/spansink/spansink").CombinedOutput(); err != nil {
		t.Fatalf("build spansink: %v\n%s", err, out)
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "collector", "--path", filepath.Join(dir, "spans.jsonl"),
		"--grpc-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0",
		"--flush-interval", "1h", "--batch-size", "100000", "--max-queued-spans", "100000")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })

	logs := make(chan map[string]any, 100)
	go func() {
		defer close(logs)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var entry map[string]any
			if json.Unmarshal(sc.Bytes(), &entry) == nil {
				logs <- entry
			} else {
				t.Logf("stderr: %s", sc.Text())
			}
		}
	}()
	waitFor := func(msg string) map[string]any {
		t.Helper()
		timeout := time.After(60 * time.Second)
		for {
			select {
			case entry, ok := <-logs:
				if !ok {
					t.Fatalf("collector exited before logging %q", msg)
				}
				if entry["msg"] == msg {
					return entry
				}
			case <-timeout:
				t.Fatalf("collector did not log %q", msg)
			}
		}
	}
	serving := waitFor("collector serving")
	httpAddr, _ := serving["otlpHttp"].(string)

	var sent []string
	for i := range 3 {
		body, ids := dbgptBody(strings.Repeat("b", i+1), 50)
		if code, err := postDBGPT(http.DefaultClient, httpAddr, body); err != nil || code != http.StatusOK {
			t.Fatalf("post spans: %d %v", code, err)
		}
		sent = append(sent, ids...)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor("stopped; every accepted span is stored")
	for range logs {
		// Drain stderr so the process can exit.
	}
	if err := cmd.Wait(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("collector exited with %d after SIGTERM, want 0", exit.ExitCode())
		}
		t.Fatal(err)
	}
	stored := bySpanID(storedLines(t, dir))
	if len(stored) != len(sent) {
		t.Fatalf("file holds %d spans, sent %d", len(stored), len(sent))
	}
	for _, id := range sent {
		if stored[id] == nil {
			t.Fatalf("span %s is not in the file", id)
		}
	}
}
