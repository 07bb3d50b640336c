package manifests

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/configstatus"
)

// flushInterval is the spec's flush interval, or the collector's default.
func flushInterval(sink *v1alpha1.SpanSink) time.Duration {
	if d := sink.Spec.Batch.FlushInterval; d != nil {
		return d.Duration
	}
	return config.DefaultFlushInterval
}

// CollectorConfig turns the SpanSink's spec into the collector's
// configuration. Fields the API server would have defaulted fall back to the
// same defaults here, and the result is validated with the collector's own
// checks, so the operator never ships a config the collector would refuse.
func CollectorConfig(sink *v1alpha1.SpanSink) (config.Config, error) {
	spec := sink.Spec
	cfg := config.Default()

	if spec.Batch.Size > 0 {
		cfg.Batch.Size = int(spec.Batch.Size)
	}
	cfg.Batch.FlushInterval = config.Duration(flushInterval(sink))
	if spec.Batch.MaxQueuedSpans > 0 {
		cfg.Batch.MaxQueuedSpans = int(spec.Batch.MaxQueuedSpans)
	}
	if spec.Delivery.Mode != "" {
		cfg.Delivery.Mode = spec.Delivery.Mode
	}

	// The listen addresses come from the ports the pod declares, not from
	// the collector's own defaults, which only happen to be the same.
	cfg.Listen = config.Listen{
		OTLPGRPC: listenAddress(OTLPGRPCPort),
		OTLPHTTP: listenAddress(OTLPHTTPPort),
		Admin:    listenAddress(MetricsPort),
	}
	cfg.Storage.Dir = DataMountPath
	if spec.Storage.Path != "" {
		cfg.Storage.Path = spec.Storage.Path
	}
	if spec.Storage.Format != "" {
		cfg.Storage.Format = spec.Storage.Format
	}
	// finished is the config's empty value: a spec that names it renders,
	// and so hashes, as a spec from before the option existed.
	if d := spec.Storage.DBGPT; d != nil && d.Records != "" && d.Records != v1alpha1.DBGPTRecordsFinished {
		cfg.Storage.DBGPT.Records = d.Records
	}
	rot := spec.Storage.Rotation
	if rot.Daily != nil {
		cfg.Storage.Rotation.Daily = *rot.Daily
	}
	if rot.MaxSize != nil {
		cfg.Storage.Rotation.MaxSizeBytes = rot.MaxSize.Value()
	}
	cfg.Storage.Rotation.MaxFiles = int(rot.MaxFiles)
	if rot.MaxAge != nil {
		cfg.Storage.Rotation.MaxAge = config.Duration(rot.MaxAge.Duration)
	}
	if rot.Compress != "" {
		cfg.Storage.Rotation.Compress = rot.Compress
	}
	if rot.MaxTotalSize != nil {
		cfg.Storage.Rotation.MaxTotalBytes = rot.MaxTotalSize.Value()
	}
	cfg.ObjectStore = objectStoreConfig(sink)

	applySecurity(spec, &cfg)
	cfg.ShutdownTimeout = config.Duration(shutdownTimeout(TerminationGracePeriodSeconds(sink)))

	if err := cfg.Validate(); err != nil {
		return config.Config{}, fmt.Errorf("spansink %s/%s: %w", sink.Namespace, sink.Name, err)
	}
	return cfg, nil
}

// RenderedConfig is the collector config as stored in the ConfigMap, with
// the hashes that identify it.
type RenderedConfig struct {
	// Config is the configuration itself.
	Config config.Config
	// Bytes is the YAML document stored under config.FileName.
	Bytes []byte
	// Hash is the hex SHA-256 of Bytes, as the collector hashes the file it
	// applies (configstatus.Hash, one rule for both): status.configHash, which the
	// collector's GET /config answer is compared with.
	Hash string
	// RestartHash is the hex SHA-256 of the rendered Config.RestartPart():
	// the settings a running collector cannot change. It goes on the pod
	// template (ConfigHashAnnotation), so that only a change of one of them
	// rolls the pod; a change of a live setting reaches the running
	// collector through the mounted ConfigMap.
	RestartHash string
}

// RenderConfig builds, validates and renders the collector config.
func RenderConfig(sink *v1alpha1.SpanSink) (RenderedConfig, error) {
	cfg, err := CollectorConfig(sink)
	if err != nil {
		return RenderedConfig{}, err
	}
	data, err := cfg.Render()
	if err != nil {
		return RenderedConfig{}, err
	}
	restart, err := cfg.RestartPart().Render()
	if err != nil {
		return RenderedConfig{}, err
	}
	return RenderedConfig{Config: cfg, Bytes: data, Hash: configstatus.Hash(data), RestartHash: sha256Hex(restart)}, nil
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// objectStoreConfig is the collector's objectStore section: the spec's
// store, the SpanSink's names for the keys, and the mounted Secret files.
// The shard is not in it, since every shard reads the same config: each
// shard's pod gets its own in config.ShardEnv.
func objectStoreConfig(sink *v1alpha1.SpanSink) config.ObjectStore {
	store := sink.Spec.Storage.ObjectStore
	if store == nil {
		return config.ObjectStore{}
	}
	out := config.ObjectStore{
		Endpoint: store.Endpoint, Region: store.Region, Bucket: store.Bucket, Prefix: store.Prefix,
		PathStyle: store.ForcePathStyle, Namespace: sink.Namespace, Sink: sink.Name,
		DeleteAfterUpload: store.LocalRetention == v1alpha1.LocalRetentionDeleteAfterUpload,
	}
	if store.MaxDelay != nil {
		out.MaxDelay = config.Duration(store.MaxDelay.Duration)
	}
	if creds := store.CredentialsSecretRef; creds != nil {
		out.AccessKeyIDFile = secretFile(ObjectStoreCredentialsMountPath, AccessKeyIDFile)
		out.SecretAccessKeyFile = secretFile(ObjectStoreCredentialsMountPath, SecretAccessKeyFile)
		if creds.SessionTokenKey != "" {
			out.SessionTokenFile = secretFile(ObjectStoreCredentialsMountPath, SessionTokenFile)
		}
	}
	if store.CASecretRef != nil {
		out.CAFile = secretFile(ObjectStoreCAMountPath, ClientCAFile)
	}
	return out
}
