//go:build !linux

package rollingfile

import "os"

// dropPages is a no-op where posix_fadvise is not available.
func dropPages(*os.File, int64) {}
