package config

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Validate reports every problem in the config, each in its own words.
func (c Config) Validate() error {
	return errors.Join(
		requireAddress("listen.otlpGrpc", c.Listen.OTLPGRPC),
		requireAddress("listen.otlpHttp", c.Listen.OTLPHTTP),
		requireAddress("listen.admin", c.Listen.Admin),
		c.Batch.validate(),
		c.Delivery.validate(),
		c.Storage.validate(),
		c.Limits.validate(),
		c.TLS.validate(),
		c.Debug.validate(),
		c.ObjectStore.validate(),
		requirePositive("shutdownTimeout", c.ShutdownTimeout),
	)
}

func (b Batch) validate() error {
	var errs []error
	if b.Size < 1 || b.Size > MaxBatchSize {
		errs = append(errs, fmt.Errorf("batch.size must be between 1 and %d, got %d", MaxBatchSize, b.Size))
	}
	if d := b.FlushInterval.Std(); d < MinFlushInterval || d > MaxFlushInterval {
		errs = append(errs, fmt.Errorf("batch.flushInterval must be between %s and %s, got %s", MinFlushInterval, MaxFlushInterval, d))
	}
	if b.MaxQueuedSpans < b.Size {
		errs = append(errs, fmt.Errorf("batch.maxQueuedSpans (%d) must be at least batch.size (%d)", b.MaxQueuedSpans, b.Size))
	}
	return errors.Join(errs...)
}

func (d Delivery) validate() error {
	switch d.Mode {
	case DeliveryBatched, DeliveryDurable:
		return nil
	}
	return fmt.Errorf("delivery.mode must be %q or %q, got %q", DeliveryBatched, DeliveryDurable, d.Mode)
}

func (s Storage) validate() error {
	var errs []error
	if s.Dir == "" {
		errs = append(errs, errors.New("storage.dir must not be empty"))
	}
	errs = append(errs, ValidateRelativeFilePath("storage.path", s.Path))
	switch s.Format {
	case FormatDBGPT, FormatOTLPJSON:
	default:
		errs = append(errs, fmt.Errorf("storage.format must be %q or %q, got %q", FormatDBGPT, FormatOTLPJSON, s.Format))
	}
	errs = append(errs, s.validateDBGPT(), s.Rotation.validate())
	return errors.Join(errs...)
}

func (s Storage) validateDBGPT() error {
	switch s.DBGPT.Records {
	case "":
		return nil
	case DBGPTRecordsFinished, DBGPTRecordsStartEnd:
	default:
		return fmt.Errorf("storage.dbgpt.records must be %q or %q, got %q", DBGPTRecordsFinished, DBGPTRecordsStartEnd, s.DBGPT.Records)
	}
	if s.Format != FormatDBGPT {
		return fmt.Errorf("storage.dbgpt.records applies only to storage.format %q, got format %q: leave it out or store dbgpt", FormatDBGPT, s.Format)
	}
	return nil
}

func (r Rotation) validate() error {
	var errs []error
	if r.MaxSizeBytes < 0 {
		errs = append(errs, fmt.Errorf("storage.rotation.maxSizeBytes must not be negative, got %d", r.MaxSizeBytes))
	}
	if r.MaxFiles < 0 {
		errs = append(errs, fmt.Errorf("storage.rotation.maxFiles must not be negative, got %d", r.MaxFiles))
	}
	if r.MaxTotalBytes < 0 {
		errs = append(errs, fmt.Errorf("storage.rotation.maxTotalBytes must not be negative, got %d", r.MaxTotalBytes))
	}
	if r.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("storage.rotation.maxAge must not be negative, got %s", r.MaxAge.Std()))
	}
	switch r.Compress {
	case CompressionNone, CompressionGzip, CompressionZstd:
	default:
		errs = append(errs, fmt.Errorf("storage.rotation.compress must be %q, %q or %q, got %q", CompressionNone, CompressionGzip, CompressionZstd, r.Compress))
	}
	return errors.Join(errs...)
}

// ValidateRelativeFilePath checks that p names a file below a volume root:
// relative, without "..", not a directory, and without the ".gz" or ".zst"
// extension that marks compressed rotated files. The operator's CRD rules and
// the collector apply the same check.
func ValidateRelativeFilePath(field, p string) error {
	switch {
	case p == "":
		return fmt.Errorf("%s must not be empty", field)
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("%s must be relative to the volume root, got absolute path %q", field, p)
	case strings.HasSuffix(p, "/"):
		return fmt.Errorf("%s must name a file, not a directory: %q", field, p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return fmt.Errorf("%s must not contain \"..\": %q", field, p)
		}
	}
	base := path.Base(path.Clean(p))
	if base == "." || base == "/" {
		return fmt.Errorf("%s must name a file: %q", field, p)
	}
	// Compressed rotated files are told by the ".gz" or ".zst" appended to
	// their names, so an active file named that way would be taken for one.
	// (A name that is all extension, like ".gz", gets ".log" appended.)
	if ext := path.Ext(base); ext != base && (strings.EqualFold(ext, ".gz") || strings.EqualFold(ext, ".zst")) {
		return fmt.Errorf("%s must not end in %q: that suffix marks compressed rotated files; name the file e.g. %q and set storage.rotation.compress", field, ext, strings.TrimSuffix(base, ext)+".jsonl")
	}
	return nil
}

func requireAddress(field, addr string) error {
	if addr == "" {
		return fmt.Errorf("%s must not be empty", field)
	}
	if !strings.Contains(addr, ":") {
		return fmt.Errorf("%s must be host:port or :port, got %q", field, addr)
	}
	return nil
}

func requirePositive(field string, d Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s must be positive, got %s", field, d.Std())
	}
	return nil
}
