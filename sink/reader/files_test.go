package reader

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/record"
	"github.com/spansink/spansink/sink/storage/rollingfile"
)

// TestOrder checks the time order of the naming contract, and that a rotated
// file caught both plain and compressed (mid-compression) is read once.
func TestOrder(t *testing.T) {
	got := Order([]string{
		"d/spans.jsonl",
		"d/spans_2024-05-02.1.jsonl.gz",
		"d/spans_2024-05-02.jsonl.zst",
		"d/spans_2024-05-01.jsonl",
		"d/spans_2024-05-01.jsonl.gz",
		"d/spans_2024-05-02.10.jsonl",
		"d/spans_2024-05-02.2.jsonl",
	})
	want := []string{
		"d/spans_2024-05-01.jsonl",
		"d/spans_2024-05-02.jsonl.zst",
		"d/spans_2024-05-02.1.jsonl.gz",
		"d/spans_2024-05-02.2.jsonl",
		"d/spans_2024-05-02.10.jsonl",
		"d/spans.jsonl",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Order = %q\nwant %q", got, want)
	}
}

func TestSiblings(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"spans.log", "spans_2024-05-01.log.gz", "spans_2024-05-01.1.log", "other_2024-05-01.log", "spans.jsonl", "spans.log.gz"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A configured path without an extension gets ".log", as in DB-GPT.
	got, err := Siblings(filepath.Join(dir, "spans"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "spans_2024-05-01.log.gz"), filepath.Join(dir, "spans_2024-05-01.1.log"), filepath.Join(dir, "spans.log")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Siblings = %q\nwant %q", got, want)
	}
	if _, err := Siblings(filepath.Join(dir, "missing.jsonl")); err == nil {
		t.Error("Siblings of a path with no files: want an error")
	}
}

// TestSiblingsFollowTheWriter runs the collector's rolling file over
// several days and sizes, with compression, for configured paths whose
// names are unusual, and checks that the reader lists exactly the files the
// writer made, and reads every line back in the order written.
func TestSiblingsFollowTheWriter(t *testing.T) {
	for _, path := range []string{"spans.jsonl", "spans", ".jsonl", "spans.gz", "my_spans.v2.jsonl", "spans_2024-01-01.jsonl"} {
		t.Run(path, func(t *testing.T) {
			dir := t.TempDir()
			// The clock is read by the writer's background compression too.
			var now atomic.Int64
			now.Store(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC).UnixNano())
			w := &rollingfile.RollingFile{
				Filename:    filepath.Join(dir, path),
				Daily:       true,
				MaxSize:     64,
				Compression: config.CompressionGzip,
				Now:         func() time.Time { return time.Unix(0, now.Load()).UTC() },
			}
			var want []string
			for i := range 12 {
				if i%4 == 0 {
					now.Add(int64(24 * time.Hour))
				}
				line := fmt.Sprintf(`{"span_type":"base","trace_id":"t","span_id":"s%02d","parent_span_id":null,"operation_name":"op","start_time":null,"end_time":null,"metadata":null}`, i)
				if err := w.Write([]record.Record{{Line: []byte(line), Spans: 1}}); err != nil {
					t.Fatal(err)
				}
				want = append(want, line)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var written []string
			for _, e := range entries {
				written = append(written, filepath.Join(dir, e.Name()))
			}
			files, err := Siblings(filepath.Join(dir, path))
			if err != nil {
				t.Fatal(err)
			}
			if got := slices.Sorted(slices.Values(files)); !reflect.DeepEqual(got, written) {
				t.Fatalf("Siblings = %q\nthe writer made %q", files, written)
			}
			var got []string
			if _, err := (&Scanner{NeedMetadata: true}).Scan(context.Background(), files, func(s *Span) error {
				got = append(got, s.SpanID)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			var wantIDs []string
			for i := range want {
				wantIDs = append(wantIDs, fmt.Sprintf("s%02d", i))
			}
			if !reflect.DeepEqual(got, wantIDs) {
				t.Errorf("read back %q, want %q", got, wantIDs)
			}
		})
	}
}

// TestResolveSkipsCompressionInProgress checks that a directory or glob
// never yields a half-written compressed file, whose lines are also in the
// plain file beside it.
func TestResolveSkipsCompressionInProgress(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"spans_2024-05-01.jsonl", "spans_2024-05-01.jsonl.gz.tmp", "spans.tmp"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// spans.tmp is an active file of its own, so a stream of its own.
	want := [][]string{{filepath.Join(dir, "spans.tmp")}, {filepath.Join(dir, "spans_2024-05-01.jsonl")}}
	for _, input := range []string{dir, filepath.Join(dir, "*")} {
		got, err := Resolve([]string{input})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Resolve(%q) = %q, want %q", input, got, want)
		}
	}
}

func TestParseTimeFlag(t *testing.T) {
	now := time.Date(2024, 5, 2, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{in: "15m", want: now.Add(-15 * time.Minute)},
		{in: "2h30m", want: now.Add(-150 * time.Minute)},
		{in: "2024-05-01T10:00:00Z", want: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)},
		{in: "2024-05-01T12:00:00+02:00", want: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)},
		{in: "2024-05-01 10:00:00", want: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)},
		{in: "2024-05-01 10:00:00.250", want: time.Date(2024, 5, 1, 10, 0, 0, 250e6, time.UTC)},
		{in: "2024-05-01", want: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)},
		{in: "-5m", wantErr: true},
		{in: "yesterday", wantErr: true},
		{in: "2024-05-01 25:00:00", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTimeFlag(tc.in, now)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseTimeFlag(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			}
			if !tc.wantErr && !got.Equal(tc.want) {
				t.Errorf("ParseTimeFlag(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseSpanTime(t *testing.T) {
	cases := []struct {
		in   string
		want time.Time
	}{
		{"2024-05-01 10:00:00.123", time.Date(2024, 5, 1, 10, 0, 0, 123e6, time.UTC)},
		{"2024-05-01 10:00:00.123456", time.Date(2024, 5, 1, 10, 0, 0, 123456e3, time.UTC)},
		{"2024-05-01 10:00:00", time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)},
		{"2024-05-01T10:00:00.5Z", time.Date(2024, 5, 1, 10, 0, 0, 5e8, time.UTC)},
	}
	for _, tc := range cases {
		got, err := parseSpanTime([]byte(tc.in))
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseSpanTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "2024-05-01 10:00:00.", "2024-05-01 10:0x:00", "May 1"} {
		if _, err := parseSpanTime([]byte(bad)); err == nil {
			t.Errorf("parseSpanTime(%q): want an error", bad)
		}
	}
}

// TestStreamsKeepEachShardsFiles checks that files of the same names in
// several shards' directories are all kept, one stream per shard and active
// file, each in its own naming order, with the compressed twin dropped only
// where its plain file is.
func TestStreamsKeepEachShardsFiles(t *testing.T) {
	got := Streams([]string{
		"shard-0/spans.jsonl",
		"shard-0/spans_2024-05-02.1.jsonl",
		"shard-0/spans_2024-05-02.jsonl",
		"shard-1/spans.jsonl",
		"shard-1/spans_2024-05-02.jsonl",
		"shard-1/spans_2024-05-02.jsonl.gz",
		"shard-0/other.log",
		"shard-2/spans_2024-05-02.jsonl.gz",
		"shard-2/spans.jsonl",
	})
	want := [][]string{
		{"shard-0/spans_2024-05-02.jsonl", "shard-0/spans_2024-05-02.1.jsonl", "shard-0/spans.jsonl"},
		{"shard-1/spans_2024-05-02.jsonl", "shard-1/spans.jsonl"},
		{"shard-0/other.log"},
		{"shard-2/spans_2024-05-02.jsonl.gz", "shard-2/spans.jsonl"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Streams = %q\nwant %q", got, want)
	}
}

// TestResolveShardDirectories checks that several directories, or a glob
// matching them, give one stream per directory, with the same names kept in
// each.
func TestResolveShardDirectories(t *testing.T) {
	root := t.TempDir()
	var want [][]string
	for _, shard := range []string{"shard-0", "shard-1", "shard-2"} {
		dir := filepath.Join(root, shard)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var files []string
		for _, name := range []string{"spans_2024-05-01.jsonl.zst", "spans_2024-05-02.jsonl", "spans.jsonl"} {
			if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			files = append(files, filepath.Join(dir, name))
		}
		want = append(want, files)
	}
	// A subdirectory (lost+found on a fresh volume) is not a span file.
	if err := os.Mkdir(filepath.Join(root, "shard-0", "lost+found"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, inputs := range [][]string{
		{filepath.Join(root, "shard-0"), filepath.Join(root, "shard-1"), filepath.Join(root, "shard-2")},
		{filepath.Join(root, "shard-*")},
		{filepath.Join(root, "shard-*", "spans*")},
		{filepath.Join(root, "shard-0") + "/", filepath.Join(root, "shard-0"), filepath.Join(root, "shard-[12]")},
	} {
		got, err := Resolve(inputs)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Resolve(%q) = %q\nwant %q", inputs, got, want)
		}
	}
}
