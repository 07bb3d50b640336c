package rollingfile

import (
	"bytes"
	"fmt"
	"os"
)

// tailChunk is how much of the file end is read at a time when looking for
// the last whole line.
const tailChunk = 64 << 10

// repairTail cuts a torn last line (bytes after the last '\n', left by a
// crash in the middle of a write) off f and returns the new size. Lines are
// written whole, so everything up to the last '\n' is complete.
func (r *RollingFile) repairTail(f *os.File, size int64) (int64, error) {
	if size == 0 {
		return 0, nil
	}
	keep, err := lastLineEnd(f, size)
	if err != nil {
		return 0, fmt.Errorf("check the tail of %s: %w", f.Name(), err)
	}
	if keep == size {
		return size, nil
	}
	if err := f.Truncate(keep); err != nil {
		return 0, fmt.Errorf("cut the torn tail of %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("fsync %s after cutting its torn tail: %w", f.Name(), err)
	}
	r.Metrics.tornTail(size - keep)
	r.Logger.Info("cut a torn last line from the span file", "file", f.Name(), "bytesCut", size-keep, "sizeKept", keep)
	return keep, nil
}

// lastLineEnd returns the offset just past the last '\n' in the first size
// bytes of f, or 0 if there is none.
func lastLineEnd(f *os.File, size int64) (int64, error) {
	buf := make([]byte, tailChunk)
	end := size
	for end > 0 {
		start := max(end-tailChunk, 0)
		chunk := buf[:end-start]
		if _, err := f.ReadAt(chunk, start); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}
