// Package memcgroup runs a process under a memory limit the way a container
// runtime runs a container with one: in a memory cgroup of its own, a child
// of this process's, whose limit the kernel enforces and which the process
// reads back from /proc/self/cgroup and the cgroup filesystem. Tests and
// benchmarks use it to run the manager as it runs in a pod with a memory
// limit.
//
// It needs a writable cgroup v1 memory hierarchy (as on the machines the
// project's CI runs on, where this process is root). Under cgroup v2 a
// child with the memory controller needs its parent to hand the controller
// down, which a parent that holds processes cannot; New says so.
package memcgroup

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// v1Root is where cgroup v1's memory hierarchy is mounted.
const v1Root = "/sys/fs/cgroup/memory"

// Group is a memory cgroup with a limit.
type Group struct {
	dir string
}

// New makes the memory cgroup name, a child of this process's, limited to
// limit bytes.
func New(name string, limit int64) (*Group, error) {
	own, err := ownV1Path()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(v1Root, own, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("make the memory cgroup: %w", err)
	}
	g := &Group{dir: dir}
	if err := os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
		_ = g.Remove()
		return nil, fmt.Errorf("set the memory cgroup's limit: %w", err)
	}
	return g, nil
}

// ownV1Path is this process's path in the v1 memory hierarchy.
func ownV1Path() (string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	defer f.Close()
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		// hierarchy-ID:controller-list:path
		fields := strings.SplitN(lines.Text(), ":", 3)
		if len(fields) != 3 || fields[0] == "0" {
			continue
		}
		for _, controller := range strings.Split(fields[1], ",") {
			if controller == "memory" {
				if _, err := os.Stat(filepath.Join(v1Root, fields[2])); err != nil {
					return "", fmt.Errorf("cgroup v1 memory hierarchy not mounted at %s: %w", v1Root, err)
				}
				return fields[2], nil
			}
		}
	}
	if err := lines.Err(); err != nil {
		return "", err
	}
	return "", errors.New("this process is in no cgroup v1 memory hierarchy (cgroup v2 only)")
}

// Command is exec.Command(name, args...) for a process that runs in g from
// its first instruction: a shell moves itself into g and then becomes the
// command, so the process reads g's limit however early it looks.
func (g *Group) Command(name string, args ...string) *exec.Cmd {
	script := `echo $$ > "$0" && exec "$@"`
	return exec.Command("/bin/sh", append([]string{"-c", script, filepath.Join(g.dir, "cgroup.procs"), name}, args...)...)
}

// PeakBytes is the most memory the group's processes were charged at
// once, the kernel's count (memory.max_usage_in_bytes): resident pages and
// the page cache they brought in.
func (g *Group) PeakBytes() (int64, error) {
	data, err := os.ReadFile(filepath.Join(g.dir, "memory.max_usage_in_bytes"))
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
}

// OOMKills is how many of g's processes the kernel killed for exceeding
// its limit.
func (g *Group) OOMKills() (int, error) {
	data, err := os.ReadFile(filepath.Join(g.dir, "memory.oom_control"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if count, ok := strings.CutPrefix(line, "oom_kill "); ok {
			return strconv.Atoi(count)
		}
	}
	return 0, errors.New("memory.oom_control has no oom_kill count")
}

// Remove removes g once its processes have ended. The kernel refuses
// while a process it killed there is still exiting (or a child of one
// lingers), so Remove tries again for a few seconds.
func (g *Group) Remove() error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := os.Remove(g.dir)
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
