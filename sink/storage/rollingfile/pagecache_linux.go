package rollingfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// dropPages asks the kernel to write back the first end bytes of f and to
// drop the pages of that range that are already clean from the page cache.
// It never waits for I/O. Failure only means the pages stay cached, so it
// is not reported.
func dropPages(f *os.File, end int64) {
	if end > 0 {
		_ = unix.Fadvise(int(f.Fd()), 0, end, unix.FADV_DONTNEED)
	}
}
