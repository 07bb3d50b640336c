package localnode

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// versionName is the kubelet's name for a version directory: the UTC time
// and MkdirTemp's random number.
var versionName = regexp.MustCompile(`^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$`)

// mustProject builds and writes a projection, failing the test on error.
func mustProject(t *testing.T, dir string, data map[string][]byte, items []corev1.KeyToPath, defaultMode *int32, group int) bool {
	t.Helper()
	files, err := projection(data, items, defaultMode, false)
	if err != nil {
		t.Fatal(err)
	}
	written, err := writeProjection(dir, files, group)
	if err != nil {
		t.Fatal(err)
	}
	return written
}

// dataTarget is the version directory ..data points at.
func dataTarget(t *testing.T, dir string) string {
	t.Helper()
	target, err := os.Readlink(filepath.Join(dir, dataDirName))
	if err != nil {
		t.Fatal(err)
	}
	return target
}

// visibleNames are the entries of a volume a pod sees as its keys.
func visibleNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "..") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Sys().(*syscall.Stat_t).Ino
}

func TestProjectionLayout(t *testing.T) {
	data := map[string][]byte{"collector.yaml": []byte("batch: {}\n"), "tls.key": []byte("key")}
	type file struct {
		path string // as the pod opens it, relative to the volume
		mode os.FileMode
	}
	for _, tc := range []struct {
		name        string
		items       []corev1.KeyToPath
		defaultMode *int32
		group       int
		wantNames   []string // top-level links
		wantFiles   []file
	}{
		{
			name:      "every key, default mode",
			group:     -1,
			wantNames: []string{"collector.yaml", "tls.key"},
			wantFiles: []file{{"collector.yaml", 0o644}, {"tls.key", 0o644}},
		},
		{
			name:      "items at nested paths with their own mode",
			items:     []corev1.KeyToPath{{Key: "collector.yaml", Path: "sub/c.yaml", Mode: ptr.To[int32](0o600)}},
			group:     -1,
			wantNames: []string{"sub"},
			wantFiles: []file{{"sub/c.yaml", 0o600}},
		},
		{
			// A Secret mounted 0440 is readable by a non-root container only
			// through the pod's fsGroup, to which the kubelet gives the files.
			name:        "secret mode with the pod's fsGroup",
			defaultMode: ptr.To[int32](0o440),
			group:       65532,
			wantNames:   []string{"collector.yaml", "tls.key"},
			wantFiles:   []file{{"collector.yaml", 0o440}, {"tls.key", 0o440}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.group >= 0 && os.Geteuid() != 0 {
				t.Skip("changing a file's group to another one needs root")
			}
			dir := filepath.Join(t.TempDir(), "config")
			mustProject(t, dir, data, tc.items, tc.defaultMode, tc.group)
			version := dataTarget(t, dir)
			if mustProject(t, dir, data, tc.items, tc.defaultMode, tc.group) || dataTarget(t, dir) != version {
				t.Fatal("the same projection again wrote a new version")
			}

			if !versionName.MatchString(version) {
				t.Fatalf("..data points at %q, want a ..<timestamp> directory", version)
			}
			if info, err := os.Stat(filepath.Join(dir, version)); err != nil || info.Mode().Perm() != 0o755 {
				t.Fatalf("version directory: %v, %v; want mode 0755", info, err)
			}
			if got := visibleNames(t, dir); strings.Join(got, ",") != strings.Join(tc.wantNames, ",") {
				t.Fatalf("volume shows %v, want %v", got, tc.wantNames)
			}
			for _, name := range tc.wantNames {
				if target, err := os.Readlink(filepath.Join(dir, name)); err != nil || target != "..data/"+name {
					t.Fatalf("%s links to %q (%v), want ..data/%s", name, target, err, name)
				}
			}
			for _, f := range tc.wantFiles {
				path := filepath.Join(dir, f.path)
				info, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if info.Mode().Perm() != f.mode {
					t.Errorf("%s: mode %v, want %v", f.path, info.Mode().Perm(), f.mode)
				}
				if tc.group >= 0 {
					if gid := info.Sys().(*syscall.Stat_t).Gid; int(gid) != tc.group {
						t.Errorf("%s: group %d, want the fsGroup %d", f.path, gid, tc.group)
					}
				}
			}
		})
	}
}

func TestProjectionRefuses(t *testing.T) {
	data := map[string][]byte{"a": []byte("x")}
	for _, tc := range []struct {
		name      string
		items     []corev1.KeyToPath
		optional  bool
		want      string // substring of the error; empty: accepted
		permanent bool
	}{
		{"path leaves the volume", []corev1.KeyToPath{{Key: "a", Path: "../escape"}}, false, "leaves the volume", true},
		{"absolute path", []corev1.KeyToPath{{Key: "a", Path: "/etc/passwd"}}, false, "leaves the volume", true},
		{"the writer's own name", []corev1.KeyToPath{{Key: "a", Path: "..data"}}, false, "names starting with ..", true},
		{"hidden first component", []corev1.KeyToPath{{Key: "a", Path: "..x/y"}}, false, "names starting with ..", true},
		{"missing key", []corev1.KeyToPath{{Key: "b", Path: "b"}}, false, "key b not found", false},
		{"missing key of an optional volume", []corev1.KeyToPath{{Key: "b", Path: "b"}}, true, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := projection(data, tc.items, nil, tc.optional)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v does not contain %q", err, tc.want)
			}
			if errors.Is(err, errPermanent) != tc.permanent {
				t.Fatalf("error %v: permanent %v, want %v", err, errors.Is(err, errPermanent), tc.permanent)
			}
		})
	}
}

// An update is a new version behind the same directory: the pod's bind
// mount of that directory sees it, removed keys go and old versions are
// removed; the same content again writes nothing.
func TestProjectionUpdate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "config")
	if !mustProject(t, dir, map[string][]byte{"collector.yaml": []byte("v1"), "old": []byte("o")}, nil, nil, -1) {
		t.Fatal("the first projection wrote nothing")
	}
	dirInode, firstVersion := inode(t, dir), dataTarget(t, dir)

	if !mustProject(t, dir, map[string][]byte{"collector.yaml": []byte("v2"), "new": []byte("n")}, nil, nil, -1) {
		t.Fatal("changed content wrote nothing")
	}
	if inode(t, dir) != dirInode {
		t.Fatal("the volume directory was replaced; a running pod's bind mount would not see the update")
	}
	secondVersion := dataTarget(t, dir)
	if secondVersion == firstVersion {
		t.Fatal("..data still points at the first version")
	}
	// Kept for a reader that resolved ..data just before the swap.
	if _, err := os.Lstat(filepath.Join(dir, firstVersion)); err != nil {
		t.Fatalf("the replaced version directory is gone at once: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, newDataDirName)); !os.IsNotExist(err) {
		t.Fatalf("%s is left behind: %v", newDataDirName, err)
	}
	if got := visibleNames(t, dir); strings.Join(got, ",") != "collector.yaml,new" {
		t.Fatalf("volume shows %v, want [collector.yaml new]", got)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "collector.yaml")); err != nil || string(got) != "v2" {
		t.Fatalf("collector.yaml = %q, %v; want v2", got, err)
	}

	versionInode := inode(t, filepath.Join(dir, secondVersion))
	if mustProject(t, dir, map[string][]byte{"collector.yaml": []byte("v2"), "new": []byte("n")}, nil, nil, -1) {
		t.Fatal("unchanged content was written again")
	}
	if dataTarget(t, dir) != secondVersion || inode(t, filepath.Join(dir, secondVersion)) != versionInode {
		t.Fatal("unchanged content replaced the version directory")
	}

	// A mode is content too: the pod would read the file differently.
	if !mustProject(t, dir, map[string][]byte{"collector.yaml": []byte("v2"), "new": []byte("n")}, nil, ptr.To[int32](0o600), -1) {
		t.Fatal("a changed mode wrote nothing")
	}
	if _, err := os.Lstat(filepath.Join(dir, firstVersion)); !os.IsNotExist(err) {
		t.Fatalf("a version two updates old is still there: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, secondVersion)); err != nil {
		t.Fatalf("the version just replaced is gone: %v", err)
	}

	// An optional volume whose object is gone projects as empty.
	if written, err := writeProjection(dir, map[string]projectedFile{}, -1); err != nil || !written {
		t.Fatalf("empty projection: written %v, %v", written, err)
	}
	if got := visibleNames(t, dir); len(got) != 0 {
		t.Fatalf("an empty projection still shows %v", got)
	}
}

// A reader that opens the file in a tight loop while it is replaced over and
// over never finds it empty or holding part of two versions. It may find it
// missing only when it fell two updates behind: the version it resolved
// ..data to was pruned before it opened the file, as on a kubelet, which
// removes the replaced version at once. Back-to-back updates on a loaded
// machine make that possible here; it must stay rare.
func TestProjectionSwapIsAtomic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "config")
	const size = 64 << 10
	content := func(version int) []byte {
		header := fmt.Sprintf("version %d\n", version)
		return append([]byte(header), bytes.Repeat([]byte{byte('a' + version%26)}, size-len(header))...)
	}
	mustProject(t, dir, map[string][]byte{"collector.yaml": content(0)}, nil, nil, -1)

	const updates = 300
	done := make(chan struct{})
	var wg sync.WaitGroup
	var reads, missing int
	var readErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			got, err := os.ReadFile(filepath.Join(dir, "collector.yaml"))
			if errors.Is(err, fs.ErrNotExist) {
				missing++
				continue
			}
			if err != nil {
				readErr = fmt.Errorf("read %d: %w", reads, err)
				return
			}
			var version int
			if _, err := fmt.Sscanf(string(got), "version %d\n", &version); err != nil || !bytes.Equal(got, content(version)) {
				readErr = fmt.Errorf("read %d: %d bytes that are no whole version (starts %q)", reads, len(got), got[:min(len(got), 20)])
				return
			}
			reads++
		}
	}()
	for v := 1; v <= updates; v++ {
		mustProject(t, dir, map[string][]byte{"collector.yaml": content(v)}, nil, nil, -1)
	}
	close(done)
	wg.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}
	if missing > reads/100 {
		t.Fatalf("the file was missing in %d of %d reads: more than a lagging reader explains", missing, reads+missing)
	}
	if reads < updates/10 {
		t.Fatalf("only %d reads during %d updates: the race was hardly exercised", reads, updates)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 4 {
		t.Fatalf("%d entries after the updates, want ..data, the current and the replaced version and the key's link", len(entries))
	}
}
