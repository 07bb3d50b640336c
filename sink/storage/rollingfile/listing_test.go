package rollingfile

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/spansink/spansink/sink/spanfile"
)

// gappyListingFS is the real file system with the worst directory listing
// POSIX allows: an entry added or removed while a listing runs may be
// missing from it. Once armed, a listing lists twice, lets the mill's
// compression change names in between, and returns only the names both
// saw. The mill is held just before it renames a compressed file into
// place until such a listing has begun, so the two always meet.
type gappyListingFS struct {
	OSFS
	millWaiting chan struct{} // closed when the mill waits to rename
	listing     chan struct{} // closed when an armed listing has begun
	plainGone   chan struct{} // closed when the mill removed a plain file
	mu          sync.Mutex
	armed       bool
	onceWaiting sync.Once
	onceListing sync.Once
	oncePlain   sync.Once
}

func newGappyListingFS() *gappyListingFS {
	return &gappyListingFS{millWaiting: make(chan struct{}), listing: make(chan struct{}), plainGone: make(chan struct{})}
}

func (fs *gappyListingFS) arm() {
	fs.mu.Lock()
	fs.armed = true
	fs.mu.Unlock()
}

func (fs *gappyListingFS) ReadDir(dir string) ([]os.DirEntry, error) {
	fs.mu.Lock()
	armed := fs.armed
	fs.armed = false
	fs.mu.Unlock()
	first, err := os.ReadDir(dir)
	if err != nil || !armed {
		return first, err
	}
	fs.onceListing.Do(func() { close(fs.listing) })
	// Long enough for the mill to rename and remove, unless something
	// keeps it from doing so while the listing runs.
	select {
	case <-fs.plainGone:
	case <-time.After(time.Second):
	}
	second, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, e := range second {
		seen[e.Name()] = true
	}
	var both []os.DirEntry
	for _, e := range first {
		if seen[e.Name()] {
			both = append(both, e)
		}
	}
	return both, nil
}

// Chtimes is the mill's last step before it renames the compressed file
// into place.
func (fs *gappyListingFS) Chtimes(name string, atime, mtime time.Time) error {
	if strings.HasSuffix(name, spanfile.TmpSuffix) {
		fs.onceWaiting.Do(func() { close(fs.millWaiting) })
		select {
		case <-fs.listing:
		case <-time.After(5 * time.Second):
		}
	}
	return fs.OSFS.Chtimes(name, atime, mtime)
}

func (fs *gappyListingFS) Remove(name string) error {
	err := fs.OSFS.Remove(name)
	if err == nil && strings.HasSuffix(name, ".jsonl") {
		fs.oncePlain.Do(func() { close(fs.plainGone) })
	}
	return err
}

// A rotation while the mill compresses the newest rotated file must not
// take that file's index again: the mill would then remove the new file,
// with acknowledged lines in it, as the leftover of the compressed one.
func TestRotationDuringCompressionKeepsEveryLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fsys := newGappyListingFS()
	f := newFile(t, dir, &fakeClock{now: day1})
	f.FS = fsys
	f.Compression = spanfile.Zstd
	first, second, third := lines("first", 10), lines("second", 10), lines("third", 10)
	f.MaxSize = int64(len(joined(first)))

	mustWrite(t, f, first)
	mustWrite(t, f, second) // rotates first to index 0; the mill compresses it
	select {
	case <-fsys.millWaiting:
	case <-time.After(10 * time.Second):
		t.Fatal("the mill never started compressing the rotated file")
	}
	fsys.arm()
	mustWrite(t, f, third) // rotates second while the mill renames and removes
	mustClose(t, f)

	got := map[string]bool{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		for _, line := range fileLines(t, filepath.Join(dir, e.Name())) {
			got[line] = true
		}
	}
	for _, rec := range slices.Concat(first, second, third) {
		if !got[string(rec.Line)] {
			t.Fatalf("line %s is in no file; the directory holds %v", rec.Line, names)
		}
	}
}

// fileLines reads a span file's lines, decompressing a .zst one.
func fileLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r io.Reader = bytes.NewReader(data)
	if strings.HasSuffix(path, spanfile.Zstd.Suffix()) {
		dec, err := zstd.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		defer dec.Close()
		r = dec
	}
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return out
}
