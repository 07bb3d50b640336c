package filewatch

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

// run starts a watcher of dir with the given poll interval and returns the
// triggers it calls back with, and a function that stops it and waits.
func run(t *testing.T, dir string, poll time.Duration) (<-chan string, func()) {
	t.Helper()
	triggers := make(chan string, 100)
	stop, done := make(chan struct{}), make(chan struct{})
	w := Start([]string{dir, dir}, "test files", logr.Discard())
	go func() {
		defer close(done)
		w.Run(poll, stop, func(trigger string) { triggers <- trigger })
	}()
	return triggers, func() { close(stop); <-done }
}

func next(t *testing.T, triggers <-chan string, within time.Duration) string {
	t.Helper()
	select {
	case tr := <-triggers:
		return tr
	case <-time.After(within):
		t.Fatalf("no call within %s", within)
		return ""
	}
}

// A kubelet-style update (a new directory, then the ..data link swapped
// by a rename) is one watch call after the burst of events settles.
func TestSymlinkSwapIsOneWatchCall(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []string{"..v1", "..v2"} {
		if err := os.Mkdir(filepath.Join(dir, v), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("..v1", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	triggers, stop := run(t, dir, time.Hour)
	defer stop()

	if err := os.Symlink("..v2", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if tr := next(t, triggers, 2*time.Second); tr != TriggerWatch {
		t.Fatalf("trigger %q, want %q", tr, TriggerWatch)
	}
	select {
	case tr := <-triggers:
		t.Fatalf("a second call (%q) for one update", tr)
	case <-time.After(5 * SettleDelay):
	}
}

// Without events the files are still read every poll interval, and a
// directory that cannot be watched falls back to the poll alone.
func TestPollCalls(t *testing.T) {
	for name, dir := range map[string]string{
		"watched directory":     t.TempDir(),
		"unwatchable directory": filepath.Join(t.TempDir(), "missing"),
	} {
		t.Run(name, func(t *testing.T) {
			triggers, stop := run(t, dir, 20*time.Millisecond)
			defer stop()
			for range 3 {
				if tr := next(t, triggers, 2*time.Second); tr != TriggerPoll {
					t.Fatalf("trigger %q, want %q", tr, TriggerPoll)
				}
			}
		})
	}
}
