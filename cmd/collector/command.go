// Package collector is the `spansink collector` command line: its flags,
// and how they and the --config file make the collector's config, at start
// and at every reload. The collector itself, and the process around it
// (runtime tuning, logging, signals), are in sink/collector.
//
// Building the config stays here, with the flags, rather than in
// sink/config: what it adds to config.Parse and Config.Validate is flag
// precedence (the file, then $SPANSINK_SHARD, then each flag that was set),
// which only the command line knows.
package collector

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	sinkcollector "github.com/spansink/spansink/sink/collector"
	"github.com/spansink/spansink/sink/config"
)

// flags are the standalone settings; each one that is set overrides the
// config file (or the defaults).
type flags struct {
	configFile   string
	configPoll   time.Duration
	path         string
	format       string
	delivery     string
	batchSize    int
	flushEvery   time.Duration
	maxQueued    int
	grpcAddress  string
	httpAddress  string
	adminAddress string
	compress     string
	maxSize      string
	maxFiles     int
	maxAge       time.Duration
	daily        bool
	utc          bool
	maxRequest   string
	shutdown     time.Duration
	memoryLimit  string
	verbosity    int

	bearerTokenFile  string
	tlsCertFile      string
	tlsKeyFile       string
	tlsClientCAFile  string
	debugEndpoints   bool
	recentSpansBytes string
	shard            int
}

// NewCommand returns `spansink collector`.
func NewCommand() *cobra.Command {
	cmd, _ := newCommand()
	return cmd
}

// newCommand also returns the flags it binds, for tests of the config they
// make.
func newCommand() (*cobra.Command, *flags) {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "collector",
		Short: "Receive spans over OTLP and DB-GPT JSON, batch them and write rolling JSON-lines files",
		Long: `The collector receives spans over OTLP/gRPC, OTLP/HTTP and DB-GPT's span JSON,
queues them, and writes them in batches (by size or interval, whichever comes
first) to a JSON-lines file that rolls over by day and size.

In a cluster the operator runs it with --config (the file it renders). On its
own, flags are enough:

  spansink collector --path ./data/spans.jsonl

Clients can be made to authenticate and the OTLP ports to encrypt:

  spansink collector --bearer-token-file ./tokens \
    --tls-cert-file ./tls.crt --tls-key-file ./tls.key

The files are read again when they change, so a rotated token or renewed
certificate takes effect without a restart. The admin port binds to
loopback unless --admin-address says otherwise; it serves /metrics,
/healthz and /readyz, and /debug/spans and /debug/pprof/ only with
--debug-endpoints (behind the bearer tokens when they are set).

Flags that are set override the config file, also when it is read again:
the collector applies a changed file while running (it watches the file's
directory, reads it every --config-poll-interval, and on SIGHUP) as far as
the change is to fields that can change live (batch, delivery, rotation,
most limits, debug.enabled, shutdownTimeout); a file that does not parse
or validate, or that changes another field, is refused and logged, and the
config in force stays. GET /config on the admin port shows the SHA-256 of
the file in force. SIGTERM or SIGINT stop it
gracefully: new spans are refused with 503/Unavailable, the queue is drained
and fsynced, and it exits 0 when every accepted span is stored.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := f.readConfigFile()
			if err != nil {
				return err
			}
			cfg, err := f.build(cmd.Flags(), data)
			if err != nil {
				return err
			}
			opts := sinkcollector.ProcessOptions{Verbosity: f.verbosity}
			if f.memoryLimit != "" {
				limit, err := parseBytes(f.memoryLimit)
				if err != nil {
					return fmt.Errorf("--memory-limit: %w", err)
				}
				opts.MemoryLimit = &limit
			}
			if f.configFile != "" {
				// A reload builds the config as the start did, so the
				// flags that are set keep overriding the file.
				opts.Source = sinkcollector.ConfigSource{
					Path:         f.configFile,
					Build:        func(data []byte) (config.Config, error) { return f.build(cmd.Flags(), data) },
					PollInterval: f.configPoll,
				}
				opts.SourceData = data
			}
			return sinkcollector.RunProcess(cmd.Context(), cfg, opts)
		},
	}
	def := config.Default()
	fs := cmd.Flags()
	fs.StringVar(&f.configFile, "config", "", "collector config file (YAML, as the operator renders it); flags that are set override it; read again when it changes")
	fs.DurationVar(&f.configPoll, "config-poll-interval", sinkcollector.DefaultConfigPollInterval, "how often the --config file is read again even without a file system event (it is hashed, so an unchanged file is not applied again)")
	fs.StringVar(&f.path, "path", filepath.Join(def.Storage.Dir, def.Storage.Path), "the active span file; rotated files go next to it")
	fs.StringVar(&f.format, "format", string(def.Storage.Format), `line format: "dbgpt" or "otlp-json"`)
	fs.StringVar(&f.delivery, "delivery", string(def.Delivery.Mode), `when requests are acknowledged: "Batched" (queued) or "Durable" (written and fsynced)`)
	fs.IntVar(&f.batchSize, "batch-size", def.Batch.Size, "flush when this many spans wait")
	fs.DurationVar(&f.flushEvery, "flush-interval", def.Batch.FlushInterval.Std(), "flush at least this often")
	fs.IntVar(&f.maxQueued, "max-queued-spans", def.Batch.MaxQueuedSpans, "spans held in memory before ingest answers 429/ResourceExhausted")
	fs.StringVar(&f.grpcAddress, "grpc-address", def.Listen.OTLPGRPC, "OTLP/gRPC listen address")
	fs.StringVar(&f.httpAddress, "http-address", def.Listen.OTLPHTTP, "OTLP/HTTP and DB-GPT listen address")
	fs.StringVar(&f.adminAddress, "admin-address", def.Listen.Admin, "admin listen address (/metrics, /healthz, /readyz, and the debug endpoints when enabled); loopback by default, so a laptop's collector shows nothing to the network")
	fs.StringVar(&f.compress, "compress", string(def.Storage.Rotation.Compress), `compression of rotated files: "none", "gzip" or "zstd"`)
	fs.StringVar(&f.maxSize, "max-size", strconv.FormatInt(def.Storage.Rotation.MaxSizeBytes, 10), "rotate the file before it grows past this size (bytes, or with a KiB/MiB/GiB suffix); 0 turns size rotation off")
	fs.IntVar(&f.maxFiles, "max-files", def.Storage.Rotation.MaxFiles, "keep at most this many rotated files; 0 keeps all")
	fs.DurationVar(&f.maxAge, "max-age", def.Storage.Rotation.MaxAge.Std(), "remove rotated files older than this; 0 keeps them")
	fs.BoolVar(&f.daily, "daily", def.Storage.Rotation.Daily, "roll the file over at the first write of each day")
	fs.BoolVar(&f.utc, "utc", def.Storage.Rotation.UTC, "judge days in UTC; false uses the local time zone")
	fs.StringVar(&f.maxRequest, "max-request-bytes", strconv.FormatInt(def.Limits.MaxRequestBytes, 10), "largest request body, also after decompression (bytes, or with a KiB/MiB/GiB suffix)")
	fs.DurationVar(&f.shutdown, "shutdown-timeout", def.ShutdownTimeout.Std(), "longest a graceful stop may take to drain")
	fs.StringVar(&f.memoryLimit, "memory-limit", "", "Go soft memory limit (bytes, or with a KiB/MiB/GiB suffix); default GOMEMLIMIT if set, else room for a full queue and every in-flight request, as the operator gives a pod")
	fs.IntVarP(&f.verbosity, "verbosity", "v", 0, "log verbosity; 1 logs refused requests")
	fs.StringVar(&f.bearerTokenFile, "bearer-token-file", "", `file of accepted bearer tokens, one a line (# comments); clients must send "Authorization: Bearer <token>" (gRPC: the authorization metadata); re-read when it changes`)
	fs.StringVar(&f.tlsCertFile, "tls-cert-file", "", "PEM server certificate chain: both OTLP ports serve TLS 1.2 or later; re-read when it changes")
	fs.StringVar(&f.tlsKeyFile, "tls-key-file", "", "PEM private key of --tls-cert-file")
	fs.StringVar(&f.tlsClientCAFile, "tls-client-ca-file", "", "PEM CA certificates: clients must present a certificate they signed (mutual TLS); re-read when it changes")
	fs.BoolVar(&f.debugEndpoints, "debug-endpoints", def.Debug.Enabled, "serve /debug/spans (the spans written while it is on) and /debug/pprof/ on the admin port, behind the bearer tokens when set")
	fs.IntVar(&f.shard, "shard", 0, "this collector's shard index in the object store's keys (default $"+config.ShardEnv+", which the operator sets on each shard's pod)")
	fs.StringVar(&f.recentSpansBytes, "recent-spans-bytes", strconv.FormatInt(def.Debug.RecentSpansBytes, 10), "memory for the recent spans /debug/spans shows (bytes, or with a KiB/MiB/GiB suffix); bounds its answer too")
	return cmd, f
}

// config builds the configuration: the file (or the defaults), then every
// flag that was set, then validation.
func (f *flags) config(fs *pflag.FlagSet) (config.Config, error) {
	data, err := f.readConfigFile()
	if err != nil {
		return config.Config{}, err
	}
	return f.build(fs, data)
}

// readConfigFile returns the --config file's bytes, nil without one.
func (f *flags) readConfigFile() ([]byte, error) {
	if f.configFile == "" {
		return nil, nil
	}
	data, err := os.ReadFile(f.configFile)
	if err != nil {
		return nil, fmt.Errorf("read collector config: %w", err)
	}
	return data, nil
}

// build makes the configuration from the config file's bytes (nil: the
// defaults), then every flag that was set, then validation. A reload calls
// it again with the file's new bytes, so the flags keep overriding it.
func (f *flags) build(fs *pflag.FlagSet, data []byte) (config.Config, error) {
	cfg := config.Default()
	if data != nil {
		var err error
		if cfg, err = config.Parse(data); err != nil {
			return config.Config{}, fmt.Errorf("%s: %w", f.configFile, err)
		}
	}
	var errs []error
	set := func(name string, apply func() error) {
		if fs.Changed(name) {
			if err := apply(); err != nil {
				errs = append(errs, fmt.Errorf("--%s: %w", name, err))
			}
		}
	}
	set("path", func() error {
		if f.path == "" || strings.HasSuffix(f.path, "/") {
			return fmt.Errorf("must name a file, got %q", f.path)
		}
		clean := filepath.Clean(f.path)
		cfg.Storage.Dir, cfg.Storage.Path = filepath.Dir(clean), filepath.Base(clean)
		return nil
	})
	set("format", func() error { cfg.Storage.Format = config.Format(f.format); return nil })
	set("delivery", func() error { cfg.Delivery.Mode = config.DeliveryMode(f.delivery); return nil })
	set("batch-size", func() error { cfg.Batch.Size = f.batchSize; return nil })
	set("flush-interval", func() error { cfg.Batch.FlushInterval = config.Duration(f.flushEvery); return nil })
	set("max-queued-spans", func() error { cfg.Batch.MaxQueuedSpans = f.maxQueued; return nil })
	set("grpc-address", func() error { cfg.Listen.OTLPGRPC = f.grpcAddress; return nil })
	set("http-address", func() error { cfg.Listen.OTLPHTTP = f.httpAddress; return nil })
	set("admin-address", func() error { cfg.Listen.Admin = f.adminAddress; return nil })
	set("compress", func() error { cfg.Storage.Rotation.Compress = config.Compression(f.compress); return nil })
	set("max-size", func() (err error) { cfg.Storage.Rotation.MaxSizeBytes, err = parseBytes(f.maxSize); return err })
	set("max-files", func() error { cfg.Storage.Rotation.MaxFiles = f.maxFiles; return nil })
	set("max-age", func() error { cfg.Storage.Rotation.MaxAge = config.Duration(f.maxAge); return nil })
	set("daily", func() error { cfg.Storage.Rotation.Daily = f.daily; return nil })
	set("utc", func() error { cfg.Storage.Rotation.UTC = f.utc; return nil })
	set("max-request-bytes", func() (err error) { cfg.Limits.MaxRequestBytes, err = parseBytes(f.maxRequest); return err })
	set("shutdown-timeout", func() error { cfg.ShutdownTimeout = config.Duration(f.shutdown); return nil })
	set("bearer-token-file", func() error { cfg.Auth.BearerTokenFile = f.bearerTokenFile; return nil })
	set("tls-cert-file", func() error { cfg.TLS.CertFile = f.tlsCertFile; return nil })
	set("tls-key-file", func() error { cfg.TLS.KeyFile = f.tlsKeyFile; return nil })
	set("tls-client-ca-file", func() error { cfg.TLS.ClientCAFile = f.tlsClientCAFile; return nil })
	set("debug-endpoints", func() error { cfg.Debug.Enabled = f.debugEndpoints; return nil })
	set("recent-spans-bytes", func() (err error) { cfg.Debug.RecentSpansBytes, err = parseBytes(f.recentSpansBytes); return err })
	// The operator sets the variable on every shard; it means something
	// only to the keys of an object store.
	if value, ok := os.LookupEnv(config.ShardEnv); ok && !fs.Changed("shard") && cfg.ObjectStore.Enabled() {
		shard, err := strconv.Atoi(value)
		if err != nil || shard < 0 {
			errs = append(errs, fmt.Errorf("$%s must be a shard index (0, 1, ...), got %q", config.ShardEnv, value))
		}
		cfg.ObjectStore.Shard = shard
	}
	set("shard", func() error { cfg.ObjectStore.Shard = f.shard; return nil })
	if f.memoryLimit != "" {
		if _, err := parseBytes(f.memoryLimit); err != nil {
			errs = append(errs, fmt.Errorf("--memory-limit: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return config.Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return config.Config{}, fmt.Errorf("invalid collector config: %w", err)
	}
	return cfg, nil
}

// parseBytes reads a byte count such as "1048576", "64MiB" or "1Gi".
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		scale  int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}, {"B", 1}}
	num, scale := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, scale = rest, u.scale
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/scale {
		return 0, fmt.Errorf("want a byte count such as 1048576, 64MiB or 1GiB, got %q", s)
	}
	return n * scale, nil
}
