package hack

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// hack/otelcol.sh, run twice at once (two `make bench-peer`), compiles the
// OpenTelemetry Collector once into a directory named for the release that
// hack/tools/otelcol/go.mod pins, and both runs print that binary; a later
// run finds it cached. The go on PATH is a fake that only records builds.
func TestOtelcolScriptBuildsOnceWhenRunConcurrently(t *testing.T) {
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("flock (util-linux) is not installed")
	}
	tools := t.TempDir()
	if err := os.WriteFile(filepath.Join(tools, "go"), []byte(fakeGo), 0o755); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	buildLog := filepath.Join(t.TempDir(), "builds")
	script, err := filepath.Abs("otelcol.sh")
	if err != nil {
		t.Fatal(err)
	}
	run := func() (path, stderr string, err error) {
		cmd := exec.Command(script)
		cmd.Env = append(os.Environ(),
			"PATH="+tools+string(os.PathListSeparator)+os.Getenv("PATH"),
			"SPANSINK_CACHE_DIR="+cache,
			"FAKE_GO_LOG="+buildLog)
		var errOut bytes.Buffer
		cmd.Stderr = &errOut
		out, err := cmd.Output()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return lines[len(lines)-1], errOut.String(), err
	}

	var wg sync.WaitGroup
	var paths, stderrs [2]string
	var errs [2]error
	for i := range paths {
		wg.Go(func() { paths[i], stderrs[i], errs[i] = run() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, stderrs[i])
		}
	}
	if paths[0] != paths[1] {
		t.Errorf("the runs print different binaries: %q and %q", paths[0], paths[1])
	}
	dir := filepath.Base(filepath.Dir(paths[0]))
	if want := "otelcol-" + pinnedModuleVersion(t, "otelcol", "go.opentelemetry.io/collector/otelcol") + "-"; !strings.HasPrefix(dir, want) ||
		filepath.Dir(filepath.Dir(paths[0])) != filepath.Join(cache, "tools") {
		t.Errorf("binary at %s, want it in %s/tools/%s<digest>", paths[0], cache, want)
	}
	if info, err := os.Stat(paths[0]); err != nil || info.Mode()&0o111 == 0 {
		t.Errorf("no executable at %s: %v", paths[0], err)
	}

	path, stderr, err := run()
	if err != nil || path != paths[0] {
		t.Fatalf("a cached run printed %q (%v), want %q:\n%s", path, err, paths[0], stderr)
	}
	builds, err := os.ReadFile(buildLog)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(builds), "\n"); n != 1 {
		t.Errorf("otelcol was built %d times, want once:\n%s", n, builds)
	}
}

// pinnedModuleVersion is the version of module that hack/tools/<tool>/go.mod
// requires.
func pinnedModuleVersion(t *testing.T, tool, module string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("tools", tool, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if fields := strings.Fields(line); len(fields) >= 2 && fields[0] == module {
			return fields[1]
		}
	}
	t.Fatalf("hack/tools/%s/go.mod requires no %s", tool, module)
	return ""
}
