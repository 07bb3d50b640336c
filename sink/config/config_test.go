package config

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("default config is invalid: %v", err)
	}
}

func TestRenderParseRoundTrip(t *testing.T) {
	cfg := Default()
	cfg.Batch.Size = 42
	cfg.Batch.FlushInterval = Duration(250 * time.Millisecond)
	cfg.Storage.Dir = "/data"
	cfg.Storage.Path = "traces/app.jsonl"
	cfg.Storage.Rotation.Compress = CompressionZstd
	cfg.Delivery.Mode = DeliveryDurable
	rendered, err := cfg.Render()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rendered), "flushInterval: 250ms") {
		t.Errorf("durations should render as Go duration strings, got:\n%s", rendered)
	}
	parsed, err := Parse(rendered)
	if err != nil {
		t.Fatalf("parse rendered config: %v", err)
	}
	if parsed != cfg {
		t.Errorf("round trip changed the config:\n got %+v\nwant %+v", parsed, cfg)
	}
}

// The dbgpt records option is new: a config that leaves it at its default
// must render as configs did before it existed (the operator hashes the
// rendering onto the pod, so anything else would roll every collector on an
// upgrade), and startEnd must survive the round trip.
func TestDBGPTRecordsRender(t *testing.T) {
	rendered, err := Default().Render()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(rendered), "dbgpt:") || strings.Contains(string(rendered), "records") {
		t.Errorf("the default config renders the dbgpt records option:\n%s", rendered)
	}
	cfg := Default()
	cfg.Storage.DBGPT.Records = DBGPTRecordsStartEnd
	if rendered, err = cfg.Render(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rendered), "  dbgpt:\n    records: startEnd\n") {
		t.Errorf("startEnd renders as:\n%s", rendered)
	}
	parsed, err := Parse(rendered)
	if err != nil {
		t.Fatalf("parse rendered config: %v", err)
	}
	if parsed != cfg || !parsed.Storage.DBGPT.StartEnd() {
		t.Errorf("round trip changed the config:\n got %+v\nwant %+v", parsed.Storage, cfg.Storage)
	}
	for _, doc := range []string{"storage:\n  dbgpt:\n    records: finished\n", "storage:\n  dbgpt: {}\n"} {
		parsed, err := Parse([]byte(doc))
		if err != nil || parsed.Storage.DBGPT.StartEnd() {
			t.Errorf("%q: start/end pairs %v, error %v; want one finished line", doc, parsed.Storage.DBGPT.StartEnd(), err)
		}
	}
}

func TestParseFillsDefaults(t *testing.T) {
	cfg, err := Parse([]byte("batch:\n  size: 10\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Batch.Size = 10
	if cfg != want {
		t.Errorf("got %+v, want %+v", cfg, want)
	}
}

func TestParseRejects(t *testing.T) {
	cases := []struct {
		name, doc, wantErr string
	}{
		{"unknown field", "batch:\n  sise: 10\n", `unknown field "sise"`},
		{"bad duration", "batch:\n  flushInterval: soon\n", `invalid duration "soon"`},
		{"batch size zero", "batch:\n  size: 0\n", "batch.size must be between 1 and 1000000, got 0"},
		{"flush too short", "batch:\n  flushInterval: 1ms\n", "batch.flushInterval must be between 10ms and 1h0m0s, got 1ms"},
		{"flush too long", "batch:\n  flushInterval: 2h\n", "batch.flushInterval must be between 10ms and 1h0m0s, got 2h0m0s"},
		{"queue below batch", "batch:\n  size: 10\n  maxQueuedSpans: 5\n", "batch.maxQueuedSpans (5) must be at least batch.size (10)"},
		{"mode", "delivery:\n  mode: Sometimes\n", `delivery.mode must be "Batched" or "Durable", got "Sometimes"`},
		{"absolute path", "storage:\n  path: /etc/passwd\n", `storage.path must be relative to the volume root, got absolute path "/etc/passwd"`},
		{"dot dot", "storage:\n  path: a/../../b.jsonl\n", `storage.path must not contain ".."`},
		{"directory", "storage:\n  path: spans/\n", "storage.path must name a file, not a directory"},
		{"dot", "storage:\n  path: .\n", "storage.path must name a file"},
		{"gzip extension", "storage:\n  path: spans.gz\n", `storage.path must not end in ".gz": that suffix marks compressed rotated files; name the file e.g. "spans.jsonl"`},
		{"zstd extension", "storage:\n  path: logs/spans.jsonl.ZST\n", `storage.path must not end in ".ZST"`},
		{"format", "storage:\n  format: csv\n", `storage.format must be "dbgpt" or "otlp-json", got "csv"`},
		{"dbgpt records", "storage:\n  dbgpt:\n    records: pairs\n", `storage.dbgpt.records must be "finished" or "startEnd", got "pairs"`},
		{"dbgpt records case", "storage:\n  dbgpt:\n    records: StartEnd\n", `storage.dbgpt.records must be "finished" or "startEnd", got "StartEnd"`},
		{"dbgpt records of otlp-json", "storage:\n  format: otlp-json\n  dbgpt:\n    records: startEnd\n", `storage.dbgpt.records applies only to storage.format "dbgpt", got format "otlp-json"`},
		{"dbgpt finished of otlp-json", "storage:\n  format: otlp-json\n  dbgpt:\n    records: finished\n", `storage.dbgpt.records applies only to storage.format "dbgpt", got format "otlp-json"`},
		{"compress", "storage:\n  rotation:\n    compress: lz4\n", `storage.rotation.compress must be "none", "gzip" or "zstd", got "lz4"`},
		{"negative size", "storage:\n  rotation:\n    maxSizeBytes: -1\n", "storage.rotation.maxSizeBytes must not be negative"},
		{"negative files", "storage:\n  rotation:\n    maxFiles: -1\n", "storage.rotation.maxFiles must not be negative"},
		{"request limit", "limits:\n  maxRequestBytes: 0\n", "limits.maxRequestBytes must be positive"},
		{"inflight below request", "limits:\n  maxRequestBytes: 1000\n  maxInflightBytes: 999\n", "limits.maxInflightBytes (999) must be at least limits.maxRequestBytes (1000)"},
		{"streams", "limits:\n  maxConcurrentStreams: 0\n", "limits.maxConcurrentStreams must be positive, got 0"},
		{"request timeout", "limits:\n  requestTimeout: 0s\n", "limits.requestTimeout must be positive"},
		{"negative value length", "limits:\n  maxAttributeValueBytes: -1\n", "limits.maxAttributeValueBytes must not be negative"},
		{"key without cert", "tls:\n  keyFile: /k\n", "tls.keyFile is set without tls.certFile"},
		{"cert without key", "tls:\n  certFile: /c\n", "tls.certFile is set without tls.keyFile"},
		{"client CA without cert", "tls:\n  clientCAFile: /ca\n", "tls.clientCAFile requires tls.certFile and tls.keyFile"},
		{"ring bytes", "debug:\n  recentSpansBytes: 0\n", "debug.recentSpansBytes must be positive"},
		{"address", "listen:\n  otlpGrpc: \"4317\"\n", `listen.otlpGrpc must be host:port or :port, got "4317"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if err == nil {
				t.Fatalf("expected an error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := Default()
	cfg.Batch.Size = 0
	cfg.Storage.Format = "csv"
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "batch.size") || !strings.Contains(err.Error(), "storage.format") {
		t.Errorf("want both problems reported, got %v", err)
	}
}
