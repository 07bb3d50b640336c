package objectstore

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// manifest remembers which sealed files the store has confirmed, in a
// small JSON-lines file beside them on the volume, so that a restarted
// collector neither uploads again what was confirmed nor skips a file. It
// is only a cache of what the bucket holds: a file it does not list is
// looked up in the bucket before it is uploaded (see Uploader.ship), which
// covers a crash between the store's confirmation and the manifest's
// fsync.
//
// The file starts with "." so that readers (which skip hidden files) and
// the rolling file's mill (which looks only at <base>_ names) leave it
// alone.
type manifest struct {
	path    string
	entries map[string]manifestEntry
}

// manifestEntry is one confirmed upload.
type manifestEntry struct {
	Name       string    `json:"name"`
	Key        string    `json:"key"`
	Size       int64     `json:"size"`
	SHA256     string    `json:"sha256"`
	UploadedAt time.Time `json:"uploadedAt"`
}

// manifestName is the manifest's file name for the active file
// <base><ext>.
func manifestName(base, ext string) string {
	return "." + base + ext + ".uploaded"
}

// loadManifest reads the manifest at path (a missing file is an empty
// manifest) and rewrites it without the entries of files no longer on the
// volume, so it stays as small as the directory. A torn last line, left by
// a crash while it was appended, is dropped: that upload is found in the
// bucket again.
func loadManifest(path string, present func(name string) bool) (*manifest, error) {
	m := &manifest{path: path, entries: map[string]manifestEntry{}}
	f, err := os.Open(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return m, nil
	case err != nil:
		return nil, fmt.Errorf("open the upload manifest: %w", err)
	}
	scanner := bufio.NewScanner(f)
	dropped := false
	for scanner.Scan() {
		var e manifestEntry
		if err := json.Unmarshal(scanner.Bytes(), &e); err != nil || e.Name == "" {
			dropped = true
			continue
		}
		if !present(e.Name) {
			dropped = true
			continue
		}
		m.entries[e.Name] = e
	}
	f.Close()
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("read the upload manifest: %w", err)
	}
	if dropped {
		if err := m.rewrite(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *manifest) confirmed(name string) (manifestEntry, bool) {
	e, ok := m.entries[name]
	return e, ok
}

// add appends an entry and makes it durable before returning: only then
// may the file be removed from the volume.
func (m *manifest) add(e manifestEntry) error {
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(m.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open the upload manifest: %w", err)
	}
	_, werr := f.Write(append(line, '\n'))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("record the upload of %s: %w", e.Name, err)
	}
	m.entries[e.Name] = e
	return nil
}

// forget drops the entry of a file removed from the volume. It is not
// written at once: the next load drops entries of missing files anyway.
func (m *manifest) forget(name string) {
	delete(m.entries, name)
}

// rewrite replaces the file with the entries held, atomically.
func (m *manifest) rewrite() error {
	names := make([]string, 0, len(m.entries))
	for name := range m.entries {
		names = append(names, name)
	}
	sort.Strings(names)
	tmp := m.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("rewrite the upload manifest: %w", err)
	}
	w := bufio.NewWriter(f)
	for _, name := range names {
		line, err := json.Marshal(m.entries[name])
		if err != nil {
			f.Close()
			return err
		}
		w.Write(line)
		w.WriteByte('\n')
	}
	err = errors.Join(w.Flush(), f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(tmp, m.path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(m.path))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rewrite the upload manifest: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
