package hack

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeGo stands in for the Go toolchain at the process boundary: it records
// each build with its ldflags, holds it open for a second so that
// concurrent runs overlap, and writes an executable where -o says, or fails
// without writing one when FAKE_GO_FAIL is set.
const fakeGo = `#!/usr/bin/env bash
set -euo pipefail
out= ldflags=
while [ $# -gt 0 ]; do
  case "$1" in
    -o) out=$2; shift ;;
    -ldflags=*) ldflags=${1#-ldflags=} ;;
  esac
  shift
done
echo "$out $ldflags" >> "$FAKE_GO_LOG"
sleep 1
if [ -n "${FAKE_GO_FAIL:-}" ]; then
  echo "fake go: build failed" >&2
  exit 1
fi
printf '#!/bin/sh\n' > "$out"
chmod +x "$out"
`

// cachedBuildScript is one of the hack/*.sh scripts that build a pinned
// program through hack/lib/cached-build.sh.
type cachedBuildScript struct {
	script string
	args   []string
	// binary is the built program's path, given the cache root and the
	// last line the script printed.
	binary func(t *testing.T, cache, printed string) string
}

var cachedBuildScripts = []cachedBuildScript{
	{"control-plane.sh", []string{"etcd"}, func(t *testing.T, cache, printed string) string {
		return filepath.Join(printed, "etcd")
	}},
	{"test-servers.sh", []string{"jaeger"}, func(t *testing.T, cache, printed string) string {
		return filepath.Join(printed, "jaeger")
	}},
	{"helm.sh", nil, func(t *testing.T, cache, printed string) string {
		return filepath.Join(cache, "tools", "helm-"+pinnedModuleVersion(t, "helm", "helm.sh/helm/v3"), "helm")
	}},
	{"otelcol.sh", nil, func(t *testing.T, cache, printed string) string {
		// The directory ends in a digest of the module's files.
		dir := filepath.Base(filepath.Dir(printed))
		if want := "otelcol-" + pinnedModuleVersion(t, "otelcol", "go.opentelemetry.io/collector/otelcol") + "-"; !strings.HasPrefix(dir, want) {
			t.Errorf("otelcol built into %s, want a directory named %s<digest>", dir, want)
		}
		return filepath.Join(cache, "tools", dir, "otelcol")
	}},
}

// scriptRunner runs script with a fake go on PATH and its own cache root,
// and returns the last line it printed on stdout and what it printed on
// stderr.
func scriptRunner(t *testing.T, s cachedBuildScript, env ...string) (run func() (string, string, error), cache, buildLog string) {
	t.Helper()
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("flock (util-linux) is not installed")
	}
	tools := t.TempDir()
	if err := os.WriteFile(filepath.Join(tools, "go"), []byte(fakeGo), 0o755); err != nil {
		t.Fatal(err)
	}
	cache = t.TempDir()
	buildLog = filepath.Join(t.TempDir(), "builds")
	script, err := filepath.Abs(s.script)
	if err != nil {
		t.Fatal(err)
	}
	run = func() (string, string, error) {
		cmd := exec.Command(script, s.args...)
		cmd.Env = append(os.Environ(),
			"PATH="+tools+string(os.PathListSeparator)+os.Getenv("PATH"),
			"SPANSINK_CACHE_DIR="+cache,
			"FAKE_GO_LOG="+buildLog)
		cmd.Env = append(cmd.Env, env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return lines[len(lines)-1], stderr.String(), err
	}
	return run, cache, buildLog
}

func buildsLogged(t *testing.T, buildLog string) []string {
	t.Helper()
	data, err := os.ReadFile(buildLog)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// Two runs of a build script at once (two test packages, e2e next to
// envtest, two `make bench-peer`) build the program once, both succeed and
// print the same place, where an executable is and no temporary file is
// left; a third run finds it cached and builds nothing.
func TestBuildScriptsBuildOnceWhenRunConcurrently(t *testing.T) {
	for _, s := range cachedBuildScripts {
		t.Run(s.script, func(t *testing.T) {
			t.Parallel()
			run, cache, buildLog := scriptRunner(t, s)
			const runs = 2
			var wg sync.WaitGroup
			printed := make([]string, runs)
			stderrs := make([]string, runs)
			errs := make([]error, runs)
			for i := range runs {
				wg.Go(func() { printed[i], stderrs[i], errs[i] = run() })
			}
			wg.Wait()
			for i := range runs {
				if errs[i] != nil {
					t.Fatalf("run %d failed: %v\n%s", i, errs[i], stderrs[i])
				}
			}
			if printed[0] != printed[1] {
				t.Errorf("the runs print different places: %q and %q", printed[0], printed[1])
			}
			bin := s.binary(t, cache, printed[0])
			if info, err := os.Stat(bin); err != nil || info.Mode()&0o111 == 0 {
				t.Errorf("no executable at %s: %v", bin, err)
			}
			if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(bin), "*.tmp")); len(leftovers) > 0 {
				t.Errorf("temporary files left behind: %v", leftovers)
			}
			if !strings.Contains(stderrs[0]+stderrs[1], "built by another run") {
				t.Errorf("neither run waited for the other:\n%s\n%s", stderrs[0], stderrs[1])
			}

			again, stderr, err := run()
			if err != nil || again != printed[0] {
				t.Fatalf("a cached run printed %q (%v), want %q:\n%s", again, err, printed[0], stderr)
			}
			if !strings.Contains(stderr, "cached in") {
				t.Errorf("a cached run does not say so:\n%s", stderr)
			}
			if builds := buildsLogged(t, buildLog); len(builds) != 1 || !strings.HasPrefix(builds[0], bin+".tmp ") {
				t.Errorf("builds = %q, want one into %s.tmp", builds, bin)
			}
		})
	}
}

// A build that fails makes the script fail and leaves no binary behind, so
// that the next run builds again instead of taking a broken one as cached.
func TestBuildScriptsFailWithTheBuild(t *testing.T) {
	for _, s := range cachedBuildScripts {
		t.Run(s.script, func(t *testing.T) {
			t.Parallel()
			run, cache, buildLog := scriptRunner(t, s, "FAKE_GO_FAIL=1")
			_, stderr, err := run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("a failed build exits with %v, want a non-zero exit:\n%s", err, stderr)
			}
			if !strings.Contains(stderr, "fake go: build failed") {
				t.Errorf("the build's error is not passed on:\n%s", stderr)
			}
			built := buildsLogged(t, buildLog)
			bin := strings.TrimSuffix(strings.Fields(built[0])[0], ".tmp")
			if !strings.HasPrefix(bin, cache) {
				t.Fatalf("built into %s, outside the cache %s", bin, cache)
			}
			if _, err := os.Stat(bin); !os.IsNotExist(err) {
				t.Errorf("a failed build left %s: %v", bin, err)
			}
		})
	}
}

// helm's version is stamped into the binary the way helm's own Makefile
// does; without it `helm version` says only the minor version.
func TestHelmBuildStampsItsVersion(t *testing.T) {
	run, _, buildLog := scriptRunner(t, cachedBuildScripts[2])
	if _, stderr, err := run(); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	want := "-X helm.sh/helm/v3/internal/version.version=" + pinnedModuleVersion(t, "helm", "helm.sh/helm/v3")
	if builds := buildsLogged(t, buildLog); !strings.HasSuffix(builds[0], want) {
		t.Errorf("helm built with %q, want ldflags ending in %q", builds[0], want)
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
