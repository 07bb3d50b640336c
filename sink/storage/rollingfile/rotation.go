package rollingfile

import (
	"time"

	"github.com/spansink/spansink/sink/spanfile"
)

// Rotation is the part of a RollingFile's fields that may change while it
// is open: when the active file rolls over and what is kept of the rotated
// ones. Each field means what the RollingFile field of the same name does.
type Rotation struct {
	Daily        bool
	MaxSize      int64
	MaxFiles     int
	MaxAge       time.Duration
	MaxTotalSize int64
	Compression  spanfile.Compression
	Location     *time.Location
}

// Rotation returns the rotation in force.
func (r *RollingFile) Rotation() Rotation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rotationLocked()
}

func (r *RollingFile) rotationLocked() Rotation {
	return Rotation{
		Daily:        r.Daily,
		MaxSize:      r.MaxSize,
		MaxFiles:     r.MaxFiles,
		MaxAge:       r.MaxAge,
		MaxTotalSize: r.MaxTotalSize,
		Compression:  r.Compression,
		Location:     r.Location,
	}
}

// SetRotation puts rot in force. The next Write rolls over by the new
// rules (a MaxSize below the active file's size rotates it before that
// write), and, when the file is open, a retention and compression pass
// starts at once, so that a smaller MaxFiles or MaxAge or a newly set
// Compression applies to the files already rotated without waiting for the
// next rotation. The active file is never cut or rewritten.
func (r *RollingFile) SetRotation(rot Rotation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Daily = rot.Daily
	r.MaxSize = rot.MaxSize
	r.MaxFiles = rot.MaxFiles
	r.MaxAge = rot.MaxAge
	r.MaxTotalSize = rot.MaxTotalSize
	r.Compression = rot.Compression
	r.Location = rot.Location
	if r.millDone != nil && !r.closed {
		r.wakeMill()
	}
}
