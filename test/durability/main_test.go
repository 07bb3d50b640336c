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
	"testing"

	"github.com/spansink/spansink/test/collectorproc"
)

// TestMain removes the spansink binary collectorproc builds for the run.
func TestMain(m *testing.M) { collectorproc.Main(m) }
