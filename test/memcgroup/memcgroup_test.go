package memcgroup

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// A process in a group runs under the group's limit: the kernel kills one
// that holds more, and the group counts the kill; one that stays under it
// runs to its end and is charged what it used.
func TestLimitIsEnforced(t *testing.T) {
	const limit = 32 << 20
	group, err := New(fmt.Sprintf("spansink-memcgroup-test-%d", os.Getpid()), limit)
	if err != nil {
		t.Skipf("no memory cgroup to run in: %v", err)
	}
	t.Cleanup(func() {
		if err := group.Remove(); err != nil {
			t.Errorf("remove the group: %v", err)
		}
	})

	// The shell holds the 8 MiB it reads in a variable.
	small := group.Command("/bin/sh", "-c", `x=$(head -c 8388608 /dev/zero | tr '\0' a); echo ${#x}`)
	if out, err := small.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "8388608" {
		t.Fatalf("8 MiB under a 32 MiB limit: %v, %q", err, out)
	}
	if peak, err := group.PeakBytes(); err != nil || peak < 8<<20 || peak > limit {
		t.Errorf("peak charge %d (%v), want between 8 MiB and the limit", peak, err)
	}
	if kills, err := group.OOMKills(); err != nil || kills != 0 {
		t.Fatalf("OOM kills after the small process: %d, %v", kills, err)
	}

	big := group.Command("/bin/sh", "-c", `x=$(head -c 134217728 /dev/zero | tr '\0' a); echo ${#x}`)
	out, err := big.CombinedOutput()
	if err == nil {
		t.Fatalf("128 MiB under a 32 MiB limit ran to its end: %q", out)
	}
	if kills, err := group.OOMKills(); err != nil || kills == 0 {
		t.Errorf("OOM kills after the big process: %d, %v; want at least 1 (it ended with %v)", kills, err, err)
	}
}
