// Package abuse runs the real spansink collector binary and attacks it the
// way a misbehaving client on the network could (issue 9): slow bodies,
// stalled gRPC streams, oversized headers and metadata. Each test states
// the memory the process may reach, reads it from /proc/<pid>/status, and
// checks that a well-behaved client keeps getting its spans stored during
// the attack. Everything runs on loopback and needs no root.
package abuse

import (
	"testing"

	"github.com/spansink/spansink/test/collectorproc"
)

// TestMain removes the spansink binary collectorproc builds for the run.
func TestMain(m *testing.M) { collectorproc.Main(m) }
