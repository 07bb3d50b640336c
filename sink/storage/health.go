package storage

import (
	"errors"
	"syscall"
)

// Prober is a Storage that can tell whether it takes writes again after a
// failure without storing anything. The batcher probes at start, so a
// volume that is full or read-only is reported before a span is accepted,
// and in Durable mode to find out when to take data again: the failed
// requests were answered with an error, so no batch is left to retry.
type Prober interface {
	Probe() error
}

// Causes of storage failures, the values of the cause label of
// spansink_storage_errors_total.
const (
	// CauseNoSpace: the volume (or the quota) is full.
	CauseNoSpace = "enospc"
	// CauseIO: the device reported an I/O error.
	CauseIO = "eio"
	// CauseReadOnly: the volume is read-only, often remounted so after errors.
	CauseReadOnly = "erofs"
	// CauseOther: anything else, such as a permission error.
	CauseOther = "other"
)

// Causes lists every cause, so metrics can start each series at zero.
var Causes = []string{CauseNoSpace, CauseIO, CauseReadOnly, CauseOther}

// Cause classifies a storage error by the errno it wraps.
func Cause(err error) string {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return CauseNoSpace
	case errors.Is(err, syscall.EIO):
		return CauseIO
	case errors.Is(err, syscall.EROFS):
		return CauseReadOnly
	default:
		return CauseOther
	}
}
