package collectorproc

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildMu  sync.Mutex
	buildDir string // holds the binary; made on the first build
	built    string // path of the built binary, "" until built
	buildErr error  // a failed build, reported to every later caller
)

// Main runs the tests of a package that uses this one and removes the
// binary built for them; call it from TestMain:
//
//	func TestMain(m *testing.M) { collectorproc.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	buildMu.Lock()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	buildMu.Unlock()
	os.Exit(code)
}

// Binary returns the path of the spansink binary, with spansink-collector
// beside it (see collector.BinaryName), building them the first time
// a test of this process asks, so that a run of only unrelated tests does not
// pay for the build. Under -short it skips the test: running the binary is
// slow by the standard of unit tests.
func Binary(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("builds and runs the spansink binary; not in -short")
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if built != "" {
		return built
	}
	if buildErr != nil {
		// One failed build is enough: rebuilding for every test of a
		// run would repeat the same compile error for minutes.
		tb.Fatal(buildErr)
	}
	dir, err := os.MkdirTemp("", "spansink-bin-")
	if err != nil {
		tb.Fatalf("make a temp dir for the spansink binary: %v", err)
	}
	buildDir = dir
	// The collector's own binary goes beside spansink, as in the image, so
	// that `spansink collector` runs it.
	for _, pkg := range []string{"github.com/spansink/spansink", "github.com/spansink/spansink/cmd/spansink-collector"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, path.Base(pkg)), pkg).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build %s: %w\n%s", pkg, err, out)
			tb.Fatal(buildErr)
		}
	}
	built = filepath.Join(dir, "spansink")
	return built
}
