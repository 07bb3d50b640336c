package rollingfile

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spansink/spansink/sink/storage"
)

// FS is the file system boundary of the write path: everything a
// RollingFile does to the volume goes through it, the active file's writes,
// fsyncs and rotations and the background retention and compression of
// rotated files alike. The default is the real file system; tests put a
// faulty one in its place to make calls fail the way a full or broken
// volume does (ENOSPC after part of a write, EIO, EROFS), which no real
// test volume does on demand, and such a fake sees every call only if none
// goes around it.
type FS interface {
	// OpenFile opens a file as os.OpenFile does.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// Rename renames a file as os.Rename does.
	Rename(oldpath, newpath string) error
	// Remove removes a file as os.Remove does.
	Remove(name string) error
	// MkdirAll creates a directory and its parents as os.MkdirAll does.
	MkdirAll(path string, perm os.FileMode) error
	// SyncDir makes the entries of a directory (creations, renames) durable.
	SyncDir(dir string) error
	// ReadDir lists a directory as os.ReadDir does.
	ReadDir(dir string) ([]os.DirEntry, error)
	// Stat describes a file as os.Stat does.
	Stat(name string) (os.FileInfo, error)
	// Chtimes sets a file's access and modification times as os.Chtimes does.
	Chtimes(name string, atime, mtime time.Time) error
}

// File is an open file of an FS; *os.File is one.
type File interface {
	io.Reader
	io.Writer
	io.ReaderAt
	io.Closer
	Name() string
	Stat() (os.FileInfo, error)
	Sync() error
	Truncate(size int64) error
}

// OSFS is the real file system.
type OSFS struct{}

var _ FS = OSFS{}

// OpenFile calls os.OpenFile.
func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		// A nil *os.File in a File interface would not be nil.
		return nil, err
	}
	return f, nil
}

// Rename calls os.Rename.
func (OSFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// Remove calls os.Remove.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// MkdirAll calls os.MkdirAll.
func (OSFS) MkdirAll(path string, perm os.FileMode) error { return os.MkdirAll(path, perm) }

// ReadDir calls os.ReadDir.
func (OSFS) ReadDir(dir string) ([]os.DirEntry, error) { return os.ReadDir(dir) }

// Stat calls os.Stat.
func (OSFS) Stat(name string) (os.FileInfo, error) { return os.Stat(name) }

// Chtimes calls os.Chtimes.
func (OSFS) Chtimes(name string, atime, mtime time.Time) error {
	return os.Chtimes(name, atime, mtime)
}

// SyncDir opens dir and fsyncs it, which makes renames and file creations
// in it durable.
func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s for fsync: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// dropFilePages drops written pages of f from the page cache when it is a
// real file; other Files (test fakes) have no pages to drop.
func dropFilePages(f File, end int64) {
	if osFile, ok := f.(*os.File); ok {
		dropPages(osFile, end)
	}
}

// The probe file is hidden and named after the active file, so neither
// readers nor retention take it for a span file; it is removed at once.
const (
	probeSuffix = ".probe"
	probeBytes  = 4096
)

var _ storage.Prober = (*RollingFile)(nil)
