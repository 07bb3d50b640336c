package rollingfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// faultyFS is the real file system with faults injected at its boundary:
// what a full disk (ENOSPC after part of a write), a failing disk (EIO) or
// a volume remounted read-only (EROFS) does to the calls.
type faultyFS struct {
	OSFS
	mu sync.Mutex
	// writeErr fails writes after writing writePartial bytes of them.
	writeErr     error
	writePartial int
	truncateErr  error
	syncErr      error
	openErr      error
	syncDirErr   error
}

func (fs *faultyFS) set(apply func(*faultyFS)) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	apply(fs)
}

func (fs *faultyFS) fault(pick func(*faultyFS) error) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return pick(fs)
}

func (fs *faultyFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if err := fs.fault(func(fs *faultyFS) error { return fs.openErr }); err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: f, fs: fs}, nil
}

func (fs *faultyFS) SyncDir(dir string) error {
	if err := fs.fault(func(fs *faultyFS) error { return fs.syncDirErr }); err != nil {
		return &os.PathError{Op: "sync", Path: dir, Err: err}
	}
	return fs.OSFS.SyncDir(dir)
}

type faultyFile struct {
	*os.File
	fs *faultyFS
}

func (f *faultyFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	err, partial := f.fs.writeErr, f.fs.writePartial
	f.fs.mu.Unlock()
	if err == nil {
		return f.File.Write(p)
	}
	n, _ := f.File.Write(p[:min(partial, len(p))])
	return n, &os.PathError{Op: "write", Path: f.Name(), Err: err}
}

func (f *faultyFile) Sync() error {
	if err := f.fs.fault(func(fs *faultyFS) error { return fs.syncErr }); err != nil {
		return &os.PathError{Op: "sync", Path: f.Name(), Err: err}
	}
	return f.File.Sync()
}

func (f *faultyFile) Truncate(size int64) error {
	if err := f.fs.fault(func(fs *faultyFS) error { return fs.truncateErr }); err != nil {
		return &os.PathError{Op: "truncate", Path: f.Name(), Err: err}
	}
	return f.File.Truncate(size)
}

// newFaultyFile opens a RollingFile on a faultyFS. configure, when not nil,
// sets the file's fields before Open: once open, its mill goroutine reads
// them, so a test must not assign them afterwards.
func newFaultyFile(t *testing.T, configure func(*RollingFile)) (*RollingFile, *faultyFS, string) {
	t.Helper()
	dir := t.TempDir()
	fs := &faultyFS{}
	f := newFile(t, dir, &fakeClock{now: time.Now()})
	f.FS = fs
	if configure != nil {
		configure(f)
	}
	mustOpen(t, f)
	t.Cleanup(func() { f.Close() })
	return f, fs, filepath.Join(dir, "spans.jsonl")
}

// TestFailedWriteLeavesWholeLinesOnly fails a write after part of it reached
// the file, the way a disk that fills up in the middle of a write does, and
// checks that the file keeps only the lines written before, and that the
// batch written again after the fault holds each line once.
func TestFailedWriteLeavesWholeLinesOnly(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		errno   syscall.Errno
		partial int
		// truncateErr also fails the cut back, so the torn bytes stay
		// until the next write (or Probe) removes them.
		truncateErr syscall.Errno
	}{
		{"disk full in the middle of a write", syscall.ENOSPC, 25, 0},
		{"disk full before the write", syscall.ENOSPC, 0, 0},
		{"I/O error after part of a write", syscall.EIO, 40, 0},
		{"read-only volume", syscall.EROFS, 0, syscall.EROFS},
		{"torn bytes that cannot be cut at once", syscall.EIO, 33, syscall.EIO},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, fs, path := newFaultyFile(t, nil)
			before, batch := lines("before", 2), lines("batch", 3)
			mustWrite(t, f, before)
			fs.set(func(fs *faultyFS) {
				fs.writeErr, fs.writePartial = tc.errno, tc.partial
				if tc.truncateErr != 0 {
					fs.truncateErr = tc.truncateErr
				}
			})
			err := f.Write(batch)
			if !errors.Is(err, tc.errno) {
				t.Fatalf("write error = %v, want %v", err, tc.errno)
			}
			if tc.truncateErr == 0 {
				if got := readFile(t, path); got != joined(before) {
					t.Fatalf("after the failed write the file holds %q, want only %q", got, joined(before))
				}
			}
			// Still failing: the retry fails too and still stores nothing.
			if err := f.Write(batch); !errors.Is(err, tc.errno) && !errors.Is(err, tc.truncateErr) {
				t.Fatalf("retry while failing: %v", err)
			}
			fs.set(func(fs *faultyFS) { fs.writeErr, fs.truncateErr = nil, nil })
			mustWrite(t, f, batch)
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			if got, want := readFile(t, path), joined(before)+joined(batch); got != want {
				t.Fatalf("after recovery the file holds %q, want %q", got, want)
			}
		})
	}
}

// TestFailedFsyncIsNotStoredTwice fails the fsync after a successful write,
// as Durable mode sees it, and checks that writing the batch again (what the
// batcher does) leaves each line in the file once: a failed fsync counts
// the batch as not written.
func TestFailedFsyncIsNotStoredTwice(t *testing.T) {
	t.Parallel()
	f, fs, path := newFaultyFile(t, nil)
	synced, batch := lines("synced", 2), lines("batch", 3)
	mustWrite(t, f, synced)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	fs.set(func(fs *faultyFS) { fs.syncErr = syscall.EIO })
	mustWrite(t, f, batch)
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("sync error = %v, want EIO", err)
	}
	fs.set(func(fs *faultyFS) { fs.syncErr = nil })
	mustWrite(t, f, batch)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if got, want := readFile(t, path), joined(synced)+joined(batch); got != want {
		t.Fatalf("file holds %q, want %q", got, want)
	}
}

// TestFailedDirectorySyncIsRetried fails the directory fsync after a
// rotation; the rename is done, but not durable, so the next write retries
// the directory fsync first and refuses while it fails.
func TestFailedDirectorySyncIsRetried(t *testing.T) {
	t.Parallel()
	first, second := lines("first", 2), lines("second", 2)
	f, fs, path := newFaultyFile(t, func(f *RollingFile) { f.MaxSize = int64(len(joined(first))) })
	mustWrite(t, f, first)
	fs.set(func(fs *faultyFS) { fs.syncDirErr = syscall.EIO })
	if err := f.Write(second); !errors.Is(err, syscall.EIO) {
		t.Fatalf("write that rotates = %v, want EIO from the directory fsync", err)
	}
	if err := f.Write(second); !errors.Is(err, syscall.EIO) {
		t.Fatalf("write while the directory fsync fails = %v, want EIO", err)
	}
	if got := readFile(t, path); got != "" {
		t.Fatalf("fresh active file holds %q before the directory fsync worked", got)
	}
	fs.set(func(fs *faultyFS) { fs.syncDirErr = nil })
	mustWrite(t, f, second)
	if got := readFile(t, path); got != joined(second) {
		t.Fatalf("active file holds %q, want %q", got, joined(second))
	}
}

// TestProbe checks that Probe fails while the volume refuses writes, and
// succeeds without leaving anything behind once it takes them again.
func TestProbe(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		apply func(*faultyFS)
		errno syscall.Errno
	}{
		{"read-only volume", func(fs *faultyFS) { fs.openErr = syscall.EROFS }, syscall.EROFS},
		{"full volume", func(fs *faultyFS) { fs.writeErr = syscall.ENOSPC }, syscall.ENOSPC},
		{"failing fsync", func(fs *faultyFS) { fs.syncErr = syscall.EIO }, syscall.EIO},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, fs, path := newFaultyFile(t, nil)
			mustWrite(t, f, lines("kept", 2))
			fs.set(tc.apply)
			if err := f.Probe(); !errors.Is(err, tc.errno) {
				t.Fatalf("probe = %v, want %v", err, tc.errno)
			}
			fs.set(func(fs *faultyFS) { fs.openErr, fs.writeErr, fs.syncErr = nil, nil, nil })
			if err := f.Probe(); err != nil {
				t.Fatalf("probe after recovery: %v", err)
			}
			if names := listDir(t, filepath.Dir(path)); len(names) != 1 || names[0] != "spans.jsonl" {
				t.Fatalf("directory holds %v after probes, want only spans.jsonl", names)
			}
			if got := readFile(t, path); got != joined(lines("kept", 2)) {
				t.Fatalf("probes changed the span file: %q", got)
			}
		})
	}
}

// TestOpenCutsInvalidLinesAtTheEnd checks the repair of what a power loss
// can leave: whole lines that are not JSON (a block of zeros where unsynced
// data was) are cut, with everything after them.
func TestOpenCutsInvalidLinesAtTheEnd(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, content, kept string
	}{
		{"zeros then a line", "{\"a\":1}\n\x00\x00\x00\x00{\"b\":2}\n{\"c\":3}\n", "{\"a\":1}\n"},
		{"garbage line at the end", "{\"a\":1}\n{\"b\":\n", "{\"a\":1}\n"},
		{"empty line", "{\"a\":1}\n\n{\"c\":3}\n", "{\"a\":1}\n"},
		{"valid lines", "{\"a\":1}\n{\"b\":2}\n", "{\"a\":1}\n{\"b\":2}\n"},
		{"a long file with damage near its end", strings.Repeat("{\"x\":1}\n", checkWindow/8+10) + "\x00\x00\n", strings.Repeat("{\"x\":1}\n", checkWindow/8+10)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			active := writeActive(t, dir, tc.content)
			f := newFile(t, dir, &fakeClock{now: time.Now()})
			mustOpen(t, f)
			mustClose(t, f)
			if got := readFile(t, active); got != tc.kept {
				t.Fatalf("file holds %q, want %q", clipString(got), clipString(tc.kept))
			}
			wantRepairs := 0.0
			if tc.kept != tc.content {
				wantRepairs = 1
			}
			if got := testutil.ToFloat64(f.Metrics.tornTails); got != wantRepairs {
				t.Fatalf("repairs = %v, want %v", got, wantRepairs)
			}
		})
	}
}

func clipString(s string) string {
	if len(s) > 100 {
		return s[:50] + "..." + s[len(s)-50:]
	}
	return s
}

// TestCrashBeforeMidnightRestartAfter restarts on yesterday's file with a
// torn last line: the repair must not make the file look like today's (a
// truncate moves its modification time), so yesterday's whole lines roll
// away to yesterday's name before today's first line.
func TestCrashBeforeMidnightRestartAfter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	before := lines("before", 2)
	active := writeActive(t, dir, joined(before)+`{"span_id":"tor`)
	setModTime(t, active, day1)
	f := newFile(t, dir, &fakeClock{now: day1.Add(8 * time.Hour)})
	after := lines("after", 2)
	mustWrite(t, f, after)
	mustClose(t, f)
	if got := readFile(t, filepath.Join(dir, "spans_2031-03-14.jsonl")); got != joined(before) {
		t.Fatalf("yesterday's file holds %q, want %q", got, joined(before))
	}
	if got := readFile(t, active); got != joined(after) {
		t.Fatalf("active file holds %q, want %q", got, joined(after))
	}
}
