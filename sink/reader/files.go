package reader

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/spansink/spansink/sink/spanfile"
)

// The naming contract of span files is package spanfile, which the writer
// makes its names with and the reader takes them apart with, so the reader
// finds exactly the files the collector writes without depending on the
// writer.

// Siblings lists the files the collector writes for the configured path (the
// active file and its rotated, possibly compressed, siblings) that exist, in
// time order. A missing active file is not an error as long as some rotated
// file exists.
func Siblings(path string) ([]string, error) {
	dir, base, ext := spanfile.SplitPath(path)
	active := base + ext
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list span files in %s: %w", dir, err)
	}
	var files []spanFile
	for _, entry := range entries {
		if entry.IsDir() {
			continue
		}
		name := entry.Name()
		// The active file's own name may look like a rotated one
		// ("spans_2024-01-01.jsonl"); knowing it settles which it is.
		f := spanFile{path: filepath.Join(dir, name), dir: dir, base: base, ext: ext, active: name == active}
		var rotated bool
		if !f.active {
			if f.rotated, rotated = spanfile.ParseRotated(base, ext, name); !rotated {
				continue
			}
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no span files for %s: %w", filepath.Join(dir, active), fs.ErrNotExist)
	}
	return order(files), nil
}

// spanFile is a span file's path with its name taken apart.
type spanFile struct {
	path, dir, base, ext string
	rotated              spanfile.Rotated
	active               bool
}

// Resolve turns command-line inputs (files, directories and glob patterns)
// into the files to read, grouped into one stream per writer (see Streams).
// A directory contributes every regular, non-hidden file in it, so several
// shards' directories, or a glob matching them, give one stream per shard.
func Resolve(inputs []string) ([][]string, error) {
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
			// A compressed file still being written holds lines that are
			// also in its plain file; only a file named outright is read.
			matches = slices.DeleteFunc(matches, func(m string) bool { return spanfile.Temporary(filepath.Base(m)) })
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
				if entry.Type().IsRegular() && !strings.HasPrefix(entry.Name(), ".") && !spanfile.Temporary(entry.Name()) {
					add(filepath.Join(match, entry.Name()))
				}
			}
		}
	}
	if len(files) == 0 {
		return nil, errors.New("no span files given")
	}
	return Streams(files), nil
}

// writer identifies the collector that wrote a span file: its directory and
// its active file's name. Shards write the same names into their own
// directories, so the directory is part of it.
type writer struct{ dir, active string }

// Streams groups span files by the writer that made them and puts each
// group in the order it was written (see Order); the groups come in the
// order of their first files in paths. Files of the same name in two
// directories (two shards) are two writers' files, and both are kept.
//
// Names order one writer's files in time, but not two writers': the day in
// a name compares across shards, the size-rotation number does not (a busy
// shard's spans_2024-05-02.7 may be older than a quiet one's
// spans_2024-05-02.1). So the streams are not put in one order here; the
// Scanner merges their records by time (see ScanStreams).
func Streams(paths []string) [][]string {
	index := map[writer]int{}
	var groups [][]spanFile
	for _, path := range paths {
		f := parseSpanFile(path)
		key := writer{dir: f.dir, active: f.base + f.ext}
		i, ok := index[key]
		if !ok {
			i = len(groups)
			index[key] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], f)
	}
	streams := make([][]string, len(groups))
	for i, group := range groups {
		streams[i] = order(group)
	}
	return streams
}

// Order sorts one writer's span files into the order they were written:
// rotated files by day, then by rotation number, active files last (for
// several writers' files, see Streams). When a rotated file exists both
// plain and compressed (the collector is compressing it right now), only the
// plain one is kept, so no span is read twice.
func Order(paths []string) []string {
	files := make([]spanFile, len(paths))
	for i, path := range paths {
		files[i] = parseSpanFile(path)
	}
	return order(files)
}

// parseSpanFile takes a span file's name apart without knowing its active
// file, as ParseName does.
func parseSpanFile(path string) spanFile {
	dir, name := filepath.Split(path)
	base, ext, rotated, ok := spanfile.ParseName(name)
	return spanFile{path: path, dir: filepath.Clean(dir), base: base, ext: ext, rotated: rotated, active: !ok}
}

func order(files []spanFile) []string {
	present := map[string]bool{}
	for _, f := range files {
		present[f.path] = true
	}
	kept := files[:0:0]
	for _, f := range files {
		if !f.active && f.rotated.Compression != "" && present[filepath.Join(f.dir, spanfile.RotatedName(f.base, f.ext, f.rotated.Day, f.rotated.Index))] {
			continue
		}
		kept = append(kept, f)
	}
	sort.SliceStable(kept, func(i, j int) bool {
		a, b := kept[i], kept[j]
		if a.active != b.active {
			return !a.active
		}
		if !a.active && (a.rotated.Day != b.rotated.Day || a.rotated.Index != b.rotated.Index) {
			return a.rotated.Before(b.rotated)
		}
		return a.path < b.path
	})
	out := make([]string, len(kept))
	for i, f := range kept {
		out[i] = f.path
	}
	return out
}
