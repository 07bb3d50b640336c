package spanfile

import (
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DayLayout is the date in rotated file names, as time.Format writes it.
const DayLayout = "2006-01-02"

// TmpSuffix marks a compressed rotated file that is still being written:
// <final name>.tmp.
const TmpSuffix = ".tmp"

// SplitPath splits the active file's path into its directory, base name and
// extension, defaulting the extension to ".log" as DB-GPT does.
func SplitPath(path string) (dir, base, ext string) {
	dir, file := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ext = filepath.Ext(file)
	base = strings.TrimSuffix(file, ext)
	if ext == "" || base == "" {
		// A name such as ".jsonl" is all base: it has no extension.
		base, ext = file, ".log"
	}
	return filepath.Clean(dir), base, ext
}

// ActivePath returns the path of the active file the writer uses for the
// configured path: SplitPath's pieces put back together, so "spans" becomes
// "spans.log" and ".jsonl" becomes ".jsonl.log".
func ActivePath(path string) string {
	dir, base, ext := SplitPath(path)
	return filepath.Join(dir, base+ext)
}

// Temporary reports whether name is a compressed rotated file still being
// written, <final name>.tmp (see the package documentation); readers skip
// such files, whose lines are still in the plain rotated file.
func Temporary(name string) bool {
	final, ok := strings.CutSuffix(name, TmpSuffix)
	if !ok {
		return false
	}
	_, _, r, ok := ParseName(final)
	return ok && r.Compression != ""
}

// Rotated describes one rotated file's name.
type Rotated struct {
	// Name is the file name, without directory.
	Name string
	// Day is the day the file's lines were written, as YYYY-MM-DD.
	Day string
	// Index orders the files of one day: 0 for the un-numbered file, then N.
	Index int
	// Compression is Gzip or Zstd for a compressed file, the zero value
	// for a plain one.
	Compression Compression
}

// RotatedName returns the name of a day's index-th rotated file, before
// compression appends its suffix.
func RotatedName(base, ext, day string, index int) string {
	if index == 0 {
		return base + "_" + day + ext
	}
	return base + "_" + day + "." + strconv.Itoa(index) + ext
}

// ParseRotated reports whether name is a rotated file of the active file
// <base><ext>, and what it says.
func ParseRotated(base, ext, name string) (Rotated, bool) {
	r := Rotated{Name: name}
	rest, ok := strings.CutPrefix(name, base+"_")
	if !ok || len(rest) < len(DayLayout) {
		return Rotated{}, false
	}
	r.Day = rest[:len(DayLayout)]
	if _, err := time.Parse(DayLayout, r.Day); err != nil {
		return Rotated{}, false
	}
	rest = rest[len(DayLayout):]
	switch {
	case strings.HasSuffix(rest, ext+gzipSuffix):
		r.Compression, rest = Gzip, strings.TrimSuffix(rest, gzipSuffix)
	case strings.HasSuffix(rest, ext+zstdSuffix):
		r.Compression, rest = Zstd, strings.TrimSuffix(rest, zstdSuffix)
	}
	rest, ok = strings.CutSuffix(rest, ext)
	if !ok {
		return Rotated{}, false
	}
	if rest == "" {
		return r, true
	}
	digits, ok := strings.CutPrefix(rest, ".")
	if !ok || digits == "" || digits[0] == '0' {
		return Rotated{}, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 {
		return Rotated{}, false
	}
	r.Index = n
	return r, true
}

// ParseName takes apart the name of a span file whose active file is not
// known, as a reader given files by hand must: a rotated file
// <base>_<YYYY-MM-DD>[.<N>]<ext>[.gz|.zst] yields its active file's base and
// extension and what ParseRotated says, with ok true. Any other name is an
// active file, split as SplitPath splits a configured path, with ok false.
// When a base itself ends in _<YYYY-MM-DD>, the rightmost date wins.
func ParseName(name string) (base, ext string, r Rotated, ok bool) {
	for i := strings.LastIndexByte(name, '_'); i > 0; i = strings.LastIndexByte(name[:i], '_') {
		base = name[:i]
		// The extension is the one before a compression suffix, unless
		// the extension is itself ".gz" or ".zst" (configs before those
		// were refused).
		plain := name
		for _, suffix := range [...]string{gzipSuffix, zstdSuffix} {
			plain = strings.TrimSuffix(plain, suffix)
		}
		for _, ext := range [...]string{filepath.Ext(plain), filepath.Ext(name)} {
			if ext == "" {
				continue
			}
			if r, ok := ParseRotated(base, ext, name); ok {
				return base, ext, r, true
			}
		}
	}
	_, base, ext = SplitPath(name)
	return base, ext, Rotated{}, false
}

// Before orders rotated files of one active file oldest first: by day, and
// within a day the un-numbered file, then N ascending.
func (r Rotated) Before(o Rotated) bool {
	if r.Day != o.Day {
		return r.Day < o.Day
	}
	return r.Index < o.Index
}

// Compare is Before as slices.SortFunc wants it: negative when r comes
// first, positive when o does, 0 for the same logical file (a file and its
// compressed twin).
func (r Rotated) Compare(o Rotated) int {
	switch {
	case r.Before(o):
		return -1
	case o.Before(r):
		return 1
	}
	return 0
}

// Key identifies the logical file behind a rotated file, the same for the
// plain file and its compressed twin, so that a reader or the writer can
// tell when both are there (a compression in progress or cut short).
func (r Rotated) Key() string {
	return r.Day + "." + strconv.Itoa(r.Index)
}
