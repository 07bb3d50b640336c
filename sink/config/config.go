// Package config is the collector's configuration: one Go type that the
// operator renders into the collector's ConfigMap and the collector parses,
// so the two can never drift apart.
package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	yamlv2 "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"

	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/sink/spanfile"
)

// FileName is the key under which the operator stores the rendered config in
// the collector's ConfigMap, and so the file name inside the mounted volume.
const FileName = "collector.yaml"

// Default values, shared by the collector's flags and the CRD's defaults.
const (
	// DefaultGRPCAddress is the OTLP/gRPC listen address: every interface,
	// the OTLP default port. The operator sets its own from the pod's ports.
	DefaultGRPCAddress = ":4317"
	// DefaultHTTPAddress is the OTLP/HTTP listen address, the OTLP default port.
	DefaultHTTPAddress = ":4318"
	// DefaultAdminAddress serves metrics and the health endpoints. A
	// standalone collector binds it to loopback, so that a laptop's
	// collector does not show its metrics (or, when enabled, its recent
	// spans) to the network; the operator sets every interface, which the
	// kubelet's probes need.
	DefaultAdminAddress = "127.0.0.1:8888"
	// DefaultBatchSize is DB-GPT's default batch_size.
	DefaultBatchSize = 1000
	// DefaultFlushInterval is DB-GPT's default flush_interval.
	DefaultFlushInterval = 5 * time.Second
	// DefaultMaxQueuedSpans bounds memory at 100 default batches.
	DefaultMaxQueuedSpans = 100000
	// DefaultPath is the active span file, relative to the storage dir.
	DefaultPath = "spans.jsonl"
	// DefaultMaxSizeBytes rotates the active file at 100 MiB.
	DefaultMaxSizeBytes = 100 << 20
	// DefaultMaxRequestBytes bounds a request body at 20 MiB, after
	// decompression too, so a small compressed body cannot exhaust memory.
	DefaultMaxRequestBytes = 20 << 20
	// DefaultShutdownTimeout bounds a graceful stop when no config says.
	DefaultShutdownTimeout = 60 * time.Second
	// MinFlushInterval is the shortest flush interval: shorter would spend
	// the collector on writes of a few spans each.
	MinFlushInterval = 10 * time.Millisecond
	// MaxFlushInterval is the longest time a span may wait in memory.
	MaxFlushInterval = time.Hour
	// MaxBatchSize bounds one flush, and so the memory one write needs.
	MaxBatchSize = 1000000
)

// The config's enumerations are the API's (api/v1alpha1), declared once:
// every value the SpanSink CRD accepts is one the collector knows, and the
// operator copies a spec's value into the config as it is. The collector's
// own rules about them (an empty value, what needs a restart) are here.

// Format is how spans are laid out on disk, one JSON object per line.
type Format = v1alpha1.Format

const (
	// FormatDBGPT writes one span per line with DB-GPT's keys.
	FormatDBGPT = v1alpha1.FormatDBGPT
	// FormatOTLPJSON writes one OTLP JSON ExportTraceServiceRequest per line.
	FormatOTLPJSON = v1alpha1.FormatOTLPJSON
)

// DBGPTRecords says how the dbgpt format writes a span that arrives
// finished, as every OTLP span does.
type DBGPTRecords = v1alpha1.DBGPTRecords

const (
	// DBGPTRecordsFinished writes such a span as one line, its end record.
	// It is what an empty value means, so that configs written before the
	// option existed render and hash as they did.
	DBGPTRecordsFinished = v1alpha1.DBGPTRecordsFinished
	// DBGPTRecordsStartEnd writes such a span as DB-GPT's own tracer does:
	// its start record (end_time null, nothing only the end knows), then
	// its end record. DB-GPT's `dbgpt trace` CLI builds its trees from
	// start records, and shows nothing of a span without one.
	DBGPTRecordsStartEnd = v1alpha1.DBGPTRecordsStartEnd
)

// Compression is what rotated files are compressed with. It is the naming
// contract's type (it decides the rotated files' suffix), so that the
// config hands it to the writer as it is, with no conversion.
type Compression = spanfile.Compression

// The values of storage.rotation.compress; spanfile says what each means.
const (
	// CompressionNone keeps rotated files as written (spanfile.None).
	CompressionNone = spanfile.None
	// CompressionGzip compresses rotated files with gzip (spanfile.Gzip).
	CompressionGzip = spanfile.Gzip
	// CompressionZstd compresses rotated files with zstd (spanfile.Zstd).
	CompressionZstd = spanfile.Zstd
)

// DeliveryMode says when a request is acknowledged.
type DeliveryMode = v1alpha1.DeliveryMode

const (
	// DeliveryBatched acknowledges once the spans are queued.
	DeliveryBatched = v1alpha1.DeliveryBatched
	// DeliveryDurable acknowledges once the spans are written and fsynced.
	DeliveryDurable = v1alpha1.DeliveryDurable
)

// Config is the whole collector configuration.
type Config struct {
	// Listen holds the addresses the collector serves on.
	Listen Listen `json:"listen"`
	// Batch says when queued spans are flushed to storage.
	Batch Batch `json:"batch"`
	// Delivery says when a request is acknowledged.
	Delivery Delivery `json:"delivery"`
	// Storage says where and how spans are written.
	Storage Storage `json:"storage"`
	// Limits protect the collector from oversized input and misbehaving clients.
	Limits Limits `json:"limits"`
	// Auth says which clients may send spans and read the debug endpoints.
	Auth Auth `json:"auth,omitzero"`
	// TLS encrypts the two OTLP ports.
	TLS TLS `json:"tls,omitzero"`
	// Debug serves /debug/spans and /debug/pprof on the admin port.
	Debug Debug `json:"debug"`
	// ObjectStore ships sealed span files to an S3-compatible bucket.
	ObjectStore ObjectStore `json:"objectStore,omitzero"`
	// ShutdownTimeout bounds how long a graceful stop may take to drain.
	ShutdownTimeout Duration `json:"shutdownTimeout"`
}

// Listen holds the collector's listen addresses.
type Listen struct {
	// OTLPGRPC is the OTLP/gRPC address (TraceService/Export).
	OTLPGRPC string `json:"otlpGrpc"`
	// OTLPHTTP is the OTLP/HTTP address (/v1/traces) that also takes DB-GPT spans (/v1/spans).
	OTLPHTTP string `json:"otlpHttp"`
	// Admin serves /metrics, /healthz, /readyz and /debug/spans.
	Admin string `json:"admin"`
}

// Batch says when queued spans are flushed: DB-GPT's batch_size and flush_interval.
type Batch struct {
	// Size is the number of waiting spans that triggers a flush.
	Size int `json:"size"`
	// FlushInterval is the longest time a span waits before a flush.
	FlushInterval Duration `json:"flushInterval"`
	// MaxQueuedSpans bounds the spans held in memory; beyond it ingest pushes back.
	MaxQueuedSpans int `json:"maxQueuedSpans"`
}

// Delivery says when a request is acknowledged.
type Delivery struct {
	// Mode is Batched or Durable.
	Mode DeliveryMode `json:"mode"`
}

// Storage says where spans are written and how the files roll.
type Storage struct {
	// Dir is the volume root; Path is resolved against it.
	Dir string `json:"dir"`
	// Path is the active span file, relative to Dir.
	Path string `json:"path"`
	// Format is the on-disk line format.
	Format Format `json:"format"`
	// DBGPT tunes the dbgpt format; it applies to no other.
	DBGPT DBGPTStorage `json:"dbgpt,omitzero"`
	// Rotation says when the active file is renamed and how long rotated files are kept.
	Rotation Rotation `json:"rotation"`
}

// DBGPTStorage tunes the dbgpt format.
type DBGPTStorage struct {
	// Records is how a span that arrives finished is written: finished
	// (one line; also what empty means) or startEnd (a start record, then
	// the end record).
	Records DBGPTRecords `json:"records,omitempty"`
}

// StartEnd reports whether a finished span is written as a start record
// and an end record.
func (d DBGPTStorage) StartEnd() bool { return d.Records == DBGPTRecordsStartEnd }

// Rotation says when the active file rolls over and what is kept.
type Rotation struct {
	// Daily renames the file to <base>_<YYYY-MM-DD><ext> at the first write of a new day.
	Daily bool `json:"daily"`
	// MaxSizeBytes rotates the file before a write would take it past this size; 0 turns size rotation off.
	MaxSizeBytes int64 `json:"maxSizeBytes"`
	// MaxFiles keeps at most this many rotated files; 0 keeps all.
	MaxFiles int `json:"maxFiles"`
	// MaxAge removes rotated files older than this; 0 keeps them.
	MaxAge Duration `json:"maxAge"`
	// MaxTotalBytes removes the oldest rotated files while the span files
	// together take more than this; 0 sets no bound. With an object
	// store, only files the store confirmed are removed.
	MaxTotalBytes int64 `json:"maxTotalBytes,omitempty"`
	// Compress is how rotated files are compressed in the background.
	Compress Compression `json:"compress"`
	// UTC judges days in UTC; false uses the collector's local time zone.
	UTC bool `json:"utc"`
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Listen: Listen{OTLPGRPC: DefaultGRPCAddress, OTLPHTTP: DefaultHTTPAddress, Admin: DefaultAdminAddress},
		Batch: Batch{
			Size:           DefaultBatchSize,
			FlushInterval:  Duration(DefaultFlushInterval),
			MaxQueuedSpans: DefaultMaxQueuedSpans,
		},
		Delivery: Delivery{Mode: DeliveryBatched},
		Storage: Storage{
			Dir:    ".",
			Path:   DefaultPath,
			Format: FormatDBGPT,
			Rotation: Rotation{
				Daily:        true,
				MaxSizeBytes: DefaultMaxSizeBytes,
				Compress:     CompressionNone,
				UTC:          true,
			},
		},
		Limits:          DefaultLimits(),
		Debug:           Debug{RecentSpansBytes: DefaultRecentSpansBytes},
		ShutdownTimeout: Duration(DefaultShutdownTimeout),
	}
}

// Render returns the YAML document the operator stores in the ConfigMap.
// Its output is deterministic, so a hash of it identifies the config in force.
//
// The document is byte for byte sigs.k8s.io/yaml's Marshal, which every
// ConfigMap so far holds: a different rendering would change every hash and
// roll every collector at an operator upgrade. That Marshal writes JSON and
// parses it again with yaml.v2's parser to learn which numbers are ints,
// which cost the operator a third of all it allocated while it created
// SpanSinks; here the JSON is decoded by encoding/json and its numbers are
// typed as yaml.v2 types them (yamlValue).
func (c Config) Render() ([]byte, error) {
	js, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("render collector config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("render collector config: %w", err)
	}
	out, err := yamlv2.Marshal(yamlValue(tree))
	if err != nil {
		return nil, fmt.Errorf("render collector config: %w", err)
	}
	return out, nil
}

// yamlValue gives the numbers of a tree decoded with UseNumber the Go types
// yaml.v2's resolver gives them when it reads JSON: int when the number is
// an integer that fits, else uint64, else float64. Maps and lists are
// changed in place.
func yamlValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = yamlValue(e)
		}
	case []any:
		for i, e := range v {
			v[i] = yamlValue(e)
		}
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return int(i)
		}
		if u, err := strconv.ParseUint(string(v), 10, 64); err == nil {
			return u
		}
		if f, err := strconv.ParseFloat(string(v), 64); err == nil {
			return f
		}
		// Past float64's range yaml.v2 keeps the text, as a string.
		return string(v)
	}
	return v
}

// Parse reads a YAML or JSON document over the defaults, refusing unknown
// fields so that a typo is an error rather than a silently ignored setting,
// and validates the result.
func Parse(data []byte) (Config, error) {
	cfg := Default()
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return Config{}, fmt.Errorf("parse collector config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("parse collector config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Load reads and parses the config file at path.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read collector config: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}
