package replay

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStateStartsEmptyAndSavesAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "replay.state")
	s, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Total() != 0 || s.Endpoint() != "" {
		t.Fatalf("a missing file gave %d spans for %q", s.Total(), s.Endpoint())
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("loading created the file: %v", err)
	}
	s.Add("jaeger:4317", map[string]int64{"/data/a.jsonl": 512, "s3://b/k": 3})
	s.Add("jaeger:4317", map[string]int64{"/data/a.jsonl": 100})
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	back, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Acknowledged("/data/a.jsonl"); got != 612 {
		t.Errorf("a.jsonl: %d, want 612", got)
	}
	if got := back.Acknowledged("s3://b/k"); got != 3 {
		t.Errorf("s3://b/k: %d, want 3", got)
	}
	if back.Total() != 615 || back.Endpoint() != "jaeger:4317" {
		t.Errorf("total %d endpoint %q", back.Total(), back.Endpoint())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("the directory holds %v, want only the state (no temporary file left)", entries)
	}
}

func TestStateSaveReplacesTheFileWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay.state")
	s, _ := LoadState(path)
	for i := range 50 {
		s.Add("x:1", map[string]int64{"/f": 1})
		if err := s.Save(); err != nil {
			t.Fatal(err)
		}
		back, err := LoadState(path)
		if err != nil {
			t.Fatalf("save %d left an unreadable file: %v", i, err)
		}
		if back.Acknowledged("/f") != int64(i+1) {
			t.Fatalf("save %d: %d", i, back.Acknowledged("/f"))
		}
	}
}

func TestStateRefusesWhatItCannotTrust(t *testing.T) {
	cases := map[string]string{
		"garbage":        "not json",
		"other version":  `{"version": 2, "acknowledged": {}}`,
		"negative count": `{"version": 1, "acknowledged": {"/f": -1}}`,
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "replay.state")
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadState(path)
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want one naming the file", err)
			}
		})
	}
}

func TestStateSaveFailsClearly(t *testing.T) {
	s, _ := LoadState(filepath.Join(t.TempDir(), "missing-dir", "replay.state"))
	s.Add("x:1", map[string]int64{"/f": 1})
	if err := s.Save(); err == nil || !strings.Contains(err.Error(), "resume file") {
		t.Fatalf("error %v, want one about the resume file", err)
	}
}
