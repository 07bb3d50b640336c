package rollingfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/spansink/spansink/sink/record"
	"github.com/spansink/spansink/sink/spanfile"
	"github.com/spansink/spansink/sink/storage"
)

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("rolling file is closed")

// dropEvery is how many bytes are written between page cache drops, and
// how much of the file's end stays cached.
const dropEvery = 8 << 20

// maxRetainedBuffer bounds the write buffer kept between batches, so one
// huge batch does not pin its memory for the life of the process.
const maxRetainedBuffer = 4 << 20

// RollingFile is a storage.Storage that appends records as lines to the
// active file and rolls it over by day and size. Set the fields, then call
// Open (or just Write, which opens on first use); afterwards the fields
// change only through SetRotation. All methods are safe for concurrent use.
type RollingFile struct {
	// Filename is the active file's path. Its directory is created if
	// missing; an empty extension becomes ".log".
	Filename string
	// Daily rolls the file over at the first write of a new day.
	Daily bool
	// MaxSize rotates the file before a write would take it past this many
	// bytes; 0 turns size rotation off. A single batch larger than MaxSize
	// is still written whole, into a fresh file.
	MaxSize int64
	// MaxFiles keeps at most this many rotated files; 0 keeps all.
	MaxFiles int
	// MaxAge removes rotated files whose day ended more than MaxAge ago; 0 keeps them.
	MaxAge time.Duration
	// MaxTotalSize removes the oldest rotated files while the span files
	// together (the active one included) take more than this many bytes;
	// 0 sets no bound.
	MaxTotalSize int64
	// Compression compresses rotated files in the background; "" or "none" leaves them as they are.
	Compression spanfile.Compression
	// Removable, when set, is asked before retention removes a sealed
	// rotated file (MaxFiles, MaxAge, MaxTotalSize); a file it says no to
	// stays. The uploader says no until the object store has confirmed
	// the file, so retention never loses a span that is nowhere else.
	Removable func(name string) bool
	// FirstFreeIndex, when set, is the lowest index the next rotated file
	// of a day may take, whatever the directory holds: files shipped
	// elsewhere and removed from the volume keep their names taken.
	FirstFreeIndex func(day string) int
	// AfterMill, when set, is called after every retention and
	// compression pass, which is when newly sealed files appear (see
	// Sealed).
	AfterMill func()
	// Location is the time zone days are judged in; nil means UTC.
	Location *time.Location
	// Now is the clock; nil means time.Now. Tests inject a fake one.
	Now func() time.Time
	// Logger receives repairs, rotations and background failures.
	Logger logr.Logger
	// Metrics counts rotations, repairs and retention; nil counts nothing.
	Metrics *Metrics
	// DropWrittenPages keeps the page cache small: every few MiB the
	// kernel is asked to write back what was written and to drop it from
	// the cache once clean. Span files are written once and rarely read
	// back soon, and cached pages count against a container's memory
	// limit; reusing freed pages is also much cheaper than taking fresh
	// ones in a VM, where the first touch of guest memory is costly.
	DropWrittenPages bool
	// FS is the file system the active file lives on; nil means the real
	// one. Tests inject faults here.
	FS FS

	mu     sync.Mutex
	file   File
	size   int64  // bytes in the active file, all whole lines
	synced int64  // bytes of the active file known to be fsynced
	day    string // the day the active file's lines belong to
	// firstLineAt is when the active file's first line was written (for
	// a file left by an earlier run, its modification time), zero while
	// it is empty; RotateOlderThan reads it.
	firstLineAt time.Time
	dirty       bool // a failed write or fsync may have left bytes past size
	// dirPending is set when a directory fsync after a rotation or a
	// creation failed: it is retried before anything else is written.
	dirPending bool
	closed     bool
	buf        []byte
	// droppedAt is the size at which pages were last dropped.
	droppedAt int64

	// names keeps nextIndex's listing and the mill's rename of a
	// compressed file into place apart. A listing may miss entries that
	// are added or removed while it runs (POSIX leaves it unspecified,
	// and a large directory is read in several calls), so one that
	// straddled both the rename and the removal of the plain file could
	// see neither name, hand the same index out again, and the next
	// mill pass would remove the new plain file as the leftover of the
	// compressed one. With the rename excluded, a listing sees the plain
	// file (not yet renamed) or the compressed one (renamed before it).
	names sync.Mutex

	millWake chan struct{}
	millStop chan struct{}
	millDone chan struct{}
	unknown  map[string]bool // reported unknown files, so each is logged once
}

var _ storage.Storage = (*RollingFile)(nil)

// Name identifies the rolling file in logs and metrics.
func (r *RollingFile) Name() string { return "file" }

// Open opens (or creates) the active file, repairs a torn last line and
// starts the background retention and compression. Calling it is optional:
// the first Write opens the file too, but an explicit Open reports problems
// at startup.
func (r *RollingFile) Open() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if r.file != nil {
		return nil
	}
	return r.openLocked()
}

// Write appends each record's line and a '\n' to the active file with one
// write call, rolling over first if the day changed or the batch would not
// fit. It keeps all of the batch or none of it: after a failed or short
// write the file is cut back to where the batch started.
func (r *RollingFile) Write(batch []record.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writeLocked(batch)
}

// Sync makes every line written so far durable. When the fsync fails, the
// lines written since the last successful Sync count as not written: the
// kernel may have dropped them (a failed fsync is not reported twice, so a
// second one proves nothing), and the next Write cuts the file back to the
// last synced line before it appends, so a batch the caller writes again
// after the failure is never stored twice.
func (r *RollingFile) Sync() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.file == nil {
		return nil
	}
	if err := r.syncDirLocked(); err != nil {
		return err
	}
	if err := r.file.Sync(); err != nil {
		if r.size > r.synced {
			r.size, r.dirty = r.synced, true
		}
		return fmt.Errorf("fsync %s: %w", r.file.Name(), err)
	}
	r.synced = r.size
	return nil
}

// Probe tells whether the volume takes writes again after a failure,
// without writing to the span file: it cuts back what a failed write left,
// then writes, fsyncs and removes a small file next to the active one.
func (r *RollingFile) Probe() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.recoverLocked(); err != nil {
		return err
	}
	dir, base, ext := spanfile.SplitPath(r.Filename)
	path := filepath.Join(dir, "."+base+ext+probeSuffix)
	f, err := r.fs().OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("probe the span volume: %w", err)
	}
	_, err = f.Write(make([]byte, probeBytes))
	if err == nil {
		err = f.Sync()
	}
	closeErr := f.Close()
	removeErr := r.fs().Remove(path)
	if err = errors.Join(err, closeErr, removeErr); err != nil {
		return fmt.Errorf("probe the span volume with %s: %w", path, err)
	}
	return nil
}

// syncDirLocked retries a directory fsync that failed earlier.
func (r *RollingFile) syncDirLocked() error {
	if !r.dirPending {
		return nil
	}
	if err := r.fs().SyncDir(filepath.Dir(r.activePath())); err != nil {
		return err
	}
	r.dirPending = false
	return nil
}

func (r *RollingFile) fs() FS {
	if r.FS == nil {
		return OSFS{}
	}
	return r.FS
}

// Close syncs and closes the active file and waits for background
// compression and retention to finish their current pass.
func (r *RollingFile) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	err := r.closeFileLocked()
	r.mu.Unlock()
	if r.millStop != nil {
		close(r.millStop)
		<-r.millDone
	}
	return err
}

func (r *RollingFile) activePath() string { return spanfile.ActivePath(r.Filename) }

func (r *RollingFile) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *RollingFile) dayOf(t time.Time) string {
	loc := r.Location
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format(spanfile.DayLayout)
}

func (r *RollingFile) openLocked() error {
	path := r.activePath()
	dir := filepath.Dir(path)
	if err := r.fs().MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create span directory: %w", err)
	}
	_, statErr := r.fs().Stat(path)
	created := errors.Is(statErr, os.ErrNotExist)
	// O_RDWR rather than O_WRONLY: the torn-tail repair reads the end.
	f, err := r.fs().OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open span file: %w", err)
	}
	if created {
		if err := r.fs().SyncDir(dir); err != nil {
			f.Close()
			return err
		}
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat span file: %w", err)
	}
	size, err := r.repairTail(f, info.Size())
	if err != nil {
		f.Close()
		return err
	}
	// What an earlier run left counts as synced: nothing this run does
	// can make it more durable, and a failed fsync must never cut it.
	r.file, r.size, r.synced, r.dirty, r.droppedAt = f, size, size, false, size
	if size > 0 {
		// The last write's time is the day of the file's lines: lines
		// are only ever appended on the day the file belongs to.
		r.day = r.dayOf(info.ModTime())
		r.firstLineAt = info.ModTime()
	} else {
		r.day = r.dayOf(r.now())
		r.firstLineAt = time.Time{}
	}
	r.startMill()
	return nil
}

func (r *RollingFile) closeFileLocked() error {
	if r.file == nil {
		return nil
	}
	f := r.file
	r.file = nil
	syncErr := f.Sync()
	closeErr := f.Close()
	if syncErr != nil {
		return fmt.Errorf("fsync %s: %w", f.Name(), syncErr)
	}
	if closeErr != nil {
		return fmt.Errorf("close %s: %w", f.Name(), closeErr)
	}
	return nil
}

// recoverLocked opens the active file if it is not open and undoes what
// an earlier failure left: bytes past the last whole line and a directory
// fsync still owed. Write and Probe both start with it, so a probe that
// succeeds means the next write starts from a clean file.
func (r *RollingFile) recoverLocked() error {
	if r.closed {
		return ErrClosed
	}
	if r.file == nil {
		if err := r.openLocked(); err != nil {
			return err
		}
	}
	if r.dirty {
		if err := r.cutBack(); err != nil {
			return err
		}
	}
	return r.syncDirLocked()
}

func (r *RollingFile) writeLocked(batch []record.Record) error {
	if err := r.recoverLocked(); err != nil {
		return err
	}
	n := 0
	for _, rec := range batch {
		n += len(rec.Line) + 1
	}
	if n == 0 {
		return nil
	}
	if err := r.rollIfNeeded(int64(n)); err != nil {
		return err
	}
	buf := r.buf[:0]
	for _, rec := range batch {
		buf = append(buf, rec.Line...)
		buf = append(buf, '\n')
	}
	if cap(buf) <= maxRetainedBuffer {
		r.buf = buf
	} else {
		r.buf = nil
	}
	written, err := r.file.Write(buf)
	if err != nil {
		if written > 0 {
			r.dirty = true
			if cutErr := r.cutBack(); cutErr != nil {
				return errors.Join(fmt.Errorf("write %s: %w", r.file.Name(), err), cutErr)
			}
		}
		return fmt.Errorf("write %s: %w", r.file.Name(), err)
	}
	if r.size == 0 {
		r.firstLineAt = r.now()
	}
	r.size += int64(n)
	if r.DropWrittenPages && r.size-r.droppedAt >= dropEvery {
		// Leave the newest pages alone: they are still being written
		// back, and a reader tailing the file may want them.
		dropFilePages(r.file, r.size-dropEvery)
		r.droppedAt = r.size
	}
	return nil
}

// cutBack removes the bytes a failed write left past the last whole line,
// so a retry of the batch never leaves half a line in the file.
func (r *RollingFile) cutBack() error {
	if err := r.file.Truncate(r.size); err != nil {
		return fmt.Errorf("cut %s back to %d bytes after a failed write: %w", r.file.Name(), r.size, err)
	}
	r.dirty = false
	return nil
}

func (r *RollingFile) rollIfNeeded(incoming int64) error {
	if r.Daily {
		if today := r.dayOf(r.now()); today != r.day {
			if r.size > 0 {
				if err := r.rotateLocked(reasonDaily); err != nil {
					return err
				}
			}
			r.day = today
			return nil
		}
	}
	if r.MaxSize > 0 && r.size > 0 && r.size+incoming > r.MaxSize {
		return r.rotateLocked(reasonSize)
	}
	return nil
}

// rotateLocked renames the active file to the next rotated name of its day
// and opens a fresh active file.
func (r *RollingFile) rotateLocked(reason string) error {
	path := r.activePath()
	dir, base, ext := spanfile.SplitPath(r.Filename)
	index, err := r.nextIndex(dir, base, ext, r.day)
	if err != nil {
		return err
	}
	if r.FirstFreeIndex != nil {
		index = max(index, r.FirstFreeIndex(r.day))
	}
	rotated := filepath.Join(dir, spanfile.RotatedName(base, ext, r.day, index))
	// Make the lines durable before they move: after a power loss the
	// rotated name must not point at a file with missing data.
	if err := r.file.Sync(); err != nil {
		return fmt.Errorf("fsync %s before rotation: %w", path, err)
	}
	if err := r.fs().Rename(path, rotated); err != nil {
		return fmt.Errorf("rotate %s to %s: %w", path, rotated, err)
	}
	old := r.file
	r.file = nil
	if r.DropWrittenPages {
		dropFilePages(old, r.size)
	}
	if err := old.Close(); err != nil {
		r.Logger.Error(err, "closing rotated span file", "file", rotated)
	}
	f, err := r.fs().OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		// The next write opens the active file again.
		return fmt.Errorf("open span file after rotation: %w", err)
	}
	r.file, r.size, r.synced, r.dirty, r.droppedAt, r.firstLineAt = f, 0, 0, false, 0, time.Time{}
	if err := r.fs().SyncDir(dir); err != nil {
		// The rename is done; what is left is making it durable, which
		// is retried before the next write or fsync.
		r.dirPending = true
		return err
	}
	r.Metrics.rotated(reason)
	r.Logger.Info("rotated span file", "reason", reason, "to", rotated)
	r.wakeMill()
	return nil
}

// RotateOlderThan rotates the active file when its first line was written
// more than age ago, so that its lines are sealed (and shipped) within a
// bound even when too few arrive for size or daily rotation. It reports
// whether it rotated; an empty file is never rotated.
func (r *RollingFile) RotateOlderThan(age time.Duration) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.file == nil || r.closed || r.size == 0 || r.firstLineAt.IsZero() || r.now().Sub(r.firstLineAt) < age {
		return false, nil
	}
	if err := r.recoverLocked(); err != nil {
		return false, err
	}
	if err := r.rotateLocked(reasonMaxDelay); err != nil {
		return false, err
	}
	return true, nil
}

// nextIndex returns the index the next rotated file of day gets: one past
// the highest in the directory, so numbers only grow even after retention
// removed older files.
func (r *RollingFile) nextIndex(dir, base, ext, day string) (int, error) {
	r.names.Lock()
	entries, err := r.fs().ReadDir(dir)
	r.names.Unlock()
	if err != nil {
		return 0, fmt.Errorf("list span directory: %w", err)
	}
	next := 0
	for _, e := range entries {
		rot, ok := spanfile.ParseRotated(base, ext, strings.TrimSuffix(e.Name(), spanfile.TmpSuffix))
		if ok && rot.Day == day && rot.Index+1 > next {
			next = rot.Index + 1
		}
	}
	return next, nil
}
