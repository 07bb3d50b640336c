package rollingfile

import (
	"path/filepath"
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
