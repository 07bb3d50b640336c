package localnode

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// A configMap, secret or projected volume has the kubelet's atomic-writer layout
// (pkg/volume/util/atomic_writer.go):
//
//	dir/..2026_12_01_21_40_00.123456789/  the files of one version
//	dir/..data -> ..2026_12_01_21_40_00.123456789
//	dir/<name> -> ..data/<name>           one per top-level name
//
// An update writes a new version directory and switches ..data to it with
// one rename(2), so a reader that opens dir/<name> gets the old files or the
// new ones, never a mix or a half-written file, and a watcher on dir sees
// the swap as a create of ..data. Programs (the collector among them) rely
// on exactly this, which is why the node reproduces it rather than
// rewriting files in place. Unlike the kubelet, the version just replaced is
// kept until the next update (see pruneVersions).
const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
	// versionDirPrefix is a time.Format layout; os.MkdirTemp appends a
	// random number, as the kubelet's does.
	versionDirPrefix = "..2006_01_02_15_04_05."
)

// projectedFile is one file of a configMap, secret or projected volume.
type projectedFile struct {
	content []byte
	mode    os.FileMode
	// owner is the user that owns the file (a projected token's, see
	// fsUser); -1 leaves it to the node's own user, as for every other file.
	owner int
}

// projection is the files of a configMap or secret volume, by their path in
// the volume: every key, or only the listed items at their paths, with the
// volume's modes. A listed key that is missing is an error unless the volume
// is optional, as on a kubelet.
func projection(data map[string][]byte, items []corev1.KeyToPath, defaultMode *int32, optional bool) (map[string]projectedFile, error) {
	mode := os.FileMode(0o644)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode).Perm()
	}
	if len(items) == 0 {
		for key := range data {
			items = append(items, corev1.KeyToPath{Key: key, Path: key})
		}
	}
	files := make(map[string]projectedFile, len(items))
	for _, item := range items {
		content, ok := data[item.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("key %s not found", item.Key)
		}
		rel, err := projectionPath(item.Path)
		if err != nil {
			return nil, err
		}
		fileMode := mode
		if item.Mode != nil {
			fileMode = os.FileMode(*item.Mode).Perm()
		}
		files[rel] = projectedFile{content: content, mode: fileMode, owner: -1}
	}
	return files, nil
}

// projectionPath is an item's path, cleaned. It must stay inside the volume,
// and its first component must not start with "..", the writer's own names.
func projectionPath(path string) (string, error) {
	rel := filepath.Clean(path)
	if filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("item path %q leaves the volume: %w", path, errPermanent)
	}
	if strings.HasPrefix(rel, "..") || rel == "." {
		return "", fmt.Errorf("item path %q is not a file name of its own (names starting with .. belong to the volume): %w", path, errPermanent)
	}
	return rel, nil
}

// writeProjection makes dir hold exactly files, in the atomic-writer layout.
// When the current version already holds these files (same content, modes
// and group) it writes nothing, so an unchanged volume keeps its ..data
// target and wakes no watcher; it reports whether it wrote a new version.
// dir itself is created once and never replaced: it is bind-mounted into
// the running pod, which would go on seeing a replaced directory's old inode.
// With group >= 0 (the pod's fsGroup) the files belong to that group, which
// is how a non-root container reads a Secret mounted 0440.
func writeProjection(dir string, files map[string]projectedFile, group int) (bool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("projection directory: %w", err)
	}
	dataLink := filepath.Join(dir, dataDirName)
	oldVersion, err := os.Readlink(dataLink)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("read %s: %w", dataDirName, err)
	}
	write := true
	if oldVersion != "" {
		current, err := versionDigest(filepath.Join(dir, oldVersion), group >= 0)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// ..data dangles; the new version repairs it.
		case err != nil:
			return false, err
		default:
			write = current != payloadDigest(files, group)
		}
	}
	var version string
	if write {
		if version, err = writeVersion(dir, files, group); err != nil {
			return false, err
		}
		if err := swapData(dir, version); err != nil {
			_ = os.RemoveAll(filepath.Join(dir, version))
			return false, err
		}
	}
	// Links are checked even when nothing was written, as the kubelet does,
	// so that a write interrupted after the swap is completed by the next.
	if err := linkNames(dir, files); err != nil {
		return write, err
	}
	if write {
		if err := pruneVersions(dir, version, oldVersion); err != nil {
			return write, err
		}
	}
	return write, nil
}

// pruneVersions removes the version directories of dir other than the
// current one and the one it replaced. The kubelet removes the replaced one
// at once, and then a reader that resolved ..data just before the swap
// finds its file gone (ENOENT) when it opens it: in a tight loop of reads
// during updates that happens about once in ten thousand updates. Keeping
// one version more closes that window for any reader that is not stalled
// across two whole updates, at the cost of one more copy on disk.
func pruneVersions(dir, current, previous string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list versions: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, "..") || name == current || name == previous {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("remove old version %s: %w", name, err)
		}
	}
	return nil
}

// writeVersion writes files into a new version directory of dir and returns
// its name. Nothing refers to the directory yet, so a failure just removes it.
func writeVersion(dir string, files map[string]projectedFile, group int) (_ string, err error) {
	versionDir, err := os.MkdirTemp(dir, time.Now().UTC().Format(versionDirPrefix))
	if err != nil {
		return "", fmt.Errorf("new version directory: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(versionDir)
		}
	}()
	// MkdirTemp makes it 0700; the pod's users must be able to walk it.
	if err := os.Chmod(versionDir, 0o755); err != nil {
		return "", fmt.Errorf("new version directory: %w", err)
	}
	for rel, f := range files {
		path := filepath.Join(versionDir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", fmt.Errorf("project %s: %w", rel, err)
		}
		if err := os.WriteFile(path, f.content, f.mode); err != nil {
			return "", fmt.Errorf("project %s: %w", rel, err)
		}
		if group >= 0 || f.owner >= 0 {
			if err := os.Lchown(path, f.owner, group); err != nil {
				return "", fmt.Errorf("project %s: give it to user %d, fsGroup %d: %w", rel, f.owner, group, err)
			}
		}
		// WriteFile's mode is filtered by the umask; the volume's is not.
		// Chmod comes after chown, which may clear setgid-like bits.
		if err := os.Chmod(path, diskMode(f, group)); err != nil {
			return "", fmt.Errorf("project %s: %w", rel, err)
		}
	}
	return filepath.Base(versionDir), nil
}

// diskMode is the mode a file gets on disk: with an fsGroup, the kubelet
// also lets that group read every file of a read-only volume (a token asked
// 0600 becomes 0640), which is how a container that is not the file's owner
// reads it.
func diskMode(f projectedFile, group int) os.FileMode {
	if group >= 0 {
		return f.mode | 0o440
	}
	return f.mode
}

// swapData points ..data at version with one rename(2) of a fresh link over
// it, the only step a reader can observe.
func swapData(dir, version string) error {
	tmp := filepath.Join(dir, newDataDirName)
	// A link left by an interrupted update would make Symlink fail.
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale %s: %w", newDataDirName, err)
	}
	if err := os.Symlink(version, tmp); err != nil {
		return fmt.Errorf("link %s: %w", newDataDirName, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataDirName)); err != nil {
		return fmt.Errorf("switch %s to %s: %w", dataDirName, version, err)
	}
	return nil
}

// linkNames gives every top-level name of files its link into ..data and
// removes the links of names the volume no longer has. A link that is
// already right is left alone.
func linkNames(dir string, files map[string]projectedFile) error {
	names := map[string]bool{}
	for rel := range files {
		names[strings.SplitN(rel, string(filepath.Separator), 2)[0]] = true
	}
	for name := range names {
		path := filepath.Join(dir, name)
		want := filepath.Join(dataDirName, name)
		target, err := os.Readlink(path)
		switch {
		case err == nil && target == want:
			continue
		case err == nil:
			// A link of ours with another target, which only a hand could
			// have made; it is replaced like a missing one.
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("relink %s: %w", name, err)
			}
		case errors.Is(err, fs.ErrNotExist):
		case errors.Is(err, syscall.EINVAL):
			return fmt.Errorf("link %s: a file that is not a link is in the way", name)
		default:
			return fmt.Errorf("link %s: %w", name, err)
		}
		if err := os.Symlink(want, path); err != nil {
			return fmt.Errorf("link %s: %w", name, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list projection: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") || names[e.Name()] || e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("unlink removed key %s: %w", e.Name(), err)
		}
	}
	return nil
}

// versionFile is what the digest of a version covers for one file.
type versionFile struct {
	path     string
	mode     os.FileMode
	uid, gid int
	content  []byte
}

// payloadDigest is the digest the version directory holding files would
// have; the group counts only when the node sets one.
func payloadDigest(files map[string]projectedFile, group int) [sha256.Size]byte {
	list := make([]versionFile, 0, len(files))
	for rel, f := range files {
		gid := -1
		if group >= 0 {
			gid = group
		}
		// A file the node does not give away is its own.
		uid := f.owner
		if uid < 0 {
			uid = os.Geteuid()
		}
		list = append(list, versionFile{path: rel, mode: diskMode(f, group), uid: uid, gid: gid, content: f.content})
	}
	return digest(list)
}

// versionDigest is the digest of what a version directory holds, read back
// from disk, so that the comparison needs no state kept between syncs and
// still holds after the node restarts a pod's set-up.
func versionDigest(versionDir string, withGroup bool) ([sha256.Size]byte, error) {
	var list []versionFile
	err := filepath.WalkDir(versionDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(versionDir, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			// Never written by the node: make the digest differ.
			list = append(list, versionFile{path: rel, mode: info.Mode()})
			return nil
		}
		content, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		uid, gid := -1, -1
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			uid = int(st.Uid)
			if withGroup {
				gid = int(st.Gid)
			}
		}
		list = append(list, versionFile{path: rel, mode: info.Mode().Perm(), uid: uid, gid: gid, content: content})
		return nil
	})
	if err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("read current version: %w", err)
	}
	return digest(list), nil
}

func digest(list []versionFile) [sha256.Size]byte {
	sort.Slice(list, func(i, j int) bool { return list[i].path < list[j].path })
	h := sha256.New()
	var header []byte
	for _, f := range list {
		// Lengths first, so that no two lists encode alike.
		header = binary.BigEndian.AppendUint64(header[:0], uint64(len(f.path)))
		header = append(header, f.path...)
		header = binary.BigEndian.AppendUint32(header, uint32(f.mode))
		header = binary.BigEndian.AppendUint64(header, uint64(int64(f.uid)))
		header = binary.BigEndian.AppendUint64(header, uint64(int64(f.gid)))
		header = binary.BigEndian.AppendUint64(header, uint64(len(f.content)))
		h.Write(header)
		h.Write(f.content)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
