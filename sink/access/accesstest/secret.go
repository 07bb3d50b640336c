package accesstest

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// SecretVolume is a directory laid out as the kubelet lays out a mounted
// Secret: the files live in a timestamped directory, ..data is a symlink to
// it, and each key is a symlink to ..data/<key>. An update writes a new
// timestamped directory and renames a new symlink over ..data, so readers
// see the old files or the new ones, never a mix (the kubelet's
// AtomicWriter).
type SecretVolume struct {
	// Dir is the mount point.
	Dir        string
	generation atomic.Int64
}

// NewSecretVolume makes an empty volume in a temp dir.
func NewSecretVolume(t testing.TB) *SecretVolume {
	t.Helper()
	return &SecretVolume{Dir: t.TempDir()}
}

// Path is where the key's file appears in the volume.
func (v *SecretVolume) Path(key string) string { return filepath.Join(v.Dir, key) }

// Update replaces the volume's contents with files (key to contents), as
// one atomic swap of ..data.
func (v *SecretVolume) Update(t testing.TB, files map[string][]byte) {
	t.Helper()
	gen := v.generation.Add(1)
	tsDir := fmt.Sprintf("..%s.%d", time.Now().UTC().Format("2006_01_02_15_04_05"), gen)
	if err := os.Mkdir(filepath.Join(v.Dir, tsDir), 0o755); err != nil {
		t.Fatal(err)
	}
	for key, data := range files {
		if err := os.WriteFile(filepath.Join(v.Dir, tsDir, key), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dataLink := filepath.Join(v.Dir, "..data")
	old, _ := os.Readlink(dataLink)
	tmp := filepath.Join(v.Dir, "..data_tmp")
	if err := os.Symlink(tsDir, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dataLink); err != nil {
		t.Fatal(err)
	}
	for key := range files {
		link := filepath.Join(v.Dir, key)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", key), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(v.Dir, old)); err != nil {
			t.Fatal(err)
		}
	}
}
