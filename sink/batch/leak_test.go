package batch

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: a
// Batcher runs a flusher and one writer per storage, and Close must end
// them all.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
