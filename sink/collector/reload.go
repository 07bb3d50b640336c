package collector

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spansink/spansink/sink/batch"
	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/configstatus"
	"github.com/spansink/spansink/sink/filewatch"
	"github.com/spansink/spansink/sink/ingest"
	"github.com/spansink/spansink/sink/storage/rollingfile"
)

// DefaultConfigPollInterval is how often the config file is read again
// even when no file system event said it changed: events are not delivered
// on every file system, and a missed one must not leave old settings in
// force for long. The file is hashed, so an unchanged one costs a read.
const DefaultConfigPollInterval = 10 * time.Second

// ConfigSource is where a running collector reads its config again.
type ConfigSource struct {
	// Path is the config file (--config). Its directory is watched, not
	// the file: the kubelet updates a mounted ConfigMap by swapping the
	// ..data symlink to a new directory, which raises no event on the old
	// file.
	Path string
	// Build makes the config to put in force from the file's bytes: parse
	// them, lay the command line's flags over them, validate.
	Build func(data []byte) (config.Config, error)
	// PollInterval is how often the file is read without an event; zero
	// means DefaultConfigPollInterval.
	PollInterval time.Duration
}

// WatchConfig makes the collector read src again when its directory
// changes, every poll interval, and on ReloadConfig, applying what changed
// in live fields. initial is the content of the config in force, which
// /config then reports by its hash. Call it before Run.
func (c *Collector) WatchConfig(src ConfigSource, initial []byte) {
	if src.PollInterval <= 0 {
		src.PollInterval = DefaultConfigPollInterval
	}
	c.reload.mu.Lock()
	defer c.reload.mu.Unlock()
	c.reload.src = &src
	c.reload.status.AppliedHash = configstatus.Hash(initial)
	c.reload.seen = c.reload.status.AppliedHash
	c.configMetrics.applied(c.reload.status)
}

// ConfigStatus returns what GET /config answers.
func (c *Collector) ConfigStatus() configstatus.Status {
	c.reload.mu.Lock()
	status := c.reload.status
	c.reload.mu.Unlock()
	if c.uploader != nil {
		upload := c.uploader.Status()
		status.Upload = &upload
	}
	return status
}

// ReloadConfig reads the config file again and applies it if it changed,
// as SIGHUP asks; it returns the result (ReloadApplied, ReloadRefused or
// ReloadUnchanged). Without a config file there is nothing to read, and it
// returns ReloadUnchanged.
func (c *Collector) ReloadConfig(trigger string) string {
	c.reload.mu.Lock()
	defer c.reload.mu.Unlock()
	if c.reload.src == nil {
		c.log.Info("no config file to read again; settings come from the command line only", "trigger", trigger)
		return ReloadUnchanged
	}
	result := c.reloadLocked(trigger)
	c.configMetrics.reloads.WithLabelValues(result).Inc()
	return result
}

func (c *Collector) reloadLocked(trigger string) string {
	r := &c.reload
	data, err := os.ReadFile(r.src.Path)
	if err != nil {
		// No content to hash: the error itself tells one failure from
		// the next, so each is logged once.
		return c.refuseLocked("read error: "+err.Error(), "", fmt.Errorf("read collector config: %w", err), trigger)
	}
	hash := configstatus.Hash(data)
	if hash == r.seen {
		return ReloadUnchanged
	}
	if hash == r.status.AppliedHash {
		// Back to the content in force after a refused one.
		r.seen, r.status.RefusedHash, r.status.RefusedError = hash, "", ""
		c.log.Info("config file holds the config in force again", "hash", hash, "trigger", trigger)
		return ReloadUnchanged
	}
	next, err := r.src.Build(data)
	if err != nil {
		return c.refuseLocked(hash, hash, err, trigger)
	}
	cur := c.current()
	if changed := cur.RestartChanges(next); len(changed) > 0 {
		err := fmt.Errorf("%s cannot change while the collector runs: restart it to apply them (in a cluster the operator rolls the pod for these fields)", strings.Join(changed, ", "))
		return c.refuseLocked(hash, hash, err, trigger)
	}
	if err := c.applyLocked(next); err != nil {
		return c.refuseLocked(hash, hash, err, trigger)
	}
	r.seen = hash
	r.status = configstatus.Status{AppliedHash: hash, Generation: r.status.Generation + 1, AppliedAt: time.Now().UTC()}
	c.configMetrics.applied(r.status)
	c.log.Info("applied a changed config", "generation", r.status.Generation, "hash", hash, "trigger", trigger, "changed", cur.LiveChanges(next))
	return ReloadApplied
}

// refuseLocked keeps the config in force and reports why the content
// seen (hash, or a read error's text) was not applied, logging it once.
func (c *Collector) refuseLocked(seen, hash string, err error, trigger string) string {
	r := &c.reload
	r.seen = seen
	r.status.RefusedHash, r.status.RefusedError = hash, err.Error()
	c.log.Error(err, "refused a changed config; the one in force stays", "hash", hash, "trigger", trigger,
		"generation", r.status.Generation, "appliedHash", r.status.AppliedHash)
	return ReloadRefused
}

// applyLocked puts the live fields of next in force. next differs from
// the config in force in live fields only and is valid, so the only
// failure left is a collector that began to stop.
func (c *Collector) applyLocked(next config.Config) error {
	if err := c.batcher.Reconfigure(batch.Tuning{
		Size:           next.Batch.Size,
		FlushInterval:  next.Batch.FlushInterval.Std(),
		MaxQueuedSpans: next.Batch.MaxQueuedSpans,
		Durable:        next.Delivery.Mode == config.DeliveryDurable,
	}); err != nil {
		return fmt.Errorf("reconfigure the batcher: %w", err)
	}
	c.file.SetRotation(rotationOf(next.Storage.Rotation))
	c.ingestLimits.Set(ingestLimitsOf(next))
	if err := c.inflight.SetLimit(next.Limits.MaxInflightBytes); err != nil {
		return fmt.Errorf("resize the inflight budget: %w", err)
	}
	c.ring.SetKeeping(next.Debug.Enabled)
	c.applied.Store(&next)
	return nil
}

// rotationOf is the rolling file's rotation for the config's.
func rotationOf(r config.Rotation) rollingfile.Rotation {
	loc := time.UTC
	if !r.UTC {
		loc = time.Local
	}
	return rollingfile.Rotation{
		Daily:        r.Daily,
		MaxSize:      r.MaxSizeBytes,
		MaxFiles:     r.MaxFiles,
		MaxAge:       r.MaxAge.Std(),
		MaxTotalSize: r.MaxTotalBytes,
		Compression:  r.Compress,
		Location:     loc,
	}
}

// ingestLimitsOf is ingest's live limits for cfg.
func ingestLimitsOf(cfg config.Config) ingest.Limits {
	return ingest.Limits{
		// A request larger than the queue could never be queued, and
		// refusing it keeps the crash-loss bound of Batched mode.
		MaxSpansPerRequest:     cfg.Batch.MaxQueuedSpans,
		MaxAttributesPerSpan:   cfg.Limits.MaxAttributesPerSpan,
		MaxAttributeValueBytes: cfg.Limits.MaxAttributeValueBytes,
		MaxConcurrentRequests:  cfg.Limits.MaxConcurrentRequests,
	}
}

// startConfigWatch watches the config file's directory from now on.
func (c *Collector) startConfigWatch() *filewatch.Watcher {
	c.reload.mu.Lock()
	defer c.reload.mu.Unlock()
	return filewatch.Start([]string{filepath.Dir(c.reload.src.Path)}, "the config file", c.log)
}

// watchConfig reads the config file again when w sees its directory change
// and every poll interval, until stop is closed.
func (c *Collector) watchConfig(w *filewatch.Watcher, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	c.reload.mu.Lock()
	poll := c.reload.src.PollInterval
	c.reload.mu.Unlock()
	w.Run(poll, stop, func(trigger string) { c.ReloadConfig(trigger) })
}

// reloadState is the config status and what serialises reloads.
type reloadState struct {
	mu     sync.Mutex
	src    *ConfigSource // nil without a config file
	status configstatus.Status
	// seen identifies the content last read: its hash, or a read error.
	seen string
}

// initConfigStatus puts cfg in force as generation 1. Until WatchConfig
// names the file's content, /config reports the hash of cfg rendered.
func (c *Collector) initConfigStatus(cfg config.Config) error {
	rendered, err := cfg.Render()
	if err != nil {
		return err
	}
	c.applied.Store(&cfg)
	c.configMetrics = newConfigMetrics(c.registry)
	c.reload.status = configstatus.Status{AppliedHash: configstatus.Hash(rendered), Generation: 1, AppliedAt: time.Now().UTC()}
	c.reload.seen = c.reload.status.AppliedHash
	c.configMetrics.applied(c.reload.status)
	return nil
}

// current returns the config in force.
func (c *Collector) current() config.Config { return *c.applied.Load() }

// watching reports whether WatchConfig named a file to watch.
func (c *Collector) watching() bool {
	c.reload.mu.Lock()
	defer c.reload.mu.Unlock()
	return c.reload.src != nil
}
