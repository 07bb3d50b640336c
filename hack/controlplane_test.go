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

// fakeGo stands in for the Go toolchain at the process boundary: it records
// each build, holds it open for a second so that concurrent runs overlap,
// and writes an executable where -o says.
const fakeGo = `#!/usr/bin/env bash
set -euo pipefail
out=
while [ $# -gt 0 ]; do
  if [ "$1" = -o ]; then out=$2; shift; fi
  shift
done
echo "$out" >> "$FAKE_GO_LOG"
sleep 1
printf '#!/bin/sh\n' > "$out"
chmod +x "$out"
`

// Two runs of hack/control-plane.sh at once must build a component once,
// both succeed, and both print the same binary directory.
func TestControlPlaneScriptBuildsOnceWhenRunConcurrently(t *testing.T) {
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("flock (util-linux) is not installed")
	}
	tools := t.TempDir()
	if err := os.WriteFile(filepath.Join(tools, "go"), []byte(fakeGo), 0o755); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	buildLog := filepath.Join(t.TempDir(), "builds")
	script, err := filepath.Abs(filepath.Join("control-plane.sh"))
	if err != nil {
		t.Fatal(err)
	}

	const runs = 2
	var wg sync.WaitGroup
	outs := make([]string, runs)
	errs := make([]error, runs)
	stderrs := make([]bytes.Buffer, runs)
	for i := range runs {
		wg.Go(func() {
			cmd := exec.Command(script, "etcd")
			cmd.Env = append(os.Environ(),
				"PATH="+tools+string(os.PathListSeparator)+os.Getenv("PATH"),
				"SPANSINK_CACHE_DIR="+cache,
				"FAKE_GO_LOG="+buildLog)
			cmd.Stderr = &stderrs[i]
			out, err := cmd.Output()
			outs[i], errs[i] = string(out), err
		})
	}
	wg.Wait()

	var dirs []string
	for i := range runs {
		if errs[i] != nil {
			t.Fatalf("run %d failed: %v\n%s", i, errs[i], stderrs[i].String())
		}
		lines := strings.Split(strings.TrimSpace(outs[i]), "\n")
		dirs = append(dirs, lines[len(lines)-1])
	}
	if dirs[0] != dirs[1] {
		t.Errorf("the runs print different directories: %q and %q", dirs[0], dirs[1])
	}
	builds, err := os.ReadFile(buildLog)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(builds), "\n"); n != 1 {
		t.Errorf("etcd was built %d times, want once:\n%s", n, builds)
	}
	if info, err := os.Stat(filepath.Join(dirs[0], "etcd")); err != nil || info.Mode()&0o111 == 0 {
		t.Errorf("no executable etcd in %s: %v", dirs[0], err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dirs[0], "*.tmp")); len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}
