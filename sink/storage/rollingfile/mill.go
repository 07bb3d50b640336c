package rollingfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/spansink/spansink/sink/spanfile"
)

// startMill starts the background goroutine that applies retention and
// compression to rotated files, and asks it for a first pass so that files
// left by an earlier run are handled too.
func (r *RollingFile) startMill() {
	if r.millDone != nil {
		return
	}
	r.millWake = make(chan struct{}, 1)
	r.millStop = make(chan struct{})
	r.millDone = make(chan struct{})
	r.unknown = map[string]bool{}
	go r.mill()
	r.wakeMill()
}

func (r *RollingFile) wakeMill() {
	select {
	case r.millWake <- struct{}{}:
	default: // a pass is already due; it will see this rotation too
	}
}

func (r *RollingFile) mill() {
	defer close(r.millDone)
	for {
		select {
		case <-r.millWake:
			r.millPass()
			r.afterMill()
		case <-r.millStop:
			// Finish work asked for just before Close.
			select {
			case <-r.millWake:
				r.millPass()
				r.afterMill()
			default:
			}
			return
		}
	}
}

// afterMill tells AfterMill that a pass is done.
func (r *RollingFile) afterMill() {
	if r.AfterMill != nil {
		r.AfterMill()
	}
}

// logicalFile is a rotated file and, after compression, its compressed twin.
type logicalFile struct {
	plain, compressed *spanfile.Rotated
}

func (l logicalFile) any() spanfile.Rotated {
	if l.plain != nil {
		return *l.plain
	}
	return *l.compressed
}

// millPass lists the directory once and then removes what retention says,
// and compresses what is left uncompressed. Every failure is logged and
// counted; none stops the pass or the collector.
func (r *RollingFile) millPass() {
	// SetRotation may change the rules at any time; one pass follows one
	// version of them.
	rot := r.Rotation()
	dir, base, ext := spanfile.SplitPath(r.Filename)
	entries, err := r.fs().ReadDir(dir)
	if err != nil {
		r.Metrics.backgroundError()
		r.Logger.Error(err, "listing the span directory for retention", "dir", dir)
		return
	}
	files := map[string]*logicalFile{}
	unknown := 0
	for _, e := range entries {
		name := e.Name()
		if name == base+ext || !strings.HasPrefix(name, base+"_") {
			continue
		}
		if final, ok := strings.CutSuffix(name, spanfile.TmpSuffix); ok {
			if _, ok := spanfile.ParseRotated(base, ext, final); ok {
				// Only this goroutine writes temp files, so one seen
				// here was left by a crash in the middle of compression.
				r.remove(dir, name, "unfinished compression")
				continue
			}
		}
		rot, ok := spanfile.ParseRotated(base, ext, name)
		if !ok || !e.Type().IsRegular() {
			unknown++
			if !r.unknown[name] {
				r.unknown[name] = true
				r.Logger.Info("leaving alone a file that does not follow the span file naming", "dir", dir, "file", name)
			}
			continue
		}
		lf := files[rot.Key()]
		if lf == nil {
			lf = &logicalFile{}
			files[rot.Key()] = lf
		}
		if rot.Compression == "" {
			lf.plain = &rot
		} else {
			lf.compressed = &rot
		}
	}
	r.Metrics.setUnknownFiles(unknown)

	ordered := make([]*logicalFile, 0, len(files))
	for _, lf := range files {
		if lf.plain != nil && lf.compressed != nil {
			// The compressed file only gets its final name when it is
			// complete, so the plain one is the leftover.
			r.remove(dir, lf.plain.Name, "already compressed")
			lf.plain = nil
		}
		ordered = append(ordered, lf)
	}
	slices.SortFunc(ordered, func(a, b *logicalFile) int { return a.any().Compare(b.any()) })
	ordered = r.applyRetention(dir, ordered, rot)
	if !rot.Compression.Compresses() {
		return
	}
	for _, lf := range ordered {
		if lf.plain == nil {
			continue
		}
		err := r.compressFile(dir, lf.plain.Name, rot.Compression)
		r.Metrics.compressed(err == nil)
		if err != nil {
			r.Logger.Error(err, "compressing a rotated span file", "file", lf.plain.Name)
		}
	}
}

// applyRetention removes the rotated files (oldest first in ordered) that
// are too old or too many, then the oldest while the span files take more
// than MaxTotalSize, and returns the ones kept. A file Removable says no to
// is kept whatever the rules say.
func (r *RollingFile) applyRetention(dir string, ordered []*logicalFile, rot Rotation) []*logicalFile {
	loc := rot.Location
	if loc == nil {
		loc = time.UTC
	}
	now := r.now()
	kept := ordered[:0:0]
	for i, lf := range ordered {
		tooMany := rot.MaxFiles > 0 && len(ordered)-i > rot.MaxFiles
		tooOld := false
		if rot.MaxAge > 0 {
			day, err := time.ParseInLocation(spanfile.DayLayout, lf.any().Day, loc)
			tooOld = err == nil && now.Sub(day.AddDate(0, 0, 1)) > rot.MaxAge
		}
		if (!tooMany && !tooOld) || !r.removeLogical(dir, lf) {
			kept = append(kept, lf)
		}
	}
	if rot.MaxTotalSize <= 0 {
		return kept
	}
	total := r.fileSize(r.activePath())
	for _, lf := range kept {
		total += r.logicalSize(dir, lf)
	}
	out := kept[:0:0]
	for _, lf := range kept {
		if total > rot.MaxTotalSize {
			size := r.logicalSize(dir, lf)
			if r.removeLogical(dir, lf) {
				total -= size
				continue
			}
		}
		out = append(out, lf)
	}
	return out
}

// removeLogical removes a rotated file and its compressed twin, unless
// Removable keeps it, and reports whether it is gone.
func (r *RollingFile) removeLogical(dir string, lf *logicalFile) bool {
	if r.Removable != nil && !r.Removable(lf.any().Name) {
		return false
	}
	gone := true
	for _, rot := range []*spanfile.Rotated{lf.plain, lf.compressed} {
		if rot == nil {
			continue
		}
		if r.remove(dir, rot.Name, "retention") {
			r.Metrics.removedFile()
		} else {
			gone = false
		}
	}
	return gone
}

func (r *RollingFile) logicalSize(dir string, lf *logicalFile) int64 {
	var size int64
	for _, rot := range []*spanfile.Rotated{lf.plain, lf.compressed} {
		if rot != nil {
			size += r.fileSize(filepath.Join(dir, rot.Name))
		}
	}
	return size
}

func (r *RollingFile) fileSize(path string) int64 {
	info, err := r.fs().Stat(path)
	if err != nil {
		return 0
	}
	return info.Size()
}

func (r *RollingFile) remove(dir, name, why string) bool {
	if err := r.fs().Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		r.Metrics.backgroundError()
		r.Logger.Error(err, "removing a span file", "file", name, "why", why)
		return false
	}
	r.Logger.Info("removed a span file", "file", name, "why", why)
	return true
}

// compressFile writes name's compressed twin under a temporary name,
// makes it durable, renames it into place and then removes name, so that at
// every moment each final name holds a whole file. The rename waits for a
// listing of nextIndex to end (see RollingFile.names).
func (r *RollingFile) compressFile(dir, name string, compression spanfile.Compression) error {
	fsys := r.fs()
	suffix := compression.Suffix()
	if suffix == "" {
		return fmt.Errorf("unknown compression %q", compression)
	}
	srcPath := filepath.Join(dir, name)
	finalPath := srcPath + suffix
	tmpPath := finalPath + spanfile.TmpSuffix
	src, err := fsys.OpenFile(srcPath, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("open %s for compression: %w", name, err)
	}
	defer src.Close()
	info, err := src.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", name, err)
	}
	if err := writeCompressed(fsys, tmpPath, src, compression); err != nil {
		fsys.Remove(tmpPath)
		return err
	}
	// Keep the rotated file's time: tools sort and expire by it.
	if err := fsys.Chtimes(tmpPath, info.ModTime(), info.ModTime()); err != nil {
		fsys.Remove(tmpPath)
		return fmt.Errorf("keep the time of %s: %w", name, err)
	}
	r.names.Lock()
	err = fsys.Rename(tmpPath, finalPath)
	r.names.Unlock()
	if err != nil {
		fsys.Remove(tmpPath)
		return fmt.Errorf("rename compressed %s into place: %w", name, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return err
	}
	if err := fsys.Remove(srcPath); err != nil {
		return fmt.Errorf("remove %s after compression: %w", name, err)
	}
	return fsys.SyncDir(dir)
}

func writeCompressed(fsys FS, path string, src io.Reader, compression spanfile.Compression) (err error) {
	dst, err := fsys.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer func() {
		if closeErr := dst.Close(); closeErr != nil && err == nil {
			err = fmt.Errorf("close %s: %w", path, closeErr)
		}
	}()
	var enc io.WriteCloser
	switch compression {
	case spanfile.Gzip:
		enc = gzip.NewWriter(dst)
	case spanfile.Zstd:
		// One goroutine: compression runs in the background and should
		// not compete with ingest for the cores.
		z, zerr := zstd.NewWriter(dst, zstd.WithEncoderConcurrency(1))
		if zerr != nil {
			return fmt.Errorf("start zstd: %w", zerr)
		}
		enc = z
	default:
		return fmt.Errorf("unknown compression %q", compression)
	}
	if _, err := io.Copy(enc, src); err != nil {
		enc.Close()
		return fmt.Errorf("compress into %s: %w", path, err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("finish %s: %w", path, err)
	}
	if err := dst.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	return nil
}

// Sealed lists the rotated files that are in their final form, oldest
// first: compressed ones, and plain ones when compression is off. A plain
// file waiting to be compressed is not sealed yet, nor is a compressed one
// still being written (<name>.tmp); a sealed file never changes again
// until retention removes it. The uploader ships exactly these.
func (r *RollingFile) Sealed() ([]spanfile.Rotated, error) {
	rot := r.Rotation()
	compressing := rot.Compression.Compresses()
	dir, base, ext := spanfile.SplitPath(r.Filename)
	entries, err := r.fs().ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list span directory: %w", err)
	}
	var sealed []spanfile.Rotated
	compressedKeys := map[string]bool{}
	var plain []spanfile.Rotated
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		rotated, ok := spanfile.ParseRotated(base, ext, e.Name())
		switch {
		case !ok:
		case rotated.Compression != "":
			sealed = append(sealed, rotated)
			compressedKeys[rotated.Key()] = true
		case !compressing:
			plain = append(plain, rotated)
		}
	}
	for _, p := range plain {
		// A plain file beside its compressed twin is a crash's leftover,
		// which the mill removes.
		if !compressedKeys[p.Key()] {
			sealed = append(sealed, p)
		}
	}
	slices.SortFunc(sealed, spanfile.Rotated.Compare)
	return sealed, nil
}
