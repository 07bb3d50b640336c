package reader

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// compressedSuffixes are the suffixes the collector appends to compressed
// rotated files.
var compressedSuffixes = []string{".gz", ".zst"}

// FileName is a span file's name taken apart by the naming contract:
// `<base><ext>` is active, `<base>_<YYYY-MM-DD><ext>` a daily rollover and
// `<base>_<YYYY-MM-DD>.<N><ext>` a further size rotation of that day, each
// optionally followed by a compression suffix.
type FileName struct {
	// Base and Ext are the active file's stem and extension.
	Base string
	Ext  string
	// Date is the rollover day; zero for the active file.
	Date time.Time
	// N is the size-rotation number within the day; 0 for the day's first file.
	N int
	// Compression is ".gz", ".zst" or empty.
	Compression string
}

// Active tells whether the name is the active (not yet rotated) file.
func (n FileName) Active() bool { return n.Date.IsZero() }

// ParseFileName takes a file's base name apart. Names that do not follow the
// contract parse as active files with their own base, so any file can be read.
func ParseFileName(name string) FileName {
	var out FileName
	for _, suffix := range compressedSuffixes {
		if strings.HasSuffix(name, suffix) {
			out.Compression = suffix
			name = strings.TrimSuffix(name, suffix)
			break
		}
	}
	out.Ext = filepath.Ext(name)
	stem := strings.TrimSuffix(name, out.Ext)
	if dot := strings.LastIndexByte(stem, '.'); dot > 0 {
		if n, err := strconv.Atoi(stem[dot+1:]); err == nil && n > 0 {
			if base, date, ok := splitDate(stem[:dot]); ok {
				out.Base, out.Date, out.N = base, date, n
				return out
			}
		}
	}
	if base, date, ok := splitDate(stem); ok {
		out.Base, out.Date = base, date
		return out
	}
	out.Base = stem
	return out
}

// splitDate splits "<base>_<YYYY-MM-DD>".
func splitDate(stem string) (string, time.Time, bool) {
	const dateLen = len("2006-01-02")
	if len(stem) < dateLen+2 || stem[len(stem)-dateLen-1] != '_' {
		return "", time.Time{}, false
	}
	date, err := time.Parse("2006-01-02", stem[len(stem)-dateLen:])
	if err != nil {
		return "", time.Time{}, false
	}
	return stem[:len(stem)-dateLen-1], date, true
}

// ActivePath is where the collector writes for a configured path: the
// extension defaults to ".log" when the path has none, as in DB-GPT.
func ActivePath(path string) string {
	if filepath.Ext(path) == "" {
		return path + ".log"
	}
	return path
}

// Siblings lists the active file for path and its rotated siblings that
// exist, in time order. A missing active file is not an error as long as
// some rotated file exists.
func Siblings(path string) ([]string, error) {
	active := ActivePath(path)
	dir := filepath.Dir(active)
	want := ParseFileName(filepath.Base(active))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list span files in %s: %w", dir, err)
	}
	var files []string
	for _, entry := range entries {
		if entry.IsDir() {
			continue
		}
		got := ParseFileName(entry.Name())
		if got.Base != want.Base || got.Ext != want.Ext {
			continue
		}
		if got.Active() && got.Compression != "" {
			continue
		}
		files = append(files, filepath.Join(dir, entry.Name()))
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no span files for %s: %w", active, fs.ErrNotExist)
	}
	return Order(files), nil
}

// Resolve turns command-line inputs (files, directories and glob patterns)
// into the files to read, in time order. A directory contributes every
// regular, non-hidden file in it.
func Resolve(inputs []string) ([]string, error) {
	seen := map[string]bool{}
	var files []string
	add := func(path string) {
		clean := filepath.Clean(path)
		if !seen[clean] {
			seen[clean] = true
			files = append(files, clean)
		}
	}
	for _, input := range inputs {
		matches := []string{input}
		if strings.ContainsAny(input, "*?[") {
			var err error
			matches, err = filepath.Glob(input)
			if err != nil {
				return nil, fmt.Errorf("bad pattern %q: %w", input, err)
			}
			if len(matches) == 0 {
				return nil, fmt.Errorf("no files match %q", input)
			}
		}
		for _, match := range matches {
			info, err := os.Stat(match)
			if err != nil {
				return nil, fmt.Errorf("span input: %w", err)
			}
			if !info.IsDir() {
				add(match)
				continue
			}
			entries, err := os.ReadDir(match)
			if err != nil {
				return nil, fmt.Errorf("span input: %w", err)
			}
			for _, entry := range entries {
				if entry.Type().IsRegular() && !strings.HasPrefix(entry.Name(), ".") {
					add(filepath.Join(match, entry.Name()))
				}
			}
		}
	}
	if len(files) == 0 {
		return nil, errors.New("no span files given")
	}
	return Order(files), nil
}

// Order sorts span files into the order they were written: rotated files by
// day, then by rotation number, active files last. When a rotated file exists
// both plain and compressed (the collector is compressing it right now), only
// the plain one is kept, so no span is read twice.
func Order(files []string) []string {
	type entry struct {
		path string
		name FileName
	}
	plain := map[string]bool{}
	entries := make([]entry, 0, len(files))
	for _, path := range files {
		name := ParseFileName(filepath.Base(path))
		if name.Compression == "" {
			plain[path] = true
		}
		entries = append(entries, entry{path: path, name: name})
	}
	kept := entries[:0]
	for _, e := range entries {
		if e.name.Compression != "" && plain[strings.TrimSuffix(e.path, e.name.Compression)] {
			continue
		}
		kept = append(kept, e)
	}
	sort.SliceStable(kept, func(i, j int) bool {
		a, b := kept[i].name, kept[j].name
		if a.Active() != b.Active() {
			return !a.Active()
		}
		if !a.Date.Equal(b.Date) {
			return a.Date.Before(b.Date)
		}
		if a.N != b.N {
			return a.N < b.N
		}
		return kept[i].path < kept[j].path
	})
	out := make([]string, len(kept))
	for i, e := range kept {
		out[i] = e.path
	}
	return out
}
