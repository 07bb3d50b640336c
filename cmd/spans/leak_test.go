package spans

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: `tail
// -f` runs a follower until its context ends, and the scans under `list`,
// `tree` and `stats` read and decode in goroutines of their own; none may
// outlive the command. The benchmark files go last, whatever the result.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		removeBenchFiles()
		os.Exit(code)
	}))
}
