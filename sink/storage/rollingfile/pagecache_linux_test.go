package rollingfile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/go-logr/logr/testr"
	"golang.org/x/sys/unix"

	"github.com/spansink/spansink/sink/record"
)

// residentFraction reports how much of [from, to) of the file at path is
// in the page cache.
func residentFraction(t *testing.T, path string, from, to int64) float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, err := unix.Mmap(int(f.Fd()), from, int(to-from), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(data)
	pages := make([]byte, (len(data)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&data[0])), uintptr(len(data)), uintptr(unsafe.Pointer(&pages[0]))); errno != 0 {
		t.Fatal(errno)
	}
	resident := 0
	for _, p := range pages {
		resident += int(p & 1)
	}
	return float64(resident) / float64(len(pages))
}

func TestDropWrittenPagesKeepsThePageCacheSmall(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type == unix.TMPFS_MAGIC {
		t.Skip("on tmpfs the page cache is the only copy and cannot be dropped")
	}
	line := bytes.Repeat([]byte("x"), 1<<20-1) // one MiB with its newline
	batch := []record.Record{{Line: line, Spans: 1}}
	for _, drop := range []bool{false, true} {
		f := &RollingFile{Filename: filepath.Join(dir, map[bool]string{false: "kept.jsonl", true: "dropped.jsonl"}[drop]), DropWrittenPages: drop, Logger: testr.New(t)}
		for range 8 {
			mustWrite(t, f, batch)
		}
		// Written back, so clean: the next drop may evict them.
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		for range 8 {
			mustWrite(t, f, batch)
		}
		got := residentFraction(t, f.activePath(), 0, 8<<20)
		mustClose(t, f)
		if drop && got > 0.1 {
			t.Errorf("with DropWrittenPages %.0f%% of the first 8 MiB is still cached", got*100)
		}
		if !drop && got < 0.5 {
			t.Errorf("without DropWrittenPages only %.0f%% of the first 8 MiB is cached; the test cannot tell the difference", got*100)
		}
	}
}
