package localnode

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// bindMount is one volume mounted into a container's root.
type bindMount struct {
	// source is the host file or directory.
	source string
	// target is the absolute path inside the container.
	target   string
	readOnly bool
}

// rootfs is a container's root directory: the image binary, a few device
// files, /proc and the pod's volumes, all bind-mounted in the host's mount
// namespace under dir and unmounted by teardown.
type rootfs struct {
	dir    string
	mounts []string // host paths, in mount order
}

// devices are the device files a container finds in /dev.
var devices = []string{"/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"}

// buildRootfs lays out dir for img and mounts everything into it. A
// read-only root is a read-only bind of dir onto itself, made after every
// mount point exists and before the volumes go on top of it.
func buildRootfs(dir string, img Image, readOnlyRoot bool, volumes []bindMount) (_ *rootfs, err error) {
	r := &rootfs{dir: dir}
	defer func() {
		if err != nil {
			err = errors.Join(err, r.teardown())
		}
	}()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("container root: %w", err)
	}
	if err := makeMountPoint(r.path(img.Path), false); err != nil {
		return nil, err
	}
	for inImage := range img.Files {
		if err := makeMountPoint(r.path(inImage), false); err != nil {
			return nil, err
		}
	}
	for _, dev := range devices {
		if err := makeMountPoint(r.path(dev), false); err != nil {
			return nil, err
		}
	}
	if err := makeMountPoint(r.path("/proc"), true); err != nil {
		return nil, err
	}
	for _, v := range volumes {
		info, err := os.Stat(v.source)
		if err != nil {
			return nil, fmt.Errorf("volume source for %s: %w", v.target, err)
		}
		if err := makeMountPoint(r.path(v.target), info.IsDir()); err != nil {
			return nil, err
		}
	}
	if readOnlyRoot {
		if err := r.bind(dir, dir, true); err != nil {
			return nil, err
		}
	}
	if err := r.bind(img.Binary, r.path(img.Path), true); err != nil {
		return nil, err
	}
	for inImage, host := range img.Files {
		if err := r.bind(host, r.path(inImage), true); err != nil {
			return nil, err
		}
	}
	for _, dev := range devices {
		if err := r.bind(dev, r.path(dev), false); err != nil {
			return nil, err
		}
	}
	// A proc of the host's PID namespace: the container sees host processes,
	// which is one of the documented differences from a real node.
	if err := unix.Mount("proc", r.path("/proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return nil, fmt.Errorf("mount proc in %s: %w", dir, err)
	}
	r.mounts = append(r.mounts, r.path("/proc"))
	for _, v := range volumes {
		if err := r.bind(v.source, r.path(v.target), v.readOnly); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// path maps an absolute container path to the host.
func (r *rootfs) path(inContainer string) string {
	return filepath.Join(r.dir, filepath.Clean("/"+inContainer))
}

// bind mounts source at target, read-only if asked (a bind mount takes the
// read-only flag only on a remount).
func (r *rootfs) bind(source, target string, readOnly bool) error {
	if err := unix.Mount(source, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s to %s: %w", source, target, err)
	}
	r.mounts = append(r.mounts, target)
	if readOnly {
		if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("make %s read-only: %w", target, err)
		}
	}
	return nil
}

// teardown unmounts in reverse order and removes the directory, but only
// when nothing is mounted below it any more: removing it with a volume still
// mounted would delete the volume's data.
func (r *rootfs) teardown() error {
	var errs []error
	for i := len(r.mounts) - 1; i >= 0; i-- {
		if err := unix.Unmount(r.mounts[i], unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", r.mounts[i], err))
		}
	}
	r.mounts = nil
	if err := errors.Join(errs...); err != nil {
		return err
	}
	remaining, err := mountsBelow(r.dir)
	if err != nil {
		return err
	}
	if len(remaining) > 0 {
		return fmt.Errorf("container root %s still has mounts %v; not removing it", r.dir, remaining)
	}
	if err := os.RemoveAll(r.dir); err != nil {
		return fmt.Errorf("remove container root: %w", err)
	}
	return nil
}

// makeMountPoint creates an empty directory or file for a mount to cover.
func makeMountPoint(path string, dir bool) error {
	if dir {
		if err := os.MkdirAll(path, 0o755); err != nil {
			return fmt.Errorf("mount point %s: %w", path, err)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("mount point %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o755)
	if err != nil {
		return fmt.Errorf("mount point %s: %w", path, err)
	}
	return f.Close()
}

// mountsBelow lists mount points at or under dir, from this process's view.
func mountsBelow(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	var found []string
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 5 {
			continue
		}
		// Field 5 is the mount point, with spaces and the like octal-escaped.
		target := unescapeMountPath(fields[4])
		if target == dir || strings.HasPrefix(target, dir+"/") {
			found = append(found, target)
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	return found, nil
}

// unescapeMountPath undoes the \040-style escapes of /proc/self/mountinfo.
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%3o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
