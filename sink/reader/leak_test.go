package reader

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: a
// scan reads and decodes blocks in goroutines of its own, and a Follower
// polls its file until its context ends; neither may leave one behind
// when it returns.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
