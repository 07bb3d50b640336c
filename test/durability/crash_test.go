package durability

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/spansink/spansink/test/collectorproc"
)

// Settings of the crash and stop tests. The queue bound is small so that
// the Batched loss bound is tight enough to mean something.
const (
	crashBatchSize      = 500
	crashFlushInterval  = 100 * time.Millisecond
	crashMaxQueuedSpans = 5000
	// loadWorkers is how many requests the client keeps in flight.
	loadWorkers = 4
	// defaultCrashIterations is the kills per mode in the default run;
	// SPANSINK_CRASH_ITERATIONS sets it (the full run uses 50).
	defaultCrashIterations = 5
)

func crashIterations(t *testing.T) int {
	s := os.Getenv("SPANSINK_CRASH_ITERATIONS")
	if s == "" {
		return defaultCrashIterations
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("SPANSINK_CRASH_ITERATIONS must be a positive whole number, got %q", s)
	}
	return n
}

// collectorArgs are the collector flags of the crash and stop tests: small
// files (so kills land in rotations and background compression too) that
// are all kept (retention would remove spans the test looks for).
func collectorArgs(path, mode string) []string {
	return []string{
		"--path", path,
		"--delivery", mode,
		"--batch-size", strconv.Itoa(crashBatchSize),
		"--flush-interval", crashFlushInterval.String(),
		"--max-queued-spans", strconv.Itoa(crashMaxQueuedSpans),
		"--max-size", "2MiB",
		"--max-files", "0",
		"--compress", "gzip",
		"--shutdown-timeout", "30s",
	}
}

// round is one life of the collector between a start and a SIGKILL.
type round struct {
	acked    []ack
	killedAt time.Time
}

// TestCrashUnderLoad SIGKILLs the collector at random moments under load and
// restarts it on the same directory, then checks the promises of each mode:
//
//   - Durable: every acknowledged span is in the files, and was already
//     there at the moment of the kill.
//   - Batched: the spans of one life that were acknowledged and are not in
//     the files number at most batch.maxQueuedSpans, the most the collector
//     holds acknowledged and not yet written (the queue refuses more).
//   - Both: every line of every file is a JSON object, no span id appears
//     twice (the client never resends an id), and a span that was in the
//     files after a kill is still there at the end: the torn-tail repair
//     cuts only the torn line.
func TestCrashUnderLoad(t *testing.T) {
	iterations := crashIterations(t)
	for _, mode := range []string{"Durable", "Batched"} {
		t.Run(mode, func(t *testing.T) {
			crashLoop(t, mode, iterations)
		})
	}
}

func crashLoop(t *testing.T, mode string, iterations int) {
	collectorproc.Binary(t)
	seed := rand.Uint64()
	t.Logf("seed %d, %d kills", seed, iterations)
	rng := rand.New(rand.NewPCG(seed, seed))
	path := filepath.Join(t.TempDir(), "spans.jsonl")
	logFile := filepath.Join(t.TempDir(), "collector.log")
	args := collectorArgs(path, mode)
	client := newLoadClient()

	var rounds []round
	inFiles := map[uint64]bool{} // span ids seen in the files after a kill
	cache := fileCache{}
	repairs := 0
	for i := range iterations {
		p := collectorproc.Start(t, logFile, args...)
		repairs += len(p.Logged("cut a torn last line from the span file"))
		ctx, cancel := context.WithCancel(context.Background())
		loaded := make(chan struct{})
		go func() {
			defer close(loaded)
			client.run(ctx, "http://"+p.HTTPAddr, loadWorkers)
		}()
		// Some kills come at once, while the first retention and
		// compression pass runs; most come in the middle of the load.
		time.Sleep(time.Duration(rng.Int64N(int64(700 * time.Millisecond))))
		p.Kill()
		killedAt := time.Now()
		cancel()
		<-loaded
		r := round{acked: client.takeAcked(), killedAt: killedAt}
		rounds = append(rounds, r)
		t.Logf("kill %d: %d spans acknowledged, answers %v", i+1, len(r.acked), client.takeAnswers())

		files, err := readSpanFiles(path, true, cache)
		if err != nil {
			t.Fatal(err)
		}
		checkFiles(t, "after kill "+strconv.Itoa(i+1), files)
		for id := range files.count {
			inFiles[id] = true
		}
		if mode == "Durable" {
			for _, a := range r.acked {
				if files.count[a.id] == 0 {
					t.Fatalf("kill %d: span %s was acknowledged in Durable mode but is not in the files", i+1, spanIDHex(a.id))
				}
			}
		}
	}

	// One last start repairs what the last kill left; a graceful stop
	// with no load then leaves the files at rest.
	p := collectorproc.Start(t, logFile, args...)
	repairs += len(p.Logged("cut a torn last line from the span file"))
	if code := p.Terminate(time.Minute); code != 0 {
		t.Fatalf("final graceful stop exited %d, want 0", code)
	}
	final, err := readSpanFiles(path, false, cache)
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, "at the end", final)
	for id := range inFiles {
		if final.count[id] == 0 {
			t.Errorf("span %s was in the files after a kill and is gone at the end", spanIDHex(id))
		}
	}

	totalAcked, worst := 0, 0
	for i, r := range rounds {
		lost := 0
		var oldest time.Duration
		for _, a := range r.acked {
			if final.count[a.id] == 0 {
				lost++
				oldest = max(oldest, r.killedAt.Sub(a.at))
			}
		}
		totalAcked += len(r.acked)
		worst = max(worst, lost)
		switch {
		case mode == "Durable" && lost > 0:
			t.Errorf("kill %d: %d acknowledged spans lost in Durable mode", i+1, lost)
		case lost > crashMaxQueuedSpans:
			t.Errorf("kill %d: %d acknowledged spans lost, more than maxQueuedSpans (%d)", i+1, lost, crashMaxQueuedSpans)
		case lost > 0:
			t.Logf("kill %d: lost %d acknowledged spans (bound %d), acknowledged at most %s before the kill",
				i+1, lost, crashMaxQueuedSpans, oldest.Round(time.Millisecond))
		}
	}
	t.Logf("%s: %d kills, %d spans acknowledged, %d lines in the files, %d torn tails repaired, worst loss of one kill %d spans (bound %d in Batched, 0 in Durable)",
		mode, iterations, totalAcked, final.lines, repairs, worst, crashMaxQueuedSpans)
	if totalAcked == 0 {
		t.Fatal("no span was acknowledged: the test proved nothing")
	}
}

// checkFiles fails the test on invalid lines, broken names or duplicates.
func checkFiles(t *testing.T, when string, files spanFiles) {
	t.Helper()
	for _, p := range files.problems {
		t.Errorf("%s: %s", when, p)
	}
	if dups := files.duplicates(); len(dups) > 0 {
		t.Errorf("%s: %d span ids appear more than once, e.g. %v", when, len(dups), dups[:min(len(dups), 5)])
	}
	if t.Failed() {
		t.FailNow()
	}
}
