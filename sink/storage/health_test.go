package storage

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
)

func TestCause(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want string
	}{
		{&os.PathError{Op: "write", Path: "/data/spans.jsonl", Err: syscall.ENOSPC}, CauseNoSpace},
		{fmt.Errorf("write: %w", syscall.EDQUOT), CauseNoSpace},
		{fmt.Errorf("fsync /data/spans.jsonl: %w", &os.PathError{Op: "sync", Path: "/data/spans.jsonl", Err: syscall.EIO}), CauseIO},
		{&os.PathError{Op: "open", Path: "/data/spans.jsonl", Err: syscall.EROFS}, CauseReadOnly},
		{&os.PathError{Op: "open", Path: "/data/spans.jsonl", Err: syscall.EACCES}, CauseOther},
		{errors.New("rolling file is closed"), CauseOther},
	}
	for _, tc := range cases {
		if got := Cause(tc.err); got != tc.want {
			t.Errorf("Cause(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
