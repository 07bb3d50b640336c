// Package manager is the `spansink manager` command: the operator process
// that runs the SpanSink controller.
package manager

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spansink/spansink/controllers"
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
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
// -ldflags "-X github.com/spansink/spansink/controllers/manager.DefaultImage=...".
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

// leaderElectionID names the Lease that makes one operator replica active.
const leaderElectionID = "spansink-operator.tracing.spansink.dev"

// Options are the manager's flags.
type Options struct {
	// MetricsAddr serves the controller's Prometheus metrics; "0" turns them off.
	MetricsAddr string
	// MetricsSecure serves the metrics over HTTPS to authenticated and
	// authorised clients only (see metricsOptions); false serves plain HTTP
	// to anyone who can reach the port.
	MetricsSecure bool
	// ProbeAddr serves /healthz and /readyz.
	ProbeAddr string
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

// NewCommand returns the `spansink manager` command.
func NewCommand() *cobra.Command {
	opts := Options{Zap: zap.Options{Development: false}}
	cmd := &cobra.Command{
		Use:   "manager",
		Short: "Run the SpanSink operator against the cluster of the current kubeconfig",
		Long: "Run the SpanSink operator: it reconciles each SpanSink into a collector " +
			"Deployment, Service, ConfigMap, PersistentVolumeClaim and ServiceAccount. " +
			"It uses the in-cluster config, or KUBECONFIG / --kubeconfig outside a cluster.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return Run(cmd, opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opts.MetricsAddr, "metrics-bind-address", DefaultMetricsAddr, `address the metrics endpoint binds to; "0" disables it`)
	fs.BoolVar(&opts.MetricsSecure, "metrics-secure", true, "serve metrics over HTTPS to clients with a token allowed to get /metrics (TokenReview and SubjectAccessReview); false serves plain HTTP to anyone")
	fs.StringVar(&opts.ProbeAddr, "health-probe-bind-address", ":8081", "address the /healthz and /readyz endpoints bind to")
	fs.BoolVar(&opts.LeaderElect, "leader-elect", false, "elect one active manager through a Lease, for running more than one replica")
	fs.StringVar(&opts.CollectorImage, "collector-image", defaultCollectorImage(), "collector image for SpanSinks that name none (default from $"+ImageEnv+")")
	fs.IntVar(&opts.MaxConcurrentReconciles, "max-concurrent-reconciles", 2, "how many SpanSinks are reconciled at once")
	fs.Float32Var(&opts.KubeAPIQPS, "kube-api-qps", DefaultKubeAPIQPS, "requests per second the manager sends to the API server at most, sustained")
	fs.IntVar(&opts.KubeAPIBurst, "kube-api-burst", DefaultKubeAPIBurst, "requests the manager may send to the API server at once, above --kube-api-qps")
	goFlags := flag.NewFlagSet("manager", flag.ContinueOnError)
	opts.Zap.BindFlags(goFlags)
	ctrl.RegisterFlags(goFlags)
	fs.AddGoFlagSet(goFlags)
	return cmd
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

func defaultCollectorImage() string {
	if image := os.Getenv(ImageEnv); image != "" {
		return image
	}
	return DefaultImage
}

// Run starts the manager and blocks until the command's context ends or
// the process gets SIGINT or SIGTERM.
func Run(cmd *cobra.Command, opts Options) error {
	if opts.CollectorImage == "" {
		return errors.New("--collector-image must not be empty")
	}
	if opts.MaxConcurrentReconciles < 1 {
		return fmt.Errorf("--max-concurrent-reconciles must be at least 1, got %d", opts.MaxConcurrentReconciles)
	}
	if !(opts.KubeAPIQPS > 0) {
		return fmt.Errorf("--kube-api-qps must be more than 0, got %v", opts.KubeAPIQPS)
	}
	if float32(opts.KubeAPIBurst) < opts.KubeAPIQPS {
		return fmt.Errorf("--kube-api-burst must be at least --kube-api-qps (%v), got %d", opts.KubeAPIQPS, opts.KubeAPIBurst)
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts.Zap)))
	log := ctrl.Log.WithName("manager")

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

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("starting manager", "collectorImage", opts.CollectorImage, "host", cfg.Host, "namespace", reconciler.OperatorNamespace,
		"metricsAddr", opts.MetricsAddr, "metricsSecure", opts.MetricsSecure, "kubeAPIQPS", opts.KubeAPIQPS, "kubeAPIBurst", opts.KubeAPIBurst)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("run manager: %w", err)
	}
	return nil
}
