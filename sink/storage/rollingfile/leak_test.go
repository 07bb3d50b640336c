package rollingfile

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: a
// RollingFile runs its mill (retention and compression of rotated files)
// in the background, and Close must end it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
