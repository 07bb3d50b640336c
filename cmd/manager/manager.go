// Package manager is the `spansink manager` command line: its flags, their
// checks, and their translation into the options of controllers/manager,
// which builds and runs the operator itself.
package manager

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	operator "github.com/spansink/spansink/controllers/manager"
)

// NewCommand returns the `spansink manager` command.
func NewCommand() *cobra.Command {
	return newCommand(operator.Run)
}

// newCommand runs run with the checked options; tests stop there, short of
// a cluster.
func newCommand(run func(context.Context, operator.Options) error) *cobra.Command {
	opts := operator.Options{Zap: zap.Options{Development: false}}
	cmd := &cobra.Command{
		Use:   "manager",
		Short: "Run the SpanSink operator against the cluster of the current kubeconfig",
		Long: "Run the SpanSink operator: it reconciles each SpanSink into a collector " +
			"Deployment, Service, ConfigMap, PersistentVolumeClaim and ServiceAccount. " +
			"It uses the in-cluster config, or KUBECONFIG / --kubeconfig outside a cluster.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Bad flags are refused before the manager reaches for a cluster.
			if err := validate(opts); err != nil {
				return err
			}
			return run(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opts.MetricsAddr, "metrics-bind-address", operator.DefaultMetricsAddr, `address the metrics endpoint binds to; "0" disables it`)
	fs.BoolVar(&opts.MetricsSecure, "metrics-secure", true, "serve metrics over HTTPS to clients with a token allowed to get /metrics (TokenReview and SubjectAccessReview); false serves plain HTTP to anyone")
	fs.StringVar(&opts.ProbeAddr, "health-probe-bind-address", ":8081", "address the /healthz and /readyz endpoints bind to")
	fs.StringVar(&opts.PprofAddr, "pprof-bind-address", "0", `address Go's profiles (/debug/pprof/) bind to, without authentication, so bind it to localhost and reach it with kubectl port-forward; "0" disables it`)
	fs.BoolVar(&opts.LeaderElect, "leader-elect", false, "elect one active manager through a Lease, for running more than one replica")
	fs.StringVar(&opts.CollectorImage, "collector-image", defaultCollectorImage(), "collector image for SpanSinks that name none (default from $"+operator.ImageEnv+")")
	fs.IntVar(&opts.MaxConcurrentReconciles, "max-concurrent-reconciles", operator.DefaultMaxConcurrentReconciles, "how many SpanSinks are reconciled at once")
	fs.Float32Var(&opts.KubeAPIQPS, "kube-api-qps", operator.DefaultKubeAPIQPS, "requests per second the manager sends to the API server at most, sustained")
	fs.IntVar(&opts.KubeAPIBurst, "kube-api-burst", operator.DefaultKubeAPIBurst, "requests the manager may send to the API server at once, above --kube-api-qps")
	goFlags := flag.NewFlagSet("manager", flag.ContinueOnError)
	opts.Zap.BindFlags(goFlags)
	// --kubeconfig, which ctrl.GetConfig in operator.Run reads.
	ctrl.RegisterFlags(goFlags)
	fs.AddGoFlagSet(goFlags)
	return cmd
}

// defaultCollectorImage is --collector-image's default: the operator's
// Deployment sets the variable to its own image, which holds the collector
// too; elsewhere the image the binary was built for.
func defaultCollectorImage() string {
	if image := os.Getenv(operator.ImageEnv); image != "" {
		return image
	}
	return operator.DefaultImage
}

// validate checks the flags' values, in the flags' words.
func validate(opts operator.Options) error {
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
	return nil
}
