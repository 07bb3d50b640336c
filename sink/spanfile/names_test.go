package spanfile

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestParseName checks names taken apart without knowing the active file,
// as the span reader does for files given by hand.
func TestParseName(t *testing.T) {
	cases := []struct {
		name      string
		base, ext string
		want      Rotated
		rotated   bool
	}{
		{"spans.jsonl", "spans", ".jsonl", Rotated{}, false},
		{"spans_2024-05-02.jsonl", "spans", ".jsonl", Rotated{Day: "2024-05-02"}, true},
		{"spans_2024-05-02.3.jsonl", "spans", ".jsonl", Rotated{Day: "2024-05-02", Index: 3}, true},
		{"spans_2024-05-02.3.jsonl.gz", "spans", ".jsonl", Rotated{Day: "2024-05-02", Index: 3, Compression: "gzip"}, true},
		{"spans_2024-05-02.jsonl.zst", "spans", ".jsonl", Rotated{Day: "2024-05-02", Compression: "zstd"}, true},
		{"trace_span_2024-05-02.log", "trace_span", ".log", Rotated{Day: "2024-05-02"}, true},
		{".jsonl_2024-05-02.log", ".jsonl", ".log", Rotated{Day: "2024-05-02"}, true},
		{"my_spans.v2_2024-05-02.1.jsonl", "my_spans.v2", ".jsonl", Rotated{Day: "2024-05-02", Index: 1}, true},
		// A path whose extension is ".gz" (refused by config validation
		// now, but written by older collectors).
		{"spans_2024-05-02.gz", "spans", ".gz", Rotated{Day: "2024-05-02"}, true},
		{"spans_2024-05-02.gz.gz", "spans", ".gz", Rotated{Day: "2024-05-02", Compression: "gzip"}, true},
		{"spans_2024-13-02.jsonl", "spans_2024-13-02", ".jsonl", Rotated{}, false},
		{"spans_2024-05-02.0.jsonl", "spans_2024-05-02.0", ".jsonl", Rotated{}, false},
		{".jsonl", ".jsonl", ".log", Rotated{}, false},
		{"spans", "spans", ".log", Rotated{}, false},
		{"notes.txt", "notes", ".txt", Rotated{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base, ext, got, ok := ParseName(tc.name)
			if base != tc.base || ext != tc.ext || ok != tc.rotated {
				t.Fatalf("ParseName(%q) = %q, %q, %v; want %q, %q, %v", tc.name, base, ext, ok, tc.base, tc.ext, tc.rotated)
			}
			tc.want.Name = ""
			if ok {
				tc.want.Name = tc.name
			}
			if got != tc.want {
				t.Errorf("ParseName(%q) rotated = %+v, want %+v", tc.name, got, tc.want)
			}
			// A rotated name parses back from its own pieces, as the writer
			// lists its files.
			if ok {
				if back, ok := ParseRotated(base, ext, tc.name); !ok || back != got {
					t.Errorf("ParseRotated(%q, %q, %q) = %+v, %v", base, ext, tc.name, back, ok)
				}
			}
		})
	}
}

func TestActivePathAndTemporary(t *testing.T) {
	for path, want := range map[string]string{
		"spans.jsonl":        "spans.jsonl",
		"spans":              "spans.log",
		"/data/.jsonl":       "/data/.jsonl.log",
		"/data/sub/x.y.json": "/data/sub/x.y.json",
	} {
		if got := ActivePath(path); got != filepath.Clean(want) {
			t.Errorf("ActivePath(%q) = %q, want %q", path, got, want)
		}
	}
	for name, want := range map[string]bool{
		"spans_2024-05-02.jsonl.gz.tmp":    true,
		"spans_2024-05-02.1.jsonl.zst.tmp": true,
		"spans.tmp":                        false,
		"spans_2024-05-02.jsonl.tmp":       false,
		"spans_2024-05-02.jsonl.gz":        false,
	} {
		if got := Temporary(name); got != want {
			t.Errorf("Temporary(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestParseRotated(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		want Rotated
		ok   bool
	}{
		{"spans_2031-03-14.jsonl", Rotated{Day: "2031-03-14"}, true},
		{"spans_2031-03-14.3.jsonl", Rotated{Day: "2031-03-14", Index: 3}, true},
		{"spans_2031-03-14.12.jsonl.gz", Rotated{Day: "2031-03-14", Index: 12, Compression: "gzip"}, true},
		{"spans_2031-03-14.jsonl.zst", Rotated{Day: "2031-03-14", Compression: "zstd"}, true},
		{"spans.jsonl", Rotated{}, false},
		{"spans_2031-13-14.jsonl", Rotated{}, false},
		{"spans_2031-03-14.0.jsonl", Rotated{}, false},
		{"spans_2031-03-14.01.jsonl", Rotated{}, false},
		{"spans_2031-03-14.x.jsonl", Rotated{}, false},
		{"spans_2031-03-14.jsonl.bz2", Rotated{}, false},
		{"spans_2031-03-14.log", Rotated{}, false},
		{"other_2031-03-14.jsonl", Rotated{}, false},
	}
	for _, tc := range cases {
		got, ok := ParseRotated("spans", ".jsonl", tc.name)
		if ok != tc.ok {
			t.Errorf("ParseRotated(%q) ok = %v, want %v", tc.name, ok, tc.ok)
			continue
		}
		if ok {
			tc.want.Name = tc.name
			if got != tc.want {
				t.Errorf("ParseRotated(%q) = %+v, want %+v", tc.name, got, tc.want)
			}
			if back := RotatedName("spans", ".jsonl", got.Day, got.Index); !strings.HasPrefix(tc.name, back) {
				t.Errorf("RotatedName gives %q, not a prefix of %q", back, tc.name)
			}
		}
	}
}

func TestSplitPath(t *testing.T) {
	t.Parallel()
	cases := []struct{ path, dir, base, ext string }{
		{"data/spans.jsonl", "data", "spans", ".jsonl"},
		{"spans", ".", "spans", ".log"},
		{"/v/.spans", "/v", ".spans", ".log"},
		{"/v/a.b.json", "/v", "a.b", ".json"},
	}
	for _, tc := range cases {
		dir, base, ext := SplitPath(tc.path)
		if dir != tc.dir || base != tc.base || ext != tc.ext {
			t.Errorf("SplitPath(%q) = %q, %q, %q; want %q, %q, %q", tc.path, dir, base, ext, tc.dir, tc.base, tc.ext)
		}
	}
}

// TestNameRoundTrip pins the names the writer makes: each one is written
// byte for byte as listed, and both parsers (with and without knowing the
// active file) give back what it was made from. Files with these names are
// on volumes and in buckets, so a change here is a compatibility break.
func TestNameRoundTrip(t *testing.T) {
	t.Parallel()
	cases := []struct {
		base, ext, day string
		index          int
		compression    Compression
		name           string
	}{
		{"spans", ".jsonl", "2024-05-02", 0, "", "spans_2024-05-02.jsonl"},
		{"spans", ".jsonl", "2024-05-02", 1, "", "spans_2024-05-02.1.jsonl"},
		{"spans", ".jsonl", "2024-05-02", 10, "", "spans_2024-05-02.10.jsonl"},
		{"spans", ".jsonl", "2024-05-02", 0, Gzip, "spans_2024-05-02.jsonl.gz"},
		{"spans", ".jsonl", "2024-05-02", 7, Zstd, "spans_2024-05-02.7.jsonl.zst"},
		{"spans", ".log", "2031-12-31", 0, "", "spans_2031-12-31.log"},
		{"trace_span", ".log", "2024-02-29", 2, Gzip, "trace_span_2024-02-29.2.log.gz"},
		{".jsonl", ".log", "2024-05-02", 0, Zstd, ".jsonl_2024-05-02.log.zst"},
		{"my_spans.v2", ".jsonl", "2024-05-02", 3, "", "my_spans.v2_2024-05-02.3.jsonl"},
		{"spans", ".gz", "2024-05-02", 0, Gzip, "spans_2024-05-02.gz.gz"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := RotatedName(tc.base, tc.ext, tc.day, tc.index) + tc.compression.Suffix()
			if name != tc.name {
				t.Fatalf("made %q, want %q", name, tc.name)
			}
			want := Rotated{Name: tc.name, Day: tc.day, Index: tc.index, Compression: tc.compression}
			if got, ok := ParseRotated(tc.base, tc.ext, name); !ok || got != want {
				t.Errorf("ParseRotated(%q, %q, %q) = %+v, %v; want %+v", tc.base, tc.ext, name, got, ok, want)
			}
			if base, ext, got, ok := ParseName(name); !ok || base != tc.base || ext != tc.ext || got != want {
				t.Errorf("ParseName(%q) = %q, %q, %+v, %v; want %q, %q, %+v", name, base, ext, got, ok, tc.base, tc.ext, want)
			}
			if tc.compression != "" && !Temporary(name+TmpSuffix) {
				t.Errorf("Temporary(%q) = false", name+TmpSuffix)
			}
		})
	}
}

// TestCompression pins what each kind appends to a name.
func TestCompression(t *testing.T) {
	t.Parallel()
	cases := []struct {
		c          Compression
		suffix     string
		compresses bool
	}{
		{"", "", false},
		{None, "", false},
		{Gzip, ".gz", true},
		{Zstd, ".zst", true},
		// Unknown kinds ask for compression, which then fails loudly.
		{"bz2", "", true},
	}
	for _, tc := range cases {
		if got := tc.c.Suffix(); got != tc.suffix {
			t.Errorf("%q.Suffix() = %q, want %q", tc.c, got, tc.suffix)
		}
		if got := tc.c.Compresses(); got != tc.compresses {
			t.Errorf("%q.Compresses() = %v, want %v", tc.c, got, tc.compresses)
		}
	}
}

// TestOrder checks that a day's files come un-numbered first, then by
// number, which a lexical sort of the names does not give.
func TestOrder(t *testing.T) {
	t.Parallel()
	names := []string{
		"spans_2024-05-03.jsonl",
		"spans_2024-05-02.10.jsonl.zst",
		"spans_2024-05-02.2.jsonl",
		"spans_2024-05-02.jsonl.gz",
		"spans_2024-05-02.1.jsonl",
	}
	want := []string{
		"spans_2024-05-02.jsonl.gz",
		"spans_2024-05-02.1.jsonl",
		"spans_2024-05-02.2.jsonl",
		"spans_2024-05-02.10.jsonl.zst",
		"spans_2024-05-03.jsonl",
	}
	var rotated []Rotated
	for _, name := range names {
		r, ok := ParseRotated("spans", ".jsonl", name)
		if !ok {
			t.Fatalf("ParseRotated(%q) failed", name)
		}
		rotated = append(rotated, r)
	}
	slices.SortFunc(rotated, Rotated.Compare)
	var got []string
	for _, r := range rotated {
		got = append(got, r.Name)
	}
	if !slices.Equal(got, want) {
		t.Errorf("order = %q, want %q", got, want)
	}
	plain, _ := ParseRotated("spans", ".jsonl", "spans_2024-05-02.1.jsonl")
	twin, _ := ParseRotated("spans", ".jsonl", "spans_2024-05-02.1.jsonl.gz")
	if plain.Compare(twin) != 0 || plain.Key() != twin.Key() {
		t.Errorf("a file and its compressed twin differ: Compare %d, keys %q and %q", plain.Compare(twin), plain.Key(), twin.Key())
	}
}
