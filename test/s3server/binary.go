package s3server

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// BinDirEnv names the directory that holds the test servers' binaries, the
// last line hack/test-servers.sh prints. CI sets it once for every package;
// without it the first Start of a test process runs the script itself, which
// builds `weed` from the Go module proxy the first time (minutes) and answers
// from its cache after that.
const BinDirEnv = "SPANSINK_TEST_SERVERS_BIN"

var (
	binMu   sync.Mutex
	binPath string // the weed binary, "" until found
	binErr  error  // a failed build, reported to every later caller
)

// Binary returns the path of the `weed` binary: $SPANSINK_TEST_SERVERS_BIN/weed,
// or the one hack/test-servers.sh builds or finds cached. It never skips: a
// test that needs the S3 server either gets it or fails with the reason.
func Binary() (string, error) {
	binMu.Lock()
	defer binMu.Unlock()
	if binPath != "" || binErr != nil {
		return binPath, binErr
	}
	binPath, binErr = findBinary("weed", "seaweedfs")
	return binPath, binErr
}

// findBinary looks for name in $SPANSINK_TEST_SERVERS_BIN or, when that is
// unset, runs `hack/test-servers.sh component` and looks in the directory it
// prints. (test/jaegerproc has the same function: the two packages are
// independent test libraries and share no helper package.)
func findBinary(name, component string) (string, error) {
	if dir := os.Getenv(BinDirEnv); dir != "" {
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("%s=%s has no %s (run hack/test-servers.sh %s): %w", BinDirEnv, dir, name, component, err)
		}
		return path, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	script := filepath.Join(root, "hack", "test-servers.sh")
	cmd := exec.Command(script, component)
	// The script's progress (a line every 30 s while compiling) goes to the
	// test's stderr so that a cold build does not look like a hung test.
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s (or set %s): %w", script, component, BinDirEnv, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	path := filepath.Join(lines[len(lines)-1], name)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%s %s printed %q, which has no %s: %w", script, component, lines[len(lines)-1], name, err)
	}
	return path, nil
}

// repoRoot is the checkout this package was compiled from: two directories
// up from this source file, or else the first parent of the working
// directory (a test's package directory) that holds hack/test-servers.sh.
func repoRoot() (string, error) {
	isRoot := func(dir string) bool {
		_, err := os.Stat(filepath.Join(dir, "hack", "test-servers.sh"))
		return err == nil
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		if dir := filepath.Join(filepath.Dir(file), "..", ".."); isRoot(dir) {
			return filepath.Clean(dir), nil
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isRoot(dir) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find hack/test-servers.sh above the working directory; set " + BinDirEnv)
		}
		dir = parent
	}
}

// tail returns the last n bytes of the file at path, for error messages that
// should say why a server did not come up without dumping a whole log.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}
