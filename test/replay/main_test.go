// Package replay tests reading span files from an object store and
// replaying them to OTLP receivers (issue 12) end to end, with real
// servers only: SeaweedFS as the S3 store (test/s3server), Jaeger v2 as a
// trace backend (test/jaegerproc), the spansink collector binary as a
// second receiver (test/collectorproc), and the spansink binary as the
// reader, run as a user runs it. The span files are written by the
// collector's own writer and encoders (rollingfile, format).
package replay

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spansink/spansink/test/collectorproc"
)

// TestMain removes the spansink binary collectorproc builds for the run.
func TestMain(m *testing.M) { collectorproc.Main(m) }

// result is one run of the spansink binary.
type result struct {
	stdout, stderr string
	code           int
}

// spansink runs the spansink binary with args and the environment's AWS
// variables replaced by env (KEY=VALUE), so that nothing of the machine's
// AWS setup changes what the tests see.
func spansink(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := spansinkCommand(t, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	default:
		t.Fatalf("run spansink %v: %v", args, err)
	}
	return res
}

// spansinkCommand is the command spansink runs, for tests that start it
// and signal it.
func spansinkCommand(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(collectorproc.Binary(t), args...)
	cmd.Env = append(cleanEnv(), env...)
	// If the test dies, the replay dies with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// cleanEnv is the test's environment without AWS settings, and with the
// shared AWS files and the instance metadata service out of reach.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env, "AWS_CONFIG_FILE=/nonexistent/aws-config", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent/aws-credentials", "AWS_EC2_METADATA_DISABLED=true")
}

// mustSucceed fails the test unless the run exited 0.
func (r result) mustSucceed(t *testing.T, what string) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", what, r.code, r.stdout, r.stderr)
	}
	return r
}

// testContext is a context that ends with the test, or after limit.
func testContext(t *testing.T, limit time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	return ctx
}
