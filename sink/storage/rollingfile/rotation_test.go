package rollingfile

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/spansink/spansink/sink/spanfile"
)

// eventuallyFiles waits until dir holds exactly want, the mill working in
// the background.
func eventuallyFiles(t *testing.T, dir string, want []string) {
	t.Helper()
	slices.Sort(want)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := listDir(t, dir)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("files = %v\nwant %v", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSetRotationSizeAppliesToTheNextWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := newFile(t, dir, &fakeClock{now: day1})
	mustWrite(t, f, lines("a", 4)) // 80 bytes, no size limit yet
	rot := f.Rotation()
	rot.MaxSize = 50
	f.SetRotation(rot)
	mustWrite(t, f, lines("b", 1)) // over the new limit: rotate first
	mustWrite(t, f, lines("c", 1))
	mustWrite(t, f, lines("d", 1)) // 60 bytes would pass 50: rotate again
	rot.MaxSize = 0
	f.SetRotation(rot)
	mustWrite(t, f, lines("e", 10)) // size rotation off again
	mustClose(t, f)

	want := map[string]string{
		"spans_2031-03-14.jsonl":   joined(lines("a", 4)),
		"spans_2031-03-14.1.jsonl": joined(lines("b", 1)) + joined(lines("c", 1)),
		"spans.jsonl":              joined(lines("d", 1)) + joined(lines("e", 10)),
	}
	for name, content := range want {
		if got := readFile(t, filepath.Join(dir, name)); got != content {
			t.Errorf("%s holds %q, want %q", name, got, content)
		}
	}
	if got := testutil.ToFloat64(f.Metrics.rotations.WithLabelValues(reasonSize)); got != 2 {
		t.Fatalf("size rotations = %v, want 2", got)
	}
}

func TestSetRotationDailyAndZone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := &fakeClock{now: day1}
	f := newFile(t, dir, clock)
	rot := f.Rotation()
	rot.Daily = false
	f.SetRotation(rot)
	mustWrite(t, f, lines("a", 1))
	clock.Set(day1.Add(time.Hour)) // the next UTC day
	mustWrite(t, f, lines("b", 1))
	if got := listDir(t, dir); !slices.Equal(got, []string{"spans.jsonl"}) {
		t.Fatalf("rolled over with daily off: %v", got)
	}
	// Daily on again, days judged 3 hours behind UTC: still the 14th there,
	// so no roll; then past midnight there, a roll.
	rot.Daily, rot.Location = true, time.FixedZone("UTC-3", -3*3600)
	f.SetRotation(rot)
	mustWrite(t, f, lines("c", 1))
	if got := listDir(t, dir); !slices.Equal(got, []string{"spans.jsonl"}) {
		t.Fatalf("rolled over before midnight in the new zone: %v", got)
	}
	clock.Set(day1.Add(4 * time.Hour))
	mustWrite(t, f, lines("d", 1))
	mustClose(t, f)
	if got := readFile(t, filepath.Join(dir, "spans_2031-03-14.jsonl")); got != joined(lines("a", 1))+joined(lines("b", 1))+joined(lines("c", 1)) {
		t.Fatalf("rotated file holds %q", got)
	}
}

func TestSetRotationRetentionAndCompressionApplyAtOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	existing := []string{"spans_2031-03-10.jsonl", "spans_2031-03-12.jsonl", "spans_2031-03-13.jsonl"}
	for _, name := range existing {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("{}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := newFile(t, dir, &fakeClock{now: day1})
	mustOpen(t, f)
	eventuallyFiles(t, dir, append([]string{"spans.jsonl"}, existing...))
	rot := f.Rotation()
	rot.MaxFiles = 2
	f.SetRotation(rot)
	eventuallyFiles(t, dir, []string{"spans.jsonl", "spans_2031-03-12.jsonl", "spans_2031-03-13.jsonl"})
	rot.Compression = spanfile.Gzip
	f.SetRotation(rot)
	eventuallyFiles(t, dir, []string{"spans.jsonl", "spans_2031-03-12.jsonl.gz", "spans_2031-03-13.jsonl.gz"})
	rot.MaxAge = 24 * time.Hour
	f.SetRotation(rot)
	eventuallyFiles(t, dir, []string{"spans.jsonl", "spans_2031-03-13.jsonl.gz"})
	mustClose(t, f)
	if got := f.Rotation(); got.MaxFiles != 2 || got.Compression != spanfile.Gzip || got.MaxAge != 24*time.Hour {
		t.Fatalf("rotation in force = %+v", got)
	}
}
