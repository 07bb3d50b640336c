package reader

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestParseFileName(t *testing.T) {
	day := time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		want FileName
	}{
		{"spans.jsonl", FileName{Base: "spans", Ext: ".jsonl"}},
		{"spans_2024-05-02.jsonl", FileName{Base: "spans", Ext: ".jsonl", Date: day}},
		{"spans_2024-05-02.3.jsonl", FileName{Base: "spans", Ext: ".jsonl", Date: day, N: 3}},
		{"spans_2024-05-02.3.jsonl.gz", FileName{Base: "spans", Ext: ".jsonl", Date: day, N: 3, Compression: ".gz"}},
		{"spans_2024-05-02.jsonl.zst", FileName{Base: "spans", Ext: ".jsonl", Date: day, Compression: ".zst"}},
		{"trace_span_2024-05-02.log", FileName{Base: "trace_span", Ext: ".log", Date: day}},
		{"spans_2024-13-02.jsonl", FileName{Base: "spans_2024-13-02", Ext: ".jsonl"}},
		{"spans_2024-05-02.0.jsonl", FileName{Base: "spans_2024-05-02.0", Ext: ".jsonl"}},
		{"notes.txt", FileName{Base: "notes", Ext: ".txt"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseFileName(tc.name); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseFileName(%q) = %+v, want %+v", tc.name, got, tc.want)
			}
		})
	}
}

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
