package objectstore

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The manifest keeps the names of shipped files that left the volume for
// the newest days, so a new rotated file never reuses one, drops older
// ones, and survives a torn last line.
func TestManifestKeepsRecentNamesTaken(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, manifestName("spans", ".jsonl"))
	present := map[string]bool{"spans_2026-12-02.2.jsonl.zst": true}
	m, err := loadManifest(path, func(name string) bool { return present[name] })
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"spans_2026-11-29.jsonl.zst", "spans_2026-12-01.jsonl.zst", "spans_2026-12-01.3.jsonl.zst",
		"spans_2026-12-02.jsonl.zst", "spans_2026-12-02.1.jsonl.zst", "spans_2026-12-02.2.jsonl.zst",
	} {
		if err := m.add(manifestEntry{Name: name, Key: "k/" + name, Size: 1, SHA256: "x", UploadedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	// A crash in the middle of an append.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"name":"spans_2026-12-02.3.js`)
	f.Close()

	m, err = loadManifest(path, func(name string) bool { return present[name] })
	if err != nil {
		t.Fatal(err)
	}
	if got := m.firstFreeIndex("2026-12-02"); got != 3 {
		t.Errorf("first free index of 2026-12-02 = %d, want 3", got)
	}
	if got := m.firstFreeIndex("2026-12-01"); got != 4 {
		t.Errorf("first free index of 2026-12-01 = %d, want 4 (a kept day)", got)
	}
	if _, ok := m.confirmed("spans_2026-11-29.jsonl.zst"); ok {
		t.Error("an old day's entry of a file gone from the volume was kept")
	}
	if _, ok := m.confirmed("spans_2026-12-02.2.jsonl.zst"); !ok {
		t.Error("the entry of a file still on the volume was dropped")
	}
	// The rewrite is what a third load reads.
	again, err := loadManifest(path, func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	if len(again.entries) != 5 {
		t.Errorf("after the rewrite the manifest holds %d entries, want 5", len(again.entries))
	}
}
