package collector

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// BinaryName is the collector's own executable, which the image and `make
// build` put beside spansink (cmd/spansink-collector). It links only what
// the collector runs. Started from the whole spansink binary, the collector
// also maps and initialises the operator's packages (client-go, the
// Kubernetes API types, controller-runtime, CEL) and the span reader's:
// idle, 58 MB resident, 50 MB of them the binary's own pages, against
// 25 MB (docs/benchmarks.md).
const BinaryName = "spansink-collector"

// ExecOwnBinary replaces the running process with BinaryName from the
// directory of its executable, with args (the command line after the
// program name, "collector" first) and the same environment, so the
// process id, and with it signals and the pod's view, stay the same. It
// returns nil at once when no such file is there (`go run .`, a binary
// copied alone), and the collector then runs in this process; otherwise it
// returns only if the exec failed.
func ExecOwnBinary(args []string) error {
	self, err := os.Executable()
	if err != nil {
		return nil
	}
	own := filepath.Join(filepath.Dir(self), BinaryName)
	ownInfo, err := os.Stat(own)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look for the collector's own binary: %w", err)
	}
	if selfInfo, err := os.Stat(self); err == nil && os.SameFile(selfInfo, ownInfo) {
		// This is that file already (the whole binary under its name):
		// exec'ing it again would never end.
		return nil
	}
	argv := append([]string{own}, args...)
	if err := syscall.Exec(own, argv, os.Environ()); err != nil {
		return fmt.Errorf("exec %s: %w", own, err)
	}
	return nil
}
