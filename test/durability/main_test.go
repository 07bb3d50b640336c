// Package durability runs the real spansink collector binary and tries to
// break its delivery promises: it SIGKILLs it under load, stops it with
// SIGTERM under load, fills its disk, and measures Durable mode's
// acknowledgement latency. What each mode promises is written down in
// docs/guarantees.md; these tests are the proof.
//
// The default run is short (a few kills per mode). The long run is
//
//	SPANSINK_CRASH_ITERATIONS=50 go test ./test/durability/ -run Crash -v
//
// or `make durability`. The full-disk test mounts a 2 MiB tmpfs and so needs
// root (CI runs as root); elsewhere it skips and says why.
package durability

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// spansinkPath is the spansink binary built once for the whole test run.
var spansinkPath string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "spansink-durability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "make a temp dir for the spansink binary:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	spansinkPath = filepath.Join(dir, "spansink")
	return m.Run()
}

// spansinkBinary builds the binary the first time a test needs it, so that a
// run of only unrelated tests (or -short) does not pay for the build.
func spansinkBinary(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("builds and runs the spansink binary; not in -short")
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if !built {
		out, err := exec.Command("go", "build", "-o", spansinkPath, "github.com/spansink/spansink").CombinedOutput()
		if err != nil {
			tb.Fatalf("build spansink: %v\n%s", err, out)
		}
		built = true
	}
	return spansinkPath
}
