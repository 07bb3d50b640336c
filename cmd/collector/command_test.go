package collector

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spansink/spansink/sink/config"
)

func TestFlagsMakeTheConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, config.FileName)
	fromFile := config.Default()
	fromFile.Storage.Dir = "/data"
	fromFile.Batch.Size = 77
	fromFile.Delivery.Mode = config.DeliveryDurable
	rendered, err := fromFile.Render()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, rendered, 0o644); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name  string
		args  []string
		check func(config.Config) bool
	}{
		{"defaults", nil, func(c config.Config) bool {
			return c.Storage.Dir == "." && c.Storage.Path == "spans.jsonl" && c.Batch.Size == config.DefaultBatchSize
		}},
		{"path splits into dir and file", []string{"--path", "./data/spans.jsonl"}, func(c config.Config) bool { return c.Storage.Dir == "data" && c.Storage.Path == "spans.jsonl" }},
		{"absolute path", []string{"--path", "/var/spans/s.log"}, func(c config.Config) bool { return c.Storage.Dir == "/var/spans" && c.Storage.Path == "s.log" }},
		{"batching", []string{"--batch-size", "10", "--flush-interval", "250ms", "--max-queued-spans", "500"}, func(c config.Config) bool {
			return c.Batch.Size == 10 && c.Batch.FlushInterval.Std() == 250*time.Millisecond && c.Batch.MaxQueuedSpans == 500
		}},
		{"sizes with units", []string{"--max-size", "64MiB", "--max-request-bytes", "1Ki"}, func(c config.Config) bool {
			return c.Storage.Rotation.MaxSizeBytes == 64<<20 && c.Limits.MaxRequestBytes == 1024
		}},
		{"rotation", []string{"--compress", "zstd", "--max-files", "3", "--max-age", "48h", "--daily=false", "--utc=false"}, func(c config.Config) bool {
			r := c.Storage.Rotation
			return r.Compress == config.CompressionZstd && r.MaxFiles == 3 && r.MaxAge.Std() == 48*time.Hour && !r.Daily && !r.UTC
		}},
		{"config file", []string{"--config", file}, func(c config.Config) bool {
			return c.Storage.Dir == "/data" && c.Batch.Size == 77 && c.Delivery.Mode == config.DeliveryDurable
		}},
		{"flags override the file", []string{"--config", file, "--batch-size", "5", "--admin-address", "127.0.0.1:0"}, func(c config.Config) bool {
			return c.Batch.Size == 5 && c.Listen.Admin == "127.0.0.1:0" && c.Delivery.Mode == config.DeliveryDurable
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd, f := newCommand()
			if err := cmd.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
			cfg, err := f.config(cmd.Flags())
			if err != nil {
				t.Fatalf("config: %v", err)
			}
			if !tc.check(cfg) {
				t.Fatalf("config from %v is %+v", tc.args, cfg)
			}
		})
	}
}

func TestBadFlagsGiveClearErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--format", "xml"}, []string{`storage.format must be "dbgpt" or "otlp-json", got "xml"`}},
		{[]string{"--batch-size", "0", "--delivery", "Maybe"}, []string{"batch.size must be between", `delivery.mode must be "Batched" or "Durable", got "Maybe"`}},
		{[]string{"--max-size", "lots"}, []string{"--max-size: want a byte count"}},
		{[]string{"--flush-interval", "1ms"}, []string{"batch.flushInterval must be between"}},
		{[]string{"--config", "/nonexistent/collector.yaml"}, []string{"read collector config"}},
		{[]string{"--path", "data/"}, []string{"--path: must name a file"}},
		{[]string{"--memory-limit", "-5"}, []string{"--memory-limit: want a byte count"}},
	}
	for _, tc := range cases {
		cmd, f := newCommand()
		if err := cmd.ParseFlags(tc.args); err != nil {
			t.Fatal(err)
		}
		_, err := f.config(cmd.Flags())
		if err == nil {
			t.Errorf("%v: got no error", tc.args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not say %q", tc.args, err, w)
			}
		}
	}
}

func TestParseBytes(t *testing.T) {
	t.Parallel()
	cases := map[string]int64{"0": 0, "1048576": 1 << 20, "64MiB": 64 << 20, "2Gi": 2 << 30, "3KiB": 3072, "10B": 10}
	for in, want := range cases {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "1.5GiB", "-1", "12XB"} {
		if _, err := parseBytes(bad); err == nil {
			t.Errorf("parseBytes(%q): got no error", bad)
		}
	}
}
