// Package objectstore ships sealed span files to an S3-compatible object
// store and names them there. The key layout is a contract with readers
// (spansink spans, Athena/Trino/ClickHouse tables partitioned by
// year/month/day, people with aws s3 ls), like the on-disk names: it never
// changes without a migration.
//
//	<prefix>/<namespace>/<sink>/<shard>/year=YYYY/month=MM/day=DD/<file name>
//
// <file name> is the rotated file's name on the volume, compressed suffix
// included (spans_2026-12-01.3.jsonl.zst; the names are package spanfile's
// contract), and the day is the one in that name: the day the file's lines
// were written. The Hive-style year=/month=/
// day= segments let query engines and the reader skip whole days without
// listing them. An empty prefix leaves the key starting at <namespace>.
package objectstore

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/spansink/spansink/sink/spanfile"
)

// Location is where one shard's files go: every key of the shard starts
// with Location.Dir().
type Location struct {
	// Prefix is the configured key prefix, without leading or trailing '/'.
	Prefix string
	// Namespace and Sink name the SpanSink.
	Namespace, Sink string
	// Shard is the shard's index.
	Shard int
}

// Dir is the key prefix of the shard's files, ending in '/'.
func (l Location) Dir() string {
	parts := []string{l.Namespace, l.Sink, strconv.Itoa(l.Shard)}
	if p := strings.Trim(l.Prefix, "/"); p != "" {
		parts = append([]string{p}, parts...)
	}
	return strings.Join(parts, "/") + "/"
}

// Key is the object key of a rotated file: name as package spanfile names it.
// It fails for a name that is not a rotated span file's, whose day the key
// could not carry.
func (l Location) Key(name string) (string, error) {
	_, _, rotated, ok := spanfile.ParseName(name)
	if !ok {
		return "", fmt.Errorf("%q is not a rotated span file name", name)
	}
	day, err := time.Parse(time.DateOnly, rotated.Day)
	if err != nil {
		return "", fmt.Errorf("day of %q: %w", name, err)
	}
	return l.Dir() + DayDir(day) + name, nil
}

// DayDir is the partition of a day, "year=YYYY/month=MM/day=DD/".
func DayDir(day time.Time) string {
	return fmt.Sprintf("year=%04d/month=%02d/day=%02d/", day.Year(), int(day.Month()), day.Day())
}

// ParsedKey is an object key taken apart by ParseKey.
type ParsedKey struct {
	// Shard is the key prefix down to the shard, ending in '/':
	// <prefix>/<namespace>/<sink>/<shard>/.
	Shard string
	// Day is the partition's day (UTC midnight).
	Day time.Time
	// Name is the file name.
	Name string
}

// ParseKey takes a key of the layout apart from its end, so that a prefix
// may hold any number of segments. It reports false for a key that does
// not follow the layout or whose name is not a rotated span file's.
func ParseKey(key string) (ParsedKey, bool) {
	segments := strings.Split(key, "/")
	if len(segments) < 5 {
		return ParsedKey{}, false
	}
	n := len(segments)
	name := segments[n-1]
	year, okY := strings.CutPrefix(segments[n-4], "year=")
	month, okM := strings.CutPrefix(segments[n-3], "month=")
	dayOfMonth, okD := strings.CutPrefix(segments[n-2], "day=")
	if !okY || !okM || !okD || len(year) != 4 || len(month) != 2 || len(dayOfMonth) != 2 {
		return ParsedKey{}, false
	}
	day, err := time.Parse(time.DateOnly, year+"-"+month+"-"+dayOfMonth)
	if err != nil {
		return ParsedKey{}, false
	}
	if _, _, rotated, ok := spanfile.ParseName(name); !ok || rotated.Day != day.Format(time.DateOnly) {
		return ParsedKey{}, false
	}
	return ParsedKey{Shard: path.Join(segments[:n-4]...) + "/", Day: day, Name: name}, true
}
