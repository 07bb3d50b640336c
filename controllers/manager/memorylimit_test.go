package manager

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"

	"github.com/spansink/spansink/test/memcgroup"
)

// softLimitOf is the soft limit the manager takes from a memory limit.
func softLimitOf(limit uint64) int64 { return int64(float64(limit) * MemoryLimitRatio) }

// keepMemoryLimit restores the soft memory limit and its environment after t.
func keepMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	t.Setenv("GOMEMLIMIT", "")
	os.Unsetenv("GOMEMLIMIT")
	t.Setenv("AUTOMEMLIMIT", "")
	os.Unsetenv("AUTOMEMLIMIT")
}

// The manager's Go heap aims for MemoryLimitRatio of its memory limit; a
// GOMEMLIMIT its user sets stays in force; with no cgroup or no limit
// there is none, and no error.
func TestMemoryLimit(t *testing.T) {
	const podLimit = 512 << 20
	ctx := context.Background()

	t.Run("from the limit", func(t *testing.T) {
		keepMemoryLimit(t)
		debug.SetMemoryLimit(math.MaxInt64)
		got, err := tuneMemoryLimit(ctx, memlimit.Limit(podLimit), 0)
		if err != nil || got != softLimitOf(podLimit) {
			t.Fatalf("tuneMemoryLimit = %d, %v; want %d", got, err, softLimitOf(podLimit))
		}
		if inForce := debug.SetMemoryLimit(-1); inForce != softLimitOf(podLimit) {
			t.Errorf("soft limit in force %d, want %d", inForce, softLimitOf(podLimit))
		}
	})

	t.Run("GOMEMLIMIT set", func(t *testing.T) {
		keepMemoryLimit(t)
		t.Setenv("GOMEMLIMIT", "300MiB")
		debug.SetMemoryLimit(300 << 20) // as the runtime would have at start
		got, err := tuneMemoryLimit(ctx, memlimit.Limit(podLimit), 0)
		if err != nil || got != 300<<20 {
			t.Fatalf("tuneMemoryLimit = %d, %v; want GOMEMLIMIT's %d", got, err, 300<<20)
		}
		if inForce := debug.SetMemoryLimit(-1); inForce != 300<<20 {
			t.Errorf("soft limit in force %d, want GOMEMLIMIT's", inForce)
		}
	})

	t.Run("AUTOMEMLIMIT off", func(t *testing.T) {
		keepMemoryLimit(t)
		t.Setenv("AUTOMEMLIMIT", "off")
		debug.SetMemoryLimit(math.MaxInt64)
		if got, err := tuneMemoryLimit(ctx, memlimit.Limit(podLimit), 0); err != nil || got != math.MaxInt64 {
			t.Fatalf("tuneMemoryLimit = %d, %v; want no limit", got, err)
		}
	})

	for _, outside := range []error{memlimit.ErrNoCgroup, memlimit.ErrNoLimit, memlimit.ErrCgroupsNotSupported} {
		t.Run(outside.Error(), func(t *testing.T) {
			keepMemoryLimit(t)
			debug.SetMemoryLimit(math.MaxInt64)
			got, err := tuneMemoryLimit(ctx, func() (uint64, error) { return 0, fmt.Errorf("read: %w", outside) }, 0)
			if err != nil || got != math.MaxInt64 {
				t.Fatalf("tuneMemoryLimit = %d, %v; want no limit and no error", got, err)
			}
			if inForce := debug.SetMemoryLimit(-1); inForce != math.MaxInt64 {
				t.Errorf("soft limit in force %d, want none", inForce)
			}
		})
	}

	t.Run("unreadable", func(t *testing.T) {
		keepMemoryLimit(t)
		debug.SetMemoryLimit(math.MaxInt64)
		if _, err := tuneMemoryLimit(ctx, func() (uint64, error) { return 0, errors.New("memory.max: permission denied") }, 0); err == nil ||
			!strings.Contains(err.Error(), "permission denied") {
			t.Fatalf("tuneMemoryLimit error %v, want the provider's", err)
		}
		if inForce := debug.SetMemoryLimit(-1); inForce != math.MaxInt64 {
			t.Errorf("soft limit in force %d after an error, want none", inForce)
		}
	})

	t.Run("resized in place", func(t *testing.T) {
		keepMemoryLimit(t)
		ctx, cancel := context.WithCancel(ctx)
		var limit atomic.Uint64
		limit.Store(podLimit)
		provider := func() (uint64, error) {
			if ctx.Err() != nil {
				return 0, ctx.Err() // sets nothing once the test is over
			}
			return limit.Load(), nil
		}
		defer cancel()
		if _, err := tuneMemoryLimit(ctx, provider, 10*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		limit.Store(2 * podLimit)
		deadline := time.Now().Add(10 * time.Second)
		for debug.SetMemoryLimit(-1) != softLimitOf(2*podLimit) {
			if time.Now().After(deadline) {
				t.Fatalf("soft limit %d 10 s after the resize, want %d", debug.SetMemoryLimit(-1), softLimitOf(2*podLimit))
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// memcgroupChildEnv marks the run of this test binary that
// TestMemoryLimitFromCgroup starts inside a memory cgroup.
const memcgroupChildEnv = "SPANSINK_TEST_MEMCGROUP_CHILD"

// In a memory cgroup with a limit, as in a container with one, the manager
// reads the limit from the kernel's cgroup files and takes its share.
func TestMemoryLimitFromCgroup(t *testing.T) {
	if os.Getenv(memcgroupChildEnv) != "" {
		limit, err := tuneMemoryLimit(context.Background(), memlimit.FromCgroup, 0)
		fmt.Printf("soft-limit=%d err=%v\n", limit, err)
		return
	}
	const podLimit = 300 << 20
	group, err := memcgroup.New(fmt.Sprintf("spansink-manager-test-%d", os.Getpid()), podLimit)
	if err != nil {
		t.Skipf("no memory cgroup to run in: %v", err)
	}
	cmd := group.Command(os.Args[0], "-test.run", "^TestMemoryLimitFromCgroup$")
	cmd.Env = []string{memcgroupChildEnv + "=1"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOMEMLIMIT=") && !strings.HasPrefix(kv, "AUTOMEMLIMIT=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if rmErr := group.Remove(); rmErr != nil {
		t.Errorf("remove the cgroup: %v", rmErr)
	}
	if err != nil {
		t.Fatalf("the run in the cgroup: %v\n%s", err, out)
	}
	want := "soft-limit=" + strconv.FormatInt(softLimitOf(podLimit), 10) + " err=<nil>"
	if !strings.Contains(string(out), want) {
		t.Errorf("in a cgroup limited to %d bytes the manager says\n%s\nwant %q", podLimit, out, want)
	}
}
