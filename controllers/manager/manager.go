// Package manager is the operator process that `spansink manager` runs:
// it builds the controller-runtime manager (client limits, metrics,
// probes, leader election) around the SpanSink reconciler and runs it. The
// command line, its flags and their checks are in cmd/manager.
package manager

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/spansink/spansink/controllers"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// ImageEnv names the environment variable holding the collector image. The
// operator's own Deployment sets it to the operator's image, which contains
// the collector too.
const ImageEnv = "SPANSINK_IMAGE"

// DefaultImage is the collector image when neither --collector-image nor
// SPANSINK_IMAGE says otherwise. Release builds set it with
// -ldflags "-X github.com/spansink/spansink/controllers/manager.DefaultImage=...";
// it stays with the operator, not with the flag in cmd/manager, because it
// names the image this operator was released with.
var DefaultImage = "ghcr.io/spansink/spansink:v0.1.0"

// NamespaceEnv names the environment variable holding the operator's own
// namespace, which config/manager sets from the downward API. A SpanSink's
// NetworkPolicy admits that namespace to the collector's metrics port, where
// the operator reads which config the collector applies; outside a cluster
// it is unset and no such peer is added.
const NamespaceEnv = "POD_NAMESPACE"

// DefaultKubeAPIQPS and DefaultKubeAPIBurst are the manager's API client
// limits unless flags say otherwise; docs/benchmarks.md has the
// measurements they come from.
const (
	DefaultKubeAPIQPS   = 300
	DefaultKubeAPIBurst = 600
)

// DefaultMaxConcurrentReconciles is how many SpanSinks are reconciled at
// once unless a flag says otherwise. A pass waits on the API server for
// most of its time, so more workers than cores pay: 1,000 new SpanSinks
// took 46 s with 2 and 30 s with 8 (docs/benchmarks.md); the client
// limits above, not the workers, are what protects the API server.
const DefaultMaxConcurrentReconciles = 8

// leaderElectionID names the Lease that makes one operator replica active.
const leaderElectionID = "spansink-operator.tracing.spansink.dev"

// DefaultGCPercent is the manager's GOGC when the environment sets none.
// Most of the manager's heap is its informers' copies of the SpanSinks and
// their children, which live as long as the process; Go's default of 100
// lets garbage grow to as much again before a collection. At 50 the
// manager of 1,000 SpanSinks peaked at 118 MiB instead of 154 MiB, for
// about 7% more CPU (docs/benchmarks.md).
const DefaultGCPercent = 50

// tuneGC sets DefaultGCPercent unless GOGC says otherwise, and returns
// the percentage in force.
func tuneGC() int {
	if _, set := os.LookupEnv("GOGC"); set {
		percent := debug.SetGCPercent(-1)
		debug.SetGCPercent(percent)
		return percent
	}
	debug.SetGCPercent(DefaultGCPercent)
	return DefaultGCPercent
}

// MemoryLimitRatio is the share of the manager's memory limit, its
// container's, that its Go runtime aims to stay within (the soft memory
// limit, as GOMEMLIMIT would set it). GOGC alone lets the heap grow to one
// and a half times the live heap before a collection, whatever the limit:
// a manager whose informers' copies come near its container's limit was
// killed for memory it did not need. With the soft limit the runtime
// collects more often instead, and the tenth left over is for the
// binary's mapped pages and the runtime's own, which the soft limit does
// not count.
const MemoryLimitRatio = 0.9

// memoryLimitRefresh is how often the manager reads its memory limit again.
const memoryLimitRefresh = time.Minute

// tuneMemoryLimit sets the Go soft memory limit to MemoryLimitRatio of the
// limit provider reports (the memory cgroup's, in production) and returns
// the limit in force. A GOMEMLIMIT the operator's user sets is left in
// force, and AUTOMEMLIMIT, a ratio or "off", overrides the ratio (both as
// automemlimit reads them). Outside a memory cgroup, or in one without a
// limit, there is no limit and no error. Until ctx ends the limit is read
// again every refresh, so that a resize of the pod in place (Kubernetes
// changes a running container's cgroup) moves it too.
func tuneMemoryLimit(ctx context.Context, provider memlimit.Provider, refresh time.Duration) (int64, error) {
	limit, err := memlimit.Set(memlimit.WithRatio(MemoryLimitRatio), memlimit.WithProvider(provider),
		memlimit.WithRefreshInterval(ctx, refresh))
	if errors.Is(err, memlimit.ErrNoCgroup) || errors.Is(err, memlimit.ErrCgroupsNotSupported) {
		return limit, nil
	}
	return limit, err
}

// Options are what the manager runs with; cmd/manager fills them from its
// flags.
type Options struct {
	// MetricsAddr serves the controller's Prometheus metrics; "0" turns them off.
	MetricsAddr string
	// MetricsSecure serves the metrics over HTTPS to authenticated and
	// authorised clients only (see metricsOptions); false serves plain HTTP
	// to anyone who can reach the port.
	MetricsSecure bool
	// ProbeAddr serves /healthz and /readyz.
	ProbeAddr string
	// PprofAddr serves Go's profiles under /debug/pprof/, without
	// authentication; "0" turns them off.
	PprofAddr string
	// LeaderElect makes only one replica reconcile at a time.
	LeaderElect bool
	// CollectorImage is the image of collectors whose SpanSink names none.
	CollectorImage string
	// MaxConcurrentReconciles bounds how many SpanSinks are reconciled at once.
	MaxConcurrentReconciles int
	// KubeAPIQPS and KubeAPIBurst bound the manager's requests to the API
	// server (a token bucket: QPS sustained, Burst at once).
	KubeAPIQPS   float32
	KubeAPIBurst int
	// Zap configures logging.
	Zap zap.Options
}

// limitClient bounds all of the manager's requests by the flags' limits.
// controller-runtime leaves client-side rate limiting off unless the
// config sets it; without a bound, a mass change reaches the API server as
// fast as the workers can send. QPS and Burst alone would not do: every
// REST client made from the config (controller-runtime makes one per
// resource kind, the Event recorder its own) would get a bucket of its
// own, so the bucket itself is shared.
func limitClient(cfg *rest.Config, opts Options) {
	cfg.QPS, cfg.Burst = opts.KubeAPIQPS, opts.KubeAPIBurst
	cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(opts.KubeAPIQPS, opts.KubeAPIBurst)
}

// Run starts the manager and blocks until ctx ends or the process gets
// SIGINT or SIGTERM. opts are as cmd/manager checked them: a collector
// image, at least one reconcile at a time, and a QPS above 0 with a burst
// of at least the QPS.
func Run(ctx context.Context, opts Options) error {
	logger := zap.New(zap.UseFlagOptions(&opts.Zap))
	ctrl.SetLogger(logger)
	// client-go logs through klog (leader election, for one) in a text
	// format of its own; through the same logger, every line the manager
	// writes is JSON, which log collectors parse as a whole.
	klog.SetLogger(logger)
	log := ctrl.Log.WithName("manager")
	gcPercent := tuneGC()
	memoryLimit, err := tuneMemoryLimit(ctx, memlimit.FromCgroup, memoryLimitRefresh)
	if err != nil {
		// The manager works without a soft limit, as before it had one.
		log.Error(err, "cannot set the Go soft memory limit from the memory cgroup's; running without one")
	}

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	limitClient(cfg, opts)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        controllers.NewScheme(),
		Cache:                         controllers.CacheOptions(),
		Metrics:                       metricsOptions(opts.MetricsAddr, opts.MetricsSecure),
		HealthProbeBindAddress:        opts.ProbeAddr,
		PprofBindAddress:              opts.PprofAddr,
		LeaderElection:                opts.LeaderElect,
		LeaderElectionID:              leaderElectionID,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	reconciler := &controllers.SpanSinkReconciler{
		Client:            mgr.GetClient(),
		Recorder:          mgr.GetEventRecorder("spansink-operator"),
		CollectorImage:    opts.CollectorImage,
		APIReader:         mgr.GetAPIReader(),
		OperatorNamespace: os.Getenv(NamespaceEnv),
	}
	if err := reconciler.SetupWithManager(mgr, opts.MaxConcurrentReconciles); err != nil {
		return fmt.Errorf("set up SpanSink controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("add ready check: %w", err)
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("starting manager", "collectorImage", opts.CollectorImage, "host", cfg.Host, "namespace", reconciler.OperatorNamespace,
		"metricsAddr", opts.MetricsAddr, "metricsSecure", opts.MetricsSecure, "pprofAddr", opts.PprofAddr, "gcPercent", gcPercent, "memoryLimit", memoryLimit, "kubeAPIQPS", opts.KubeAPIQPS, "kubeAPIBurst", opts.KubeAPIBurst)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("run manager: %w", err)
	}
	return nil
}
