package collectorproc

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spansink/spansink/cmd/collector"
)

// executable is what /proc says a process runs, and whether spansink
// itself is still mapped into it.
func executable(t *testing.T, pid int, spansink string) (string, bool) {
	t.Helper()
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		t.Fatal(err)
	}
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	mapped := false
	for _, line := range strings.Split(string(maps), "\n") {
		if strings.HasSuffix(line, " "+spansink) {
			mapped = true
		}
	}
	return exe, mapped
}

// `spansink collector` replaces itself with the collector's own binary
// beside it: the process it started, same pid, runs that file and no
// longer maps spansink, whose operator code the collector does not need.
func TestCollectorRunsItsOwnBinary(t *testing.T) {
	dir := t.TempDir()
	spansink := Binary(t)
	p := Start(t, filepath.Join(dir, "collector.log"), "--path", filepath.Join(dir, "spans.jsonl"))
	exe, mapped := executable(t, p.PID(), spansink)
	if want := filepath.Join(filepath.Dir(spansink), collector.BinaryName); exe != want {
		t.Errorf("the collector runs %s, want %s", exe, want)
	}
	if mapped {
		t.Errorf("the collector still maps %s", spansink)
	}
}

// Without its own binary beside it (`go run .`, spansink copied alone),
// spansink runs the collector in its own process.
func TestCollectorRunsInProcessWithoutItsOwnBinary(t *testing.T) {
	dir := t.TempDir()
	alone := filepath.Join(dir, "spansink")
	copyFile(t, Binary(t), alone)
	p, err := launch(t, alone, filepath.Join(dir, "collector.log"), "--path", filepath.Join(dir, "spans.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if exe, _ := executable(t, p.PID(), alone); exe != alone {
		t.Errorf("the collector runs %s, want %s itself", exe, alone)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestMain removes the binaries the tests build.
func TestMain(m *testing.M) { Main(m) }
