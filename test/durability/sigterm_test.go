package durability

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/spansink/spansink/test/collectorproc"
)

// TestSIGTERMUnderLoadLosesNothing stops the collector with SIGTERM while
// clients keep sending, in both modes, and checks that it exits 0 and that
// every acknowledged span is in the files: a graceful stop refuses new
// spans (503) but stores every one it accepted, whatever the mode.
func TestSIGTERMUnderLoadLosesNothing(t *testing.T) {
	for _, mode := range []string{"Durable", "Batched"} {
		t.Run(mode, func(t *testing.T) {
			collectorproc.Binary(t)
			path := filepath.Join(t.TempDir(), "spans.jsonl")
			logFile := filepath.Join(t.TempDir(), "collector.log")
			// A long interval and a big batch: in Batched mode most
			// acknowledged spans still wait in memory at the SIGTERM.
			args := collectorArgs(path, mode)
			args = append(args, "--flush-interval", "1h", "--batch-size", "50000", "--max-queued-spans", "100000")
			p := collectorproc.Start(t, logFile, args...)
			client := newLoadClient()
			ctx, cancel := context.WithCancel(context.Background())
			loaded := make(chan struct{})
			go func() {
				defer close(loaded)
				client.run(ctx, "http://"+p.HTTPAddr, loadWorkers)
			}()
			time.Sleep(700 * time.Millisecond)
			stopStart := time.Now()
			code := p.Terminate(time.Minute)
			t.Logf("stopped in %s", time.Since(stopStart))
			cancel()
			<-loaded
			if code != 0 {
				t.Fatalf("collector exited %d after SIGTERM, want 0", code)
			}
			acked := client.takeAcked()
			answers := client.takeAnswers()
			t.Logf("%d spans acknowledged, answers %v", len(acked), answers)
			if len(acked) == 0 {
				t.Fatal("no span was acknowledged: the test proved nothing")
			}
			for status := range answers {
				switch status {
				case http.StatusOK, http.StatusServiceUnavailable, 0:
					// 0: the connection closed as the collector exited.
				default:
					t.Errorf("got %d answers with status %d; want only 200, or 503 while stopping", answers[status], status)
				}
			}
			files, err := readSpanFiles(path, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkFiles(t, "after SIGTERM", files)
			lost := 0
			for _, a := range acked {
				if files.count[a.id] == 0 {
					lost++
				}
			}
			if lost > 0 {
				t.Fatalf("%d of %d acknowledged spans are not in the files after a graceful stop", lost, len(acked))
			}
		})
	}
}
