package rollingfile

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/spansink/spansink/sink/spanfile"
)

// The hooks an uploader relies on: which files are sealed, a rotation
// forced by the age of the first line, retention that keeps what the store
// has not confirmed, and a wake-up after every mill pass.

func sealedNames(t *testing.T, f *RollingFile) []string {
	t.Helper()
	sealed, err := f.Sealed()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range sealed {
		names = append(names, s.Name)
	}
	return names
}

func TestSealedListsFinalFormsOldestFirst(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := &fakeClock{now: day1}
	f := newFile(t, dir, clock)
	f.MaxSize = 50
	mustWrite(t, f, lines("a", 2))
	mustWrite(t, f, lines("b", 2)) // rotates a to spans_2031-03-14.jsonl
	mustWrite(t, f, lines("c", 2)) // rotates b to .1
	if got, want := sealedNames(t, f), []string{"spans_2031-03-14.jsonl", "spans_2031-03-14.1.jsonl"}; !slices.Equal(got, want) {
		t.Fatalf("sealed without compression = %v, want %v", got, want)
	}

	// With compression on, a plain rotated file waits for its compressed
	// twin, and a twin still being written is not sealed either.
	rot := f.Rotation()
	rot.Compression = spanfile.Zstd
	f.SetRotation(rot)
	eventuallyFiles(t, dir, []string{"spans.jsonl", "spans_2031-03-14.jsonl.zst", "spans_2031-03-14.1.jsonl.zst"})
	if err := os.WriteFile(filepath.Join(dir, "spans_2031-03-15.jsonl"), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "spans_2031-03-15.jsonl.zst.tmp"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, want := sealedNames(t, f), []string{"spans_2031-03-14.jsonl.zst", "spans_2031-03-14.1.jsonl.zst"}; !slices.Equal(got, want) {
		t.Fatalf("sealed with compression = %v, want %v", got, want)
	}
	mustClose(t, f)
}

func TestRotateOlderThan(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := &fakeClock{now: day1.Add(-time.Hour)}
	f := newFile(t, dir, clock)
	if err := f.Open(); err != nil {
		t.Fatal(err)
	}
	if rotated, err := f.RotateOlderThan(time.Minute); err != nil || rotated {
		t.Fatalf("an empty file rotated: %v, %v", rotated, err)
	}
	mustWrite(t, f, lines("a", 1))
	clock.Set(clock.Now().Add(30 * time.Second))
	mustWrite(t, f, lines("b", 1))
	if rotated, _ := f.RotateOlderThan(time.Minute); rotated {
		t.Fatal("rotated before the first line was a minute old")
	}
	clock.Set(clock.Now().Add(31 * time.Second))
	if rotated, err := f.RotateOlderThan(time.Minute); err != nil || !rotated {
		t.Fatalf("did not rotate a file whose first line is 61s old: %v, %v", rotated, err)
	}
	if got := readFile(t, filepath.Join(dir, "spans_2031-03-14.jsonl")); got != joined(lines("a", 1))+joined(lines("b", 1)) {
		t.Fatalf("rotated file holds %q", got)
	}
	// The fresh file's clock starts with its own first line.
	mustWrite(t, f, lines("c", 1))
	if rotated, _ := f.RotateOlderThan(time.Minute); rotated {
		t.Fatal("rotated the fresh file at once")
	}
	if got := testutil.ToFloat64(f.Metrics.rotations.WithLabelValues(reasonMaxDelay)); got != 1 {
		t.Fatalf("maxDelay rotations = %v, want 1", got)
	}
	mustClose(t, f)
}

func TestRetentionKeepsWhatIsNotRemovable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := &fakeClock{now: day1}
	f := newFile(t, dir, clock)
	f.MaxSize = 50
	var mu sync.Mutex
	shipped := map[string]bool{}
	f.Removable = func(name string) bool {
		mu.Lock()
		defer mu.Unlock()
		return shipped[name]
	}
	passes := make(chan struct{}, 100)
	f.AfterMill = func() { passes <- struct{}{} }
	for _, p := range []string{"a", "b", "c", "d"} {
		mustWrite(t, f, lines(p, 2)) // 40 bytes each: every write rotates the one before
	}
	// passAfter waits for a whole mill pass that starts after it is called.
	passAfter := func(start func()) {
		for len(passes) > 0 {
			<-passes
		}
		start()
		<-passes
		// The wake-up may have found a pass running; the one after it
		// surely sees the change.
		start()
		<-passes
	}
	// One file at most, but none shipped: all three rotated files stay.
	rot := f.Rotation()
	rot.MaxFiles = 1
	passAfter(func() { f.SetRotation(rot) })
	if got, want := listDir(t, dir), []string{"spans.jsonl", "spans_2031-03-14.1.jsonl", "spans_2031-03-14.2.jsonl", "spans_2031-03-14.jsonl"}; !slices.Equal(got, want) {
		t.Fatalf("retention removed a file not shipped: %v, want %v", got, want)
	}

	mu.Lock()
	shipped["spans_2031-03-14.jsonl"] = true
	mu.Unlock()
	f.SetRotation(rot) // wakes the mill
	eventuallyFiles(t, dir, []string{"spans.jsonl", "spans_2031-03-14.1.jsonl", "spans_2031-03-14.2.jsonl"})
	mustClose(t, f)
}

func TestRetentionByTotalSize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := &fakeClock{now: day1}
	f := newFile(t, dir, clock)
	f.MaxSize = 50
	for _, p := range []string{"a", "b", "c", "d", "e"} {
		mustWrite(t, f, lines(p, 2)) // 40 bytes a file
	}
	// Five files of 40 bytes: at most 130 keeps the active one and the two
	// newest rotated ones.
	rot := f.Rotation()
	rot.MaxTotalSize = 130
	f.SetRotation(rot)
	eventuallyFiles(t, dir, []string{"spans.jsonl", "spans_2031-03-14.2.jsonl", "spans_2031-03-14.3.jsonl"})
	for _, name := range listDir(t, dir) {
		if strings.HasPrefix(name, "spans_") && !strings.HasSuffix(name, ".2.jsonl") && !strings.HasSuffix(name, ".3.jsonl") {
			t.Errorf("kept %s", name)
		}
	}
	mustClose(t, f)
}
