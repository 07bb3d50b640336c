package collector

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: Run
// serves OTLP/gRPC, OTLP/HTTP and the admin port, watches the config and
// runs the uploader in goroutines, and the command adds signal handlers;
// every one must end when Run and the command return.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
