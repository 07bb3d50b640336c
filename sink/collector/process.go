package collector

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/spansink/spansink/sink/config"
)

// Go runtime defaults, applied unless GOMAXPROCS, GOGC or GOMEMLIMIT are
// set. The collector allocates a lot of short-lived memory per request and
// keeps little: collecting at 200% rather than 100% heap growth cut its CPU per
// span by about 5% in the load run for about 7 MiB more peak RSS (see
// docs/benchmarks.md). The soft memory limit then keeps a heap that grows
// with a filling queue from tripling: it is the one the operator gives a
// pod whose memory limit it derives from the config
// (config.Config.MemoryBounds), which leaves room for a full queue and
// every in-flight request, so it never makes the collector thrash while it
// holds what its config allows.
//
// The collector also runs its Go code on one processor (GOMAXPROCS 1)
// unless GOMAXPROCS is set. Its work per request is a chain of short
// handoffs between goroutines (gRPC's reader, the handler, gRPC's writer,
// the batcher's writers); with a second processor much of the CPU went to
// the scheduler waking and parking threads for them: one processor used
// about 17% less CPU per span (median of 8 interleaved load runs). Blocking
// system calls (file writes, fsync) still run on threads of their own, and
// the Go side of a span costs about 1.5 µs of CPU there, so one processor
// has room for several times the load run's 100k spans per second. The
// operator sets GOMAXPROCS from a pod's CPU limit of two or more cores.
const (
	defaultMaxProcs  = 1
	defaultGCPercent = 200
)

// ProcessOptions are what a collector process runs with besides its
// config; cmd/collector fills them from its flags.
type ProcessOptions struct {
	// Source is the config file to watch, and how its bytes make a config;
	// without a Path nothing is watched.
	Source ConfigSource
	// SourceData are the bytes the config at start was built from.
	SourceData []byte
	// MemoryLimit is the Go soft memory limit in bytes; nil: GOMEMLIMIT if
	// set, else the soft limit of the memory limit the operator would give
	// the config's pod.
	MemoryLimit *int64
	// Verbosity is the log's; 1 logs refused requests.
	Verbosity int
}

// RunProcess runs the collector as the process `spansink collector` is: it
// logs JSON lines to stderr, tunes the Go runtime, reloads the config file
// when it changes and on SIGHUP, and stops gracefully on SIGTERM or SIGINT
// (a second one kills at once) or when ctx ends.
func RunProcess(ctx context.Context, cfg config.Config, opts ProcessOptions) error {
	log := newLogger(opts.Verbosity)
	tuneRuntime(opts.MemoryLimit, cfg, log)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		// After the first signal, a second one kills at once.
		<-ctx.Done()
		stop()
	}()
	c, err := New(cfg, log)
	if err != nil {
		return err
	}
	if opts.Source.Path != "" {
		c.WatchConfig(opts.Source, opts.SourceData)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				c.ReloadConfig("sighup")
			case <-ctx.Done():
				return
			}
		}
	}()
	return c.Run(ctx)
}

// tuneRuntime applies the runtime's defaults: GOMAXPROCS, else
// defaultMaxProcs; GOGC, else defaultGCPercent; memoryLimit, else
// GOMEMLIMIT, else the soft limit of the memory limit the operator would
// give cfg's pod.
func tuneRuntime(memoryLimit *int64, cfg config.Config, log logr.Logger) {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(defaultMaxProcs)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	_, podLimit := cfg.MemoryBounds()
	limit := config.SoftMemoryLimit(podLimit)
	switch {
	case memoryLimit != nil:
		limit = *memoryLimit
	case os.Getenv("GOMEMLIMIT") != "":
		return // the runtime applied it at start
	}
	debug.SetMemoryLimit(limit)
	log.V(1).Info("set the Go soft memory limit", "bytes", limit)
}

// newLogger logs JSON lines to stderr, where container runtimes collect them.
func newLogger(verbosity int) logr.Logger {
	return funcr.NewJSON(func(obj string) {
		fmt.Fprintln(os.Stderr, obj)
	}, funcr.Options{LogTimestamp: true, Verbosity: verbosity})
}
