// Package testservers finds the binaries of the real third-party servers
// tests run (SeaweedFS's weed, Jaeger), which hack/test-servers.sh builds
// from the Go module proxy into a cache outside the checkout, for the
// harness packages test/s3server and test/jaegerproc.
package testservers

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
// without it the first test that needs a server runs the script itself,
// which builds the server from the Go module proxy the first time (minutes)
// and answers from its cache after that.
const BinDirEnv = "SPANSINK_TEST_SERVERS_BIN"

var (
	mu    sync.Mutex
	found = map[string]result{} // by binary name
)

type result struct {
	path string
	err  error // a failed build, reported to every later caller
}

// Binary returns the path of the binary name, which
// `hack/test-servers.sh component` builds: $SPANSINK_TEST_SERVERS_BIN/name,
// or the one the script builds or finds cached. It never skips: a test that
// needs the server either gets it or fails with the reason.
func Binary(name, component string) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if r, ok := found[name]; ok {
		return r.path, r.err
	}
	path, err := find(name, component)
	found[name] = result{path, err}
	return path, err
}

// find looks for name in $SPANSINK_TEST_SERVERS_BIN or, when that is
// unset, runs `hack/test-servers.sh component` and looks in the directory it
// prints.
func find(name, component string) (string, error) {
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

// Tail returns the last n bytes of the file at path, for error messages that
// should say why a server did not come up without dumping a whole log.
func Tail(path string, n int) string {
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
