package rollingfile

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// tailChunk is how much of the file end is read at a time when looking for
// the last whole line.
const tailChunk = 64 << 10

// checkWindow is how much of the file's end is checked line by line when
// it is opened. A crash can only damage what was not yet fsynced, which is
// the end of the file; the bound keeps a restart fast with a large file.
const checkWindow = 8 << 20

// repairTail cuts a damaged end off f and returns the new size: a torn last
// line (bytes after the last '\n', left by a crash in the middle of a
// write), and, within the last checkWindow bytes, everything from the first
// line that is not valid JSON (a power loss can leave a block of zeros
// where unsynced data was). Whatever follows such a line was written after
// it and was not fsynced either, so no Durable acknowledgement covers it.
func (r *RollingFile) repairTail(f File, size int64) (int64, error) {
	if size == 0 {
		return 0, nil
	}
	keep, err := lastLineEnd(f, size)
	if err != nil {
		return 0, fmt.Errorf("check the tail of %s: %w", f.Name(), err)
	}
	reason := "torn last line"
	if valid, err := firstInvalidLine(f, keep); err != nil {
		return 0, fmt.Errorf("check the lines at the end of %s: %w", f.Name(), err)
	} else if valid < keep {
		keep, reason = valid, "invalid line"
	}
	if keep == size {
		return size, nil
	}
	if err := f.Truncate(keep); err != nil {
		return 0, fmt.Errorf("cut the damaged end of %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("fsync %s after cutting its damaged end: %w", f.Name(), err)
	}
	r.Metrics.tornTail(size - keep)
	r.Logger.Info("cut a torn last line from the span file", "file", f.Name(), "reason", reason, "bytesCut", size-keep, "sizeKept", keep)
	return keep, nil
}

// lastLineEnd returns the offset just past the last '\n' in the first size
// bytes of f, or 0 if there is none.
func lastLineEnd(f File, size int64) (int64, error) {
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

// firstInvalidLine checks the whole lines in the last checkWindow bytes of
// the first size bytes of f (which end with '\n') and returns the offset of
// the first one that is not a valid JSON value, or size when all are.
func firstInvalidLine(f File, size int64) (int64, error) {
	start := max(size-checkWindow, 0)
	buf := make([]byte, size-start)
	if _, err := f.ReadAt(buf, start); err != nil {
		return 0, err
	}
	if start > 0 {
		// The window starts inside a line: begin after its end.
		i := bytes.IndexByte(buf, '\n')
		start += int64(i) + 1
		buf = buf[i+1:]
	}
	off := start
	for len(buf) > 0 {
		i := bytes.IndexByte(buf, '\n')
		line := buf[:i]
		if !json.Valid(line) {
			return off, nil
		}
		off += int64(i) + 1
		buf = buf[i+1:]
	}
	return size, nil
}
