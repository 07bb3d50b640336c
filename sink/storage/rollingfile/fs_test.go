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

// rootedFS serves a real directory under a made-up path that the os
// package cannot reach: the path runs through a regular file, so every
// call that went around the FS fails with ENOTDIR (even MkdirAll). A
// RollingFile that works through it therefore does all its file
// operations through its FS, which is what lets a faulty FS in the other
// tests see them. It counts the calls of each kind, so a test can tell it
// went through every kind of operation it means to check.
type rootedFS struct {
	virtual, real string

	mu    sync.Mutex
	calls map[string]int
}

func newRootedFS(t *testing.T) *rootedFS {
	t.Helper()
	tmp := t.TempDir()
	blocker := filepath.Join(tmp, "not-a-directory")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "real")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &rootedFS{virtual: filepath.Join(blocker, "spans"), real: dir, calls: map[string]int{}}
}

// path maps a path under the made-up root to the real one. A path outside
// it is a caller's mistake, and left to fail.
func (fs *rootedFS) path(op, name string) string {
	fs.mu.Lock()
	fs.calls[op]++
	fs.mu.Unlock()
	if rest, ok := strings.CutPrefix(name, fs.virtual); ok {
		return fs.real + rest
	}
	return name
}

func (fs *rootedFS) count(op string) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.calls[op]
}

func (fs *rootedFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	return OSFS{}.OpenFile(fs.path("OpenFile", name), flag, perm)
}

func (fs *rootedFS) Rename(oldpath, newpath string) error {
	return os.Rename(fs.path("Rename", oldpath), fs.path("Rename", newpath))
}

func (fs *rootedFS) Remove(name string) error { return os.Remove(fs.path("Remove", name)) }

func (fs *rootedFS) MkdirAll(path string, perm os.FileMode) error {
	return os.MkdirAll(fs.path("MkdirAll", path), perm)
}

func (fs *rootedFS) SyncDir(dir string) error { return OSFS{}.SyncDir(fs.path("SyncDir", dir)) }

func (fs *rootedFS) ReadDir(dir string) ([]os.DirEntry, error) {
	return os.ReadDir(fs.path("ReadDir", dir))
}

func (fs *rootedFS) Stat(name string) (os.FileInfo, error) { return os.Stat(fs.path("Stat", name)) }

func (fs *rootedFS) Chtimes(name string, atime, mtime time.Time) error {
	return os.Chtimes(fs.path("Chtimes", name), atime, mtime)
}

// TestEveryFileOperationGoesThroughTheFS runs rotation, compression,
// retention by count and by total size, and Sealed on a file system only
// the FS reaches, and checks that they did their work without a failure.
// Had any of them called the os package directly, its listing, stat,
// open, rename or removal would have failed on the made-up path (counted
// as a background or compression error), or, for a size, seen nothing, so
// that retention by total size would have kept the files.
func TestEveryFileOperationGoesThroughTheFS(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		compression  spanfile.Compression
		maxFiles     int
		maxTotalSize int64
		want         []string
		ops          []string
	}{
		{
			name:        "compression and maxFiles",
			compression: spanfile.Gzip,
			maxFiles:    2,
			want:        []string{"spans.jsonl", "spans_2031-03-14.1.jsonl.gz", "spans_2031-03-14.2.jsonl.gz"},
			ops:         []string{"MkdirAll", "OpenFile", "Stat", "SyncDir", "ReadDir", "Rename", "Chtimes", "Remove"},
		},
		{
			// Every rotated file takes the span files past one byte.
			name:         "maxTotalSize",
			maxTotalSize: 1,
			want:         []string{"spans.jsonl"},
			ops:          []string{"MkdirAll", "OpenFile", "Stat", "SyncDir", "ReadDir", "Rename", "Remove"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fs := newRootedFS(t)
			f := newFile(t, fs.virtual, &fakeClock{now: day1})
			f.FS = fs
			f.MaxSize = 100 // each batch below is larger: every write after the first rotates
			f.Compression = tc.compression
			f.MaxFiles = tc.maxFiles
			f.MaxTotalSize = tc.maxTotalSize
			for range 4 {
				mustWrite(t, f, lines("batch", 5))
			}
			mustClose(t, f) // waits for the mill's last pass

			if got := listDir(t, fs.real); !slices.Equal(got, tc.want) {
				t.Errorf("files = %v, want %v", got, tc.want)
			}
			if got := testutil.ToFloat64(f.Metrics.backgroundErrs); got != 0 {
				t.Errorf("background errors = %v, want 0", got)
			}
			if got := testutil.ToFloat64(f.Metrics.compressions.WithLabelValues("error")); got != 0 {
				t.Errorf("failed compressions = %v, want 0", got)
			}
			sealed, err := f.Sealed()
			if err != nil {
				t.Fatalf("sealed: %v", err)
			}
			var names []string
			for _, s := range sealed {
				names = append(names, s.Name)
			}
			if want := tc.want[1:]; !slices.Equal(names, want) {
				t.Errorf("sealed = %v, want %v", names, want)
			}
			for _, op := range tc.ops {
				if fs.count(op) == 0 {
					t.Errorf("no %s call reached the FS", op)
				}
			}
		})
	}
}
