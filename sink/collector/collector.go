// Package collector runs the batching collector: OTLP/gRPC and OTLP/HTTP
// (plus DB-GPT's JSON) ingest in front of the batcher, the rolling span file
// and the in-memory ring, and an admin server with metrics, health and the
// most recent spans; and the process around it (RunProcess: runtime
// tuning, logging, signals, config reloads). It runs the same in a pod and
// on a laptop; its command line, and how flags make its config, are in
// cmd/collector.
package collector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"

	"github.com/spansink/spansink/sink/access"
	"github.com/spansink/spansink/sink/batch"
	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/format"
	"github.com/spansink/spansink/sink/ingest"
	"github.com/spansink/spansink/sink/objectstore"
	"github.com/spansink/spansink/sink/storage"
	"github.com/spansink/spansink/sink/storage/memory"
	"github.com/spansink/spansink/sink/storage/rollingfile"
	"github.com/spansink/spansink/sink/storage/volume"
)

// DefaultRecentSpans is how many recent records /debug/spans can show.
const DefaultRecentSpans = 1000

// readHeaderTimeout stops clients that open connections and never send a
// request from holding them forever.
const readHeaderTimeout = 10 * time.Second

// Collector is one running collector. New opens the storage and binds the
// listeners, so a bad directory or a taken port fails before anything is
// served; Run serves until its context ends and then stops gracefully.
type Collector struct {
	// cfg is the config at start. Its restart fields (config.RestartFields)
	// stay in force; applied holds the live ones in force now.
	cfg      config.Config
	applied  atomic.Pointer[config.Config]
	reload   reloadState
	log      logr.Logger
	registry *prometheus.Registry
	file     *rollingfile.RollingFile
	ring     *memory.Ring
	batcher  *batch.Batcher
	creds    *access.Credentials
	// uploader ships sealed files to the object store; nil without one.
	uploader *objectstore.Uploader
	stopping atomic.Bool

	configMetrics *configMetrics
	ingestLimits  *ingest.LiveLimits
	inflight      *ingest.InflightBudget

	grpcListener, httpListener, adminListener net.Listener
	grpcServer                                *grpc.Server
	httpServer, adminServer                   *http.Server
}

// New validates cfg, opens the span file (repairing a torn tail), starts
// the batcher and binds the three listen addresses.
func New(cfg config.Config, log logr.Logger) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid collector config: %w", err)
	}
	encoder, err := format.EncoderFor(cfg.Storage)
	if err != nil {
		return nil, err
	}
	c := &Collector{cfg: cfg, log: log, registry: prometheus.NewRegistry()}
	c.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := c.initConfigStatus(cfg); err != nil {
		return nil, err
	}
	// Credentials first: a missing token file or a bad certificate is a
	// mistake to report before anything is opened or bound.
	if err := c.openAccess(); err != nil {
		return nil, err
	}

	rot := rotationOf(cfg.Storage.Rotation)
	c.file = &rollingfile.RollingFile{
		Filename:         filepath.Join(cfg.Storage.Dir, cfg.Storage.Path),
		Daily:            rot.Daily,
		MaxSize:          rot.MaxSize,
		MaxFiles:         rot.MaxFiles,
		MaxAge:           rot.MaxAge,
		MaxTotalSize:     rot.MaxTotalSize,
		Compression:      rot.Compression,
		Location:         rot.Location,
		Logger:           log.WithName("file"),
		Metrics:          rollingfile.NewMetrics(c.registry),
		DropWrittenPages: true,
	}
	// The uploader reads its manifest before the file's first retention
	// pass, which asks it which files the store holds.
	if err := c.openUploader(context.Background()); err != nil {
		return nil, errors.Join(err, c.creds.Close())
	}
	if err := c.file.Open(); err != nil {
		if storage.Cause(err) == storage.CauseOther {
			// A wrong path or permission: a mistake to fix, not wait out.
			return nil, errors.Join(err, c.creds.Close())
		}
		// A full, failing or read-only volume may come back. Exiting
		// would only start a crash loop; the batcher probes the volume
		// and keeps the collector not ready until it takes writes.
		log.Error(err, "span volume not writable at start; not ready until it is", "cause", storage.Cause(err))
	}
	// How full the span volume is, read at each scrape: the volume alert
	// fires on it before writes fail.
	c.registry.MustRegister(volume.NewCollector(cfg.Storage.Dir))
	c.ring = memory.NewBounded(DefaultRecentSpans, cfg.Debug.RecentSpansBytes)
	// Only /debug/spans reads the ring: with the debug endpoints off it
	// would hold up to its budget of span contents (a whole request per
	// line in otlp-json) and copy every line, for nobody.
	c.ring.SetKeeping(cfg.Debug.Enabled)
	c.registerRingMetrics()
	c.batcher, err = batch.New(batch.Options{
		Size:           cfg.Batch.Size,
		FlushInterval:  cfg.Batch.FlushInterval.Std(),
		MaxQueuedSpans: cfg.Batch.MaxQueuedSpans,
		Durable:        cfg.Delivery.Mode == config.DeliveryDurable,
		Metrics:        batch.NewMetrics(c.registry),
		Logger:         log.WithName("batch"),
	}, c.file, c.ring)
	if err != nil {
		return nil, errors.Join(err, c.file.Close(), c.creds.Close())
	}
	if err := c.listen(); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout.Std())
		defer cancel()
		return nil, errors.Join(err, c.batcher.Close(ctx), c.creds.Close())
	}
	c.encryptHTTP()
	c.ingestLimits = ingest.NewLiveLimits(ingestLimitsOf(cfg))
	c.inflight = ingest.NewInflightBudget(cfg.Limits.MaxInflightBytes, c.registry)
	ingestOpts := ingest.Options{
		Submitter:       c.batcher,
		Encoder:         encoder,
		MaxRequestBytes: cfg.Limits.MaxRequestBytes,
		Metrics:         ingest.NewMetrics(c.registry),
		Logger:          log.WithName("ingest"),
		// One set of limits for both ports, swapped by a reload.
		Live: c.ingestLimits,
		// One budget for both ports: it bounds the collector's memory.
		Inflight:             c.inflight,
		MaxConcurrentStreams: cfg.Limits.MaxConcurrentStreams,
		RequestTimeout:       cfg.Limits.RequestTimeout.Std(),
		IdleTimeout:          cfg.Limits.IdleTimeout.Std(),
		MaxHeaderBytes:       cfg.Limits.MaxHeaderBytes,
		GRPCTap:              c.grpcAuthTap(),
	}
	c.grpcServer = grpc.NewServer(append(ingest.GRPCServerOptions(ingestOpts), c.accessGRPCOptions()...)...)
	ingest.RegisterGRPCService(c.grpcServer, ingest.NewGRPCService(ingestOpts))
	c.httpServer = ingest.HTTPServer(c.guardIngest(ingest.NewHTTPHandler(ingestOpts)), ingestOpts)
	c.adminServer = &http.Server{Handler: c.adminHandler(), ReadHeaderTimeout: readHeaderTimeout}
	return c, nil
}

func (c *Collector) listen() error {
	var err error
	if c.grpcListener, err = net.Listen("tcp", c.cfg.Listen.OTLPGRPC); err != nil {
		return fmt.Errorf("listen for OTLP/gRPC: %w", err)
	}
	if c.httpListener, err = net.Listen("tcp", c.cfg.Listen.OTLPHTTP); err != nil {
		c.grpcListener.Close()
		return fmt.Errorf("listen for OTLP/HTTP: %w", err)
	}
	if c.adminListener, err = net.Listen("tcp", c.cfg.Listen.Admin); err != nil {
		c.grpcListener.Close()
		c.httpListener.Close()
		return fmt.Errorf("listen for the admin server: %w", err)
	}
	return nil
}

// Addrs are the addresses the collector actually listens on, which differ
// from the configured ones when those use port 0.
type Addrs struct {
	OTLPGRPC, OTLPHTTP, Admin string
}

// Addrs returns the bound listen addresses.
func (c *Collector) Addrs() Addrs {
	return Addrs{
		OTLPGRPC: c.grpcListener.Addr().String(),
		OTLPHTTP: c.httpListener.Addr().String(),
		Admin:    c.adminListener.Addr().String(),
	}
}

// Run serves until ctx ends (SIGTERM in the command) or a server fails,
// then stops gracefully: it turns not-ready, refuses new spans with
// 503/Unavailable while it drains the queue, writes, syncs and closes the
// storages, and finally stops the servers, all within ShutdownTimeout. It
// returns nil when every accepted span was stored.
func (c *Collector) Run(ctx context.Context) error {
	// The config directory is watched before anything serves: a kubelet
	// update made once the collector answers must raise an event, and a
	// watch set up later on another goroutine could miss it for a whole
	// poll interval.
	stopWatch, watchDone := make(chan struct{}), make(chan struct{})
	if c.watching() {
		go c.watchConfig(c.startConfigWatch(), stopWatch, watchDone)
	} else {
		close(watchDone)
	}
	served := make(chan error, 3)
	serve := func(name string, run func() error) {
		go func() {
			if err := run(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, grpc.ErrServerStopped) {
				served <- fmt.Errorf("%s server: %w", name, err)
			}
		}()
	}
	serve("OTLP/gRPC", func() error { return c.grpcServer.Serve(c.grpcListener) })
	serve("OTLP/HTTP", func() error { return c.httpServer.Serve(c.httpListener) })
	serve("admin", func() error { return c.adminServer.Serve(c.adminListener) })
	uploadCtx, stopUploads := context.WithCancel(context.Background())
	uploadsDone := make(chan struct{})
	if c.uploader != nil {
		go func() { defer close(uploadsDone); c.uploader.Run(uploadCtx) }()
	} else {
		close(uploadsDone)
	}
	addrs := c.Addrs()
	c.log.Info("collector serving", "otlpGrpc", addrs.OTLPGRPC, "otlpHttp", addrs.OTLPHTTP, "admin", addrs.Admin,
		"file", c.file.Filename, "format", c.cfg.Storage.Format, "delivery", c.cfg.Delivery.Mode,
		"batchSize", c.cfg.Batch.Size, "flushInterval", c.cfg.Batch.FlushInterval.Std().String(),
		"tls", c.cfg.TLS.Enabled(), "mutualTLS", c.cfg.TLS.ClientCAFile != "", "bearerTokens", c.cfg.Auth.Enabled(), "debugEndpoints", c.cfg.Debug.Enabled)

	var serveErr error
	select {
	case <-ctx.Done():
		c.log.Info("stopping: refusing new spans and draining the queue")
	case serveErr = <-served:
		c.log.Error(serveErr, "a server failed; stopping")
	}
	// No reload while draining: the config in force is the one to stop with.
	close(stopWatch)
	<-watchDone
	// An upload in flight is abandoned: the file is still sealed on the
	// volume, and the next start finds it (or the object) again.
	stopUploads()
	<-uploadsDone
	return errors.Join(serveErr, c.shutdown())
}

func (c *Collector) shutdown() error {
	c.stopping.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), c.current().ShutdownTimeout.Std())
	defer cancel()
	start := time.Now()
	// The ingest servers keep answering while the queue drains, so that
	// clients hear 503/Unavailable (retry elsewhere) instead of a refused
	// connection, and Durable requests already waiting get their ack.
	var errs []error
	if err := c.batcher.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("drain the queue: %w", err))
	}
	if err := c.httpServer.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop the OTLP/HTTP server: %w", err))
	}
	stopGRPC(ctx, c.grpcServer)
	if err := c.adminServer.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop the admin server: %w", err))
	}
	if err := c.creds.Close(); err != nil {
		errs = append(errs, fmt.Errorf("stop watching the credential files: %w", err))
	}
	err := errors.Join(errs...)
	if err != nil {
		c.log.Error(err, "stopped with errors", "took", time.Since(start).String())
	} else {
		c.log.Info("stopped; every accepted span is stored", "took", time.Since(start).String())
	}
	return err
}

// stopGRPC lets in-flight calls finish, but not past ctx.
func stopGRPC(ctx context.Context, s *grpc.Server) {
	done := make(chan struct{})
	go func() {
		s.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.Stop()
		<-done
	}
}

// openUploader makes the object store's client and uploader when the
// config names a bucket, and hooks them into the rolling file: retention
// keeps what the store has not confirmed, and every mill pass wakes the
// uploader.
func (c *Collector) openUploader(ctx context.Context) error {
	store := c.cfg.ObjectStore
	if !store.Enabled() {
		return nil
	}
	endpoint := objectstore.Endpoint{
		URL: store.Endpoint, Region: store.Region, PathStyle: store.PathStyle,
		AccessKeyIDFile: store.AccessKeyIDFile, SecretAccessKeyFile: store.SecretAccessKeyFile,
		SessionTokenFile: store.SessionTokenFile, CAFile: store.CAFile,
	}
	c.uploader = &objectstore.Uploader{
		Connect:           func(ctx context.Context) (*s3.Client, error) { return objectstore.NewClient(ctx, endpoint) },
		Bucket:            store.Bucket,
		Location:          objectstore.Location{Prefix: store.Prefix, Namespace: store.Namespace, Sink: store.Sink, Shard: store.Shard},
		Filename:          c.file.Filename,
		Files:             c.file,
		MaxDelay:          store.MaxDelay.Std(),
		DeleteAfterUpload: store.DeleteAfterUpload,
		Logger:            c.log.WithName("upload"),
		Metrics:           objectstore.NewMetrics(c.registry),
	}
	if err := c.uploader.Open(ctx); err != nil {
		return err
	}
	c.file.Removable = c.uploader.Shipped
	c.file.FirstFreeIndex = c.uploader.FirstFreeIndex
	c.file.AfterMill = c.uploader.Wake
	return nil
}
