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

// Two runs of hack/helm.sh at once (two test packages, or a test next to
// `make helm`) build helm once, both succeed and print the same binary,
// whose directory names the version pinned in hack/tools/helm/go.mod; a
// third run finds it cached and builds nothing.
func TestHelmScriptBuildsOnceWhenRunConcurrently(t *testing.T) {
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("flock (util-linux) is not installed")
	}
	tools := t.TempDir()
	if err := os.WriteFile(filepath.Join(tools, "go"), []byte(fakeGo), 0o755); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	buildLog := filepath.Join(t.TempDir(), "builds")
	script, err := filepath.Abs("helm.sh")
	if err != nil {
		t.Fatal(err)
	}
	runScript := func() (string, string, error) {
		cmd := exec.Command(script)
		cmd.Env = append(os.Environ(),
			"PATH="+tools+string(os.PathListSeparator)+os.Getenv("PATH"),
			"SPANSINK_CACHE_DIR="+cache,
			"FAKE_GO_LOG="+buildLog)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return lines[len(lines)-1], stderr.String(), err
	}

	const runs = 2
	var wg sync.WaitGroup
	paths := make([]string, runs)
	stderrs := make([]string, runs)
	errs := make([]error, runs)
	for i := range runs {
		wg.Go(func() { paths[i], stderrs[i], errs[i] = runScript() })
	}
	wg.Wait()
	for i := range runs {
		if errs[i] != nil {
			t.Fatalf("run %d failed: %v\n%s", i, errs[i], stderrs[i])
		}
	}
	if paths[0] != paths[1] {
		t.Errorf("the runs print different binaries: %q and %q", paths[0], paths[1])
	}
	want := filepath.Join(cache, "tools", "helm-"+pinnedHelmVersion(t), "helm")
	if paths[0] != want {
		t.Errorf("helm at %q, want %q", paths[0], want)
	}
	if info, err := os.Stat(paths[0]); err != nil || info.Mode()&0o111 == 0 {
		t.Errorf("no executable helm at %s: %v", paths[0], err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(paths[0]), "*.tmp")); len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}

	path, stderr, err := runScript()
	if err != nil || path != want {
		t.Fatalf("a cached run printed %q (%v), want %q:\n%s", path, err, want, stderr)
	}
	builds, err := os.ReadFile(buildLog)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(builds), "\n"); n != 1 {
		t.Errorf("helm was built %d times, want once:\n%s", n, builds)
	}
}

// pinnedHelmVersion is the version of helm.sh/helm/v3 that
// hack/tools/helm/go.mod requires.
func pinnedHelmVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("tools", "helm", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if fields := strings.Fields(line); len(fields) >= 2 && fields[0] == "helm.sh/helm/v3" {
			return fields[1]
		}
	}
	t.Fatal("hack/tools/helm/go.mod requires no helm.sh/helm/v3")
	return ""
}
