package rollingfile

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/spansink/spansink/sink/record"
	"github.com/spansink/spansink/sink/spanfile"
)

// fakeClock is the injected clock: tests move it across midnight.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

var day1 = time.Date(2031, 3, 14, 23, 59, 0, 0, time.UTC)

func newFile(t *testing.T, dir string, clock *fakeClock) *RollingFile {
	t.Helper()
	return &RollingFile{
		Filename: filepath.Join(dir, "spans.jsonl"),
		Daily:    true,
		Now:      clock.Now,
		Logger:   testr.New(t),
		Metrics:  NewMetrics(prometheus.NewRegistry()),
	}
}

func lines(prefix string, n int) []record.Record {
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{Line: fmt.Appendf(nil, `{"span_id":"%s-%03d"}`, prefix, i), Spans: 1}
	}
	return recs
}

func joined(recs []record.Record) string {
	var b strings.Builder
	for _, r := range recs {
		b.Write(r.Line)
		b.WriteByte('\n')
	}
	return b.String()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func mustWrite(t *testing.T, f *RollingFile, recs []record.Record) {
	t.Helper()
	if err := f.Write(recs); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func mustOpen(t *testing.T, f *RollingFile) {
	t.Helper()
	if err := f.Open(); err != nil {
		t.Fatalf("open: %v", err)
	}
}

// writeActive leaves content in dir as the active file, the way an
// earlier run (or a crash) left it, and returns its path.
func writeActive(t *testing.T, dir, content string) string {
	t.Helper()
	active := filepath.Join(dir, "spans.jsonl")
	if err := os.WriteFile(active, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return active
}

// setModTime stamps path with the fake clock's time of its last write:
// the file system stamps the real time, and the day of a reopened active
// file is judged by it.
func setModTime(t *testing.T, path string, at time.Time) {
	t.Helper()
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

func mustClose(t *testing.T, f *RollingFile) {
	t.Helper()
	if err := f.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func TestReopenAppendsAndNeverTruncates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := &fakeClock{now: day1}
	first, second := lines("a", 3), lines("b", 2)

	f := newFile(t, dir, clock)
	mustWrite(t, f, first)
	mustClose(t, f)
	// The file system stamps the real time; the reopened file must
	// belong to the fake clock's day, or it would (rightly) roll.
	setModTime(t, filepath.Join(dir, "spans.jsonl"), day1)
	f = newFile(t, dir, clock)
	mustOpen(t, f)
	mustWrite(t, f, second)
	mustClose(t, f)

	if got, want := readFile(t, filepath.Join(dir, "spans.jsonl")), joined(first)+joined(second); got != want {
		t.Fatalf("file holds\n%s\nwant\n%s", got, want)
	}
	if err := f.Write(first); err != ErrClosed {
		t.Fatalf("write after close: got %v, want ErrClosed", err)
	}
}

func TestDailyRollover(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := &fakeClock{now: day1}
	before, after := lines("day1", 3), lines("day2", 2)
	f := newFile(t, dir, clock)
	mustWrite(t, f, before)
	clock.Set(day1.Add(2 * time.Minute)) // past midnight UTC
	mustWrite(t, f, after)
	mustClose(t, f)

	if got := readFile(t, filepath.Join(dir, "spans_2031-03-14.jsonl")); got != joined(before) {
		t.Fatalf("rotated file holds %q, want %q", got, joined(before))
	}
	if got := readFile(t, filepath.Join(dir, "spans.jsonl")); got != joined(after) {
		t.Fatalf("active file holds %q, want %q", got, joined(after))
	}
	if got := testutil.ToFloat64(f.Metrics.rotations.WithLabelValues(reasonDaily)); got != 1 {
		t.Fatalf("daily rotations = %v, want 1", got)
	}
}

func TestDaysFollowTheConfiguredZone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// 23:59 UTC is already the next day in Tokyo; 00:01 UTC is the same Tokyo day.
	clock := &fakeClock{now: day1}
	f := newFile(t, dir, clock)
	tokyo := time.FixedZone("JST", 9*3600)
	f.Location = tokyo
	mustWrite(t, f, lines("a", 1))
	clock.Set(day1.Add(2 * time.Minute))
	mustWrite(t, f, lines("b", 1))
	mustClose(t, f)
	if got := listDir(t, dir); !slices.Equal(got, []string{"spans.jsonl"}) {
		t.Fatalf("files = %v, want no rollover within one Tokyo day", got)
	}
}

func TestRestartAfterMidnightRollsYesterdaysFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := &fakeClock{now: day1}
	before, after := lines("before", 2), lines("after", 2)
	f := newFile(t, dir, clock)
	mustWrite(t, f, before)
	mustClose(t, f)
	active := filepath.Join(dir, "spans.jsonl")
	setModTime(t, active, day1)

	clock.Set(day1.Add(8 * time.Hour))
	f = newFile(t, dir, clock)
	mustWrite(t, f, after)
	mustClose(t, f)

	if got := readFile(t, filepath.Join(dir, "spans_2031-03-14.jsonl")); got != joined(before) {
		t.Fatalf("rotated file holds %q, want %q", got, joined(before))
	}
	if got := readFile(t, active); got != joined(after) {
		t.Fatalf("active file holds %q, want %q", got, joined(after))
	}
}

func TestSizeRotationNumbersFilesOfADay(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := &fakeClock{now: day1}
	f := newFile(t, dir, clock)
	batch := lines("x", 4) // 4 lines of 20 bytes
	f.MaxSize = int64(len(joined(batch))) + 30
	var all []record.Record
	for i := range 4 {
		b := lines(fmt.Sprint(i), 4)
		all = append(all, b...)
		mustWrite(t, f, b)
	}
	mustClose(t, f)

	order := []string{"spans_2031-03-14.jsonl", "spans_2031-03-14.1.jsonl", "spans_2031-03-14.2.jsonl", "spans.jsonl"}
	var got strings.Builder
	for _, name := range order {
		data := readFile(t, filepath.Join(dir, name))
		if int64(len(data)) > f.MaxSize {
			t.Errorf("%s is %d bytes, over the limit of %d", name, len(data), f.MaxSize)
		}
		got.WriteString(data)
	}
	if got.String() != joined(all) {
		t.Fatalf("files in order hold\n%s\nwant\n%s", got.String(), joined(all))
	}
	if names := listDir(t, dir); len(names) != len(order) {
		t.Fatalf("files = %v, want %v", names, order)
	}
	if got := testutil.ToFloat64(f.Metrics.rotations.WithLabelValues(reasonSize)); got != 3 {
		t.Fatalf("size rotations = %v, want 3", got)
	}
}

func TestDailyRollAfterSizeRotationsContinuesTheNumbers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := &fakeClock{now: day1}
	f := newFile(t, dir, clock)
	f.MaxSize = 30
	mustWrite(t, f, lines("a", 1))
	mustWrite(t, f, lines("b", 1)) // size rotation: spans_D.jsonl
	clock.Set(day1.Add(time.Hour))
	mustWrite(t, f, lines("c", 1)) // daily roll: spans_D.1.jsonl
	mustClose(t, f)
	want := []string{"spans.jsonl", "spans_2031-03-14.1.jsonl", "spans_2031-03-14.jsonl"}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files = %v, want %v", got, want)
	}
	if got := readFile(t, filepath.Join(dir, "spans_2031-03-14.1.jsonl")); got != joined(lines("b", 1)) {
		t.Fatalf("second file of the day holds %q", got)
	}
}

func TestRetention(t *testing.T) {
	t.Parallel()
	existing := []string{
		"spans_2031-03-01.jsonl",
		"spans_2031-03-10.jsonl",
		"spans_2031-03-12.jsonl.gz",
		"spans_2031-03-13.jsonl",
		"spans_2031-03-13.1.jsonl",
		"spans_2031-03-13.2.jsonl.zst",
		"spans_backup.jsonl", // unknown: reported, kept
		"collector.yaml",     // not ours at all
	}
	cases := []struct {
		name     string
		maxFiles int
		maxAge   time.Duration
		want     []string
	}{
		{name: "keep all", want: existing},
		{name: "max files", maxFiles: 2, want: []string{"spans_2031-03-13.1.jsonl", "spans_2031-03-13.2.jsonl.zst", "spans_backup.jsonl", "collector.yaml"}},
		{name: "max age", maxAge: 72 * time.Hour, want: []string{"spans_2031-03-12.jsonl.gz", "spans_2031-03-13.jsonl", "spans_2031-03-13.1.jsonl", "spans_2031-03-13.2.jsonl.zst", "spans_backup.jsonl", "collector.yaml"}},
		{name: "both", maxFiles: 4, maxAge: 24 * time.Hour, want: []string{"spans_2031-03-13.jsonl", "spans_2031-03-13.1.jsonl", "spans_2031-03-13.2.jsonl.zst", "spans_backup.jsonl", "collector.yaml"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for _, name := range existing {
				if err := os.WriteFile(filepath.Join(dir, name), []byte("{}\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			f := newFile(t, dir, &fakeClock{now: day1})
			f.MaxFiles, f.MaxAge = tc.maxFiles, tc.maxAge
			mustOpen(t, f)
			mustClose(t, f)
			want := append([]string{"spans.jsonl"}, tc.want...)
			slices.Sort(want)
			if got := listDir(t, dir); !slices.Equal(got, want) {
				t.Fatalf("files = %v\nwant %v", got, want)
			}
			if got := testutil.ToFloat64(f.Metrics.unknownFiles); got != 1 {
				t.Fatalf("unknown files = %v, want 1", got)
			}
		})
	}
}

func TestCompressionOfRotatedFiles(t *testing.T) {
	t.Parallel()
	cases := []struct {
		compression spanfile.Compression
		suffix      string
		open        func(io.Reader) (io.Reader, error)
	}{
		{spanfile.Gzip, ".gz", func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }},
		{spanfile.Zstd, ".zst", func(r io.Reader) (io.Reader, error) { return zstd.NewReader(r) }},
	}
	for _, tc := range cases {
		t.Run(string(tc.compression), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			clock := &fakeClock{now: day1}
			f := newFile(t, dir, clock)
			f.Compression = tc.compression
			before := lines("before", 50)
			mustWrite(t, f, before)
			clock.Set(day1.Add(time.Hour))
			mustWrite(t, f, lines("after", 1))
			mustClose(t, f) // waits for the background compression

			want := []string{"spans.jsonl", "spans_2031-03-14.jsonl" + tc.suffix}
			if got := listDir(t, dir); !slices.Equal(got, want) {
				t.Fatalf("files = %v, want %v", got, want)
			}
			compressed, err := os.ReadFile(filepath.Join(dir, want[1]))
			if err != nil {
				t.Fatal(err)
			}
			dec, err := tc.open(bytes.NewReader(compressed))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := io.ReadAll(dec)
			if err != nil {
				t.Fatal(err)
			}
			if string(plain) != joined(before) {
				t.Fatalf("decompressed file holds %q, want %q", plain, joined(before))
			}
		})
	}
}

func TestCompressionLeftoversFromACrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		// Crash after the rename, before removing the plain file.
		"spans_2031-03-12.jsonl":    "{}\n",
		"spans_2031-03-12.jsonl.gz": "whole",
		// Crash in the middle of writing the compressed file.
		"spans_2031-03-13.jsonl":        "{\"a\":1}\n",
		"spans_2031-03-13.jsonl.gz.tmp": "half",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := newFile(t, dir, &fakeClock{now: day1})
	mustOpen(t, f)
	mustClose(t, f)
	want := []string{"spans.jsonl", "spans_2031-03-12.jsonl.gz", "spans_2031-03-13.jsonl"}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files = %v, want %v", got, want)
	}
}

func TestOpenCutsATornLastLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, content, kept string
	}{
		{"whole lines", "{\"a\":1}\n{\"b\":2}\n", "{\"a\":1}\n{\"b\":2}\n"},
		{"torn tail", "{\"a\":1}\n{\"b\":2}\n{\"c\":", "{\"a\":1}\n{\"b\":2}\n"},
		{"only a torn line", "{\"c\":", ""},
		{"zeros after a power loss", "{\"a\":1}\n\x00\x00\x00", "{\"a\":1}\n"},
		{"torn tail past one read chunk", "{\"a\":1}\n" + strings.Repeat("x", tailChunk+10), "{\"a\":1}\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			active := writeActive(t, dir, tc.content)
			f := newFile(t, dir, &fakeClock{now: time.Now()})
			mustOpen(t, f)
			next := lines("next", 1)
			mustWrite(t, f, next)
			mustClose(t, f)
			if got, want := readFile(t, active), tc.kept+joined(next); got != want {
				t.Fatalf("file holds %q, want %q", got, want)
			}
			wantRepairs := 0.0
			if tc.kept != tc.content {
				wantRepairs = 1
			}
			if got := testutil.ToFloat64(f.Metrics.tornTails); got != wantRepairs {
				t.Fatalf("repairs = %v, want %v", got, wantRepairs)
			}
			if got := testutil.ToFloat64(f.Metrics.tornTailBytes); got != float64(len(tc.content)-len(tc.kept)) {
				t.Fatalf("bytes cut = %v, want %d", got, len(tc.content)-len(tc.kept))
			}
		})
	}
}
