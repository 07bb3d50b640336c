package controlplane

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Binaries builds, or finds in its cache, the given components (default:
// every binary this package runs) with hack/control-plane.sh in the checkout
// at root, and returns their directory. Progress goes to progress (the first
// build of kube-apiserver takes about nine minutes on two cores).
func Binaries(ctx context.Context, root string, progress *os.File, components ...string) (string, error) {
	if len(components) == 0 {
		components = Components
	}
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "control-plane.sh"), components...)
	cmd.Stderr = progress
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/control-plane.sh: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	dir := strings.TrimSpace(lines[len(lines)-1])
	if dir == "" {
		return "", fmt.Errorf("hack/control-plane.sh printed no binary directory")
	}
	return dir, nil
}
