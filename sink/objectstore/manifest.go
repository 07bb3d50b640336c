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

	"github.com/spansink/spansink/sink/spanfile"
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

// keptDays is how many of the newest days keep the entries of files that
// left the volume (deleteAfterUpload, retention): their names stay taken,
// so that a new rotated file of the same day never gets the name, and so
// the key, of one already in the store (see Uploader.FirstFreeIndex). Lines
// are only written on the current day, so older days need no such memory.
const keptDays = 2

// loadManifest reads the manifest at path (a missing file is an empty
// manifest) and rewrites it without the entries of files no longer on the
// volume, except those of the newest keptDays days, so that it stays about
// as small as the directory. A torn last line, left by a crash while it was
// appended, is dropped: that upload is found in the bucket again.
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
		m.entries[e.Name] = e
	}
	f.Close()
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("read the upload manifest: %w", err)
	}
	recent := m.newestDays(keptDays)
	for name := range m.entries {
		if !present(name) && !recent[dayOf(name)] {
			delete(m.entries, name)
			dropped = true
		}
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

// newestDays are the n newest days of the entries.
func (m *manifest) newestDays(n int) map[string]bool {
	var days []string
	seen := map[string]bool{}
	for name := range m.entries {
		if day := dayOf(name); day != "" && !seen[day] {
			seen[day] = true
			days = append(days, day)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(days)))
	out := map[string]bool{}
	for i := 0; i < n && i < len(days); i++ {
		out[days[i]] = true
	}
	return out
}

// firstFreeIndex is one past the highest index of day's files the store
// confirmed, 0 when there are none.
func (m *manifest) firstFreeIndex(day string) int {
	next := 0
	for name := range m.entries {
		if _, _, rotated, ok := spanfile.ParseName(name); ok && rotated.Day == day && rotated.Index+1 > next {
			next = rotated.Index + 1
		}
	}
	return next
}

// dayOf is the day in a rotated file's name, "" for another name.
func dayOf(name string) string {
	_, _, rotated, ok := spanfile.ParseName(name)
	if !ok {
		return ""
	}
	return rotated.Day
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
