package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/spansink/spansink/sink/access/accesstest"
	"github.com/spansink/spansink/sink/batch"
	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/configstatus"
	"github.com/spansink/spansink/sink/ingest"
)

// baseConfig is a config file as the operator renders one; extra lines
// are appended inside it by yamlConfig.
const baseConfig = `listen: {otlpGrpc: "127.0.0.1:0", otlpHttp: "127.0.0.1:0", admin: "127.0.0.1:0"}
batch: {size: %d, flushInterval: %s, maxQueuedSpans: 1000}
shutdownTimeout: 20s
%s`

func yamlConfig(size int, interval, extra string) []byte {
	return fmt.Appendf(nil, baseConfig, size, interval, extra)
}

// reloading is a running collector whose config file lives at path.
type reloading struct {
	*Collector
	path, dir string
}

// startReloading starts a collector from data at path, with storage in
// its own temp dir, and watches path with poll.
func startReloading(t *testing.T, path string, data []byte, poll time.Duration) *reloading {
	t.Helper()
	dir := t.TempDir()
	build := func(data []byte) (config.Config, error) {
		cfg, err := config.Parse(data)
		if err != nil {
			return config.Config{}, err
		}
		cfg.Storage.Dir = dir // as a --path flag would
		return cfg, cfg.Validate()
	}
	cfg, err := build(data)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, testr.New(t))
	if err != nil {
		t.Fatal(err)
	}
	c.WatchConfig(ConfigSource{Path: path, Build: build, PollInterval: poll}, data)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("collector stopped with %v", err)
		}
	})
	return &reloading{Collector: c, path: path, dir: dir}
}

// unwatchedFile is a config file whose changes raise no event in the
// watched directory: path is a symlink to a file elsewhere, so only a poll
// or an explicit reload sees a write to it.
func unwatchedFile(t *testing.T, data []byte) (path, real string) {
	t.Helper()
	real = filepath.Join(t.TempDir(), "real.yaml")
	path = filepath.Join(t.TempDir(), config.FileName)
	writeFile(t, real, data)
	if err := os.Symlink(real, path); err != nil {
		t.Fatal(err)
	}
	return path, real
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (r *reloading) waitGeneration(t *testing.T, gen int64) configstatus.Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := r.ConfigStatus()
		if s.Generation >= gen {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("generation %d not reached; status %+v", gen, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// getConfigStatus reads GET /config from the admin port.
func (r *reloading) getConfigStatus(t *testing.T) configstatus.Status {
	t.Helper()
	resp, err := http.Get("http://" + r.Addrs().Admin + configstatus.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s configstatus.Status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /config: %d %v", resp.StatusCode, err)
	}
	return s
}

func (r *reloading) reloads(result string) float64 {
	return testutil.ToFloat64(r.configMetrics.reloads.WithLabelValues(result))
}

// The kubelet's ..data swap is seen by the directory watch (the poll is an
// hour away) and every live field takes effect.
func TestReloadAppliesAKubeletUpdate(t *testing.T) {
	vol := accesstest.NewSecretVolume(t)
	initial := yamlConfig(50, "1h", "")
	vol.Update(t, map[string][]byte{config.FileName: initial})
	r := startReloading(t, vol.Path(config.FileName), initial, time.Hour)
	if s := r.getConfigStatus(t); s.Generation != 1 || s.AppliedHash != configstatus.Hash(initial) || s.RefusedHash != "" {
		t.Fatalf("status at start = %+v, want generation 1 and the hash of the file", s)
	}
	if code, _ := adminGet(t, r.Addrs().Admin, "/debug/spans"); code != http.StatusNotFound {
		t.Fatalf("/debug/spans before enabling: %d", code)
	}
	before := time.Now()

	changed := yamlConfig(7, "20ms", `delivery: {mode: Durable}
storage: {rotation: {daily: false, maxSizeBytes: 4096, maxFiles: 3, maxAge: 48h, compress: gzip, utc: false}}
limits: {maxInflightBytes: 41943040, maxConcurrentRequests: 9, maxAttributesPerSpan: 5, maxAttributeValueBytes: 77}
debug: {enabled: true}
`)
	changed = append([]byte("# shutdownTimeout below\n"), changed...)
	changed = []byte(strings.Replace(string(changed), "shutdownTimeout: 20s", "shutdownTimeout: 15s", 1))
	vol.Update(t, map[string][]byte{config.FileName: changed})
	s := r.waitGeneration(t, 2)
	if s.AppliedHash != configstatus.Hash(changed) || s.AppliedAt.Before(before) || s.RefusedHash != "" {
		t.Fatalf("status after the update = %+v", s)
	}
	if got := r.getConfigStatus(t); got != s {
		t.Fatalf("GET /config = %+v, want %+v", got, s)
	}
	if got, want := r.batcher.Tuning(), (batch.Tuning{Size: 7, FlushInterval: 20 * time.Millisecond, MaxQueuedSpans: 1000, Durable: true}); got != want {
		t.Errorf("batcher tuning = %+v, want %+v", got, want)
	}
	if rot := r.file.Rotation(); rot.Daily || rot.MaxSize != 4096 || rot.MaxFiles != 3 || rot.MaxAge != 48*time.Hour || rot.Compression != config.CompressionGzip || rot.Location != time.Local {
		t.Errorf("rotation = %+v", rot)
	}
	if got, want := r.ingestLimits.Get(), (ingest.Limits{MaxSpansPerRequest: 1000, MaxAttributesPerSpan: 5, MaxAttributeValueBytes: 77, MaxConcurrentRequests: 9}); got != want {
		t.Errorf("ingest limits = %+v, want %+v", got, want)
	}
	if got := r.inflight.Limit(); got != 40<<20 {
		t.Errorf("inflight budget = %d", got)
	}
	if got := r.current().ShutdownTimeout.Std(); got != 15*time.Second {
		t.Errorf("shutdown timeout = %s", got)
	}
	if code, body := adminGet(t, r.Addrs().Admin, "/debug/spans"); code != http.StatusOK {
		t.Errorf("/debug/spans after enabling: %d %s", code, body)
	}
	metrics := map[string]float64{
		"spansink_config_generation":                                      2,
		`spansink_config_reloads_total{result="applied"}`:                 1,
		`spansink_config_info{hash="` + configstatus.Hash(changed) + `"}`: 1,
		`spansink_config_info{hash="` + configstatus.Hash(initial) + `"}`: 0,
		`spansink_queue_capacity_spans`:                                   1000,
	}
	_, body := adminGet(t, r.Addrs().Admin, "/metrics")
	for series, want := range metrics {
		line := series + " "
		found := strings.Contains(body, "\n"+line+fmt.Sprint(want)+"\n")
		if want == 0 {
			found = !strings.Contains(body, "\n"+line)
		}
		if !found {
			t.Errorf("metrics lack %s %v", series, want)
		}
	}
}

func adminGet(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// A change that raises no event is found by the poll.
func TestReloadPollFindsAChangeWithoutEvents(t *testing.T) {
	initial := yamlConfig(50, "1h", "")
	path, real := unwatchedFile(t, initial)
	r := startReloading(t, path, initial, 30*time.Millisecond)
	writeFile(t, real, yamlConfig(9, "1h", ""))
	r.waitGeneration(t, 2)
	if got := r.batcher.Tuning().Size; got != 9 {
		t.Fatalf("batch size %d after the poll, want 9", got)
	}
	time.Sleep(100 * time.Millisecond)
	if r.reloads(ReloadUnchanged) < 1 || r.reloads(ReloadApplied) != 1 {
		t.Fatalf("reloads: applied %v, unchanged %v; want 1 and the later polls", r.reloads(ReloadApplied), r.reloads(ReloadUnchanged))
	}
}

// SIGHUP's ReloadConfig reads the file at once; a refused config keeps the
// one in force, is reported once per content, and clears when the file
// holds the config in force again.
func TestReloadRefusals(t *testing.T) {
	initial := yamlConfig(50, "1h", "")
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"does not parse", []byte("batch: {size: [\n"), "parse collector config"},
		{"unknown field", yamlConfig(50, "1h", "batch2: {}\n"), `unknown field "batch2"`},
		{"does not validate", yamlConfig(0, "1h", ""), "batch.size must be between 1"},
		{"changes restart fields", yamlConfig(10, "1h", "storage: {format: otlp-json}\nlimits: {maxRequestBytes: 1048576}\n"),
			"storage.format, limits.maxRequestBytes cannot change while the collector runs: restart it"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path, real := unwatchedFile(t, initial)
			r := startReloading(t, path, initial, time.Hour)
			writeFile(t, real, tc.data)
			if got := r.ReloadConfig("sighup"); got != ReloadRefused {
				t.Fatalf("reload = %s, want refused", got)
			}
			s := r.getConfigStatus(t)
			if s.Generation != 1 || s.AppliedHash != configstatus.Hash(initial) || s.RefusedHash != configstatus.Hash(tc.data) || !strings.Contains(s.RefusedError, tc.want) {
				t.Fatalf("status = %+v, want generation 1, the old hash, and the refused hash with %q", s, tc.want)
			}
			if got := r.batcher.Tuning().Size; got != 50 {
				t.Fatalf("batch size %d after a refused config, want 50", got)
			}
			if got := r.ReloadConfig("sighup"); got != ReloadUnchanged {
				t.Fatalf("second read of the refused content = %s, want unchanged", got)
			}
			if r.reloads(ReloadRefused) != 1 {
				t.Fatalf("refused reloads = %v, want 1", r.reloads(ReloadRefused))
			}
			writeFile(t, real, initial)
			if got := r.ReloadConfig("sighup"); got != ReloadUnchanged {
				t.Fatalf("back to the config in force = %s, want unchanged", got)
			}
			if s := r.ConfigStatus(); s.RefusedHash != "" || s.RefusedError != "" || s.Generation != 1 {
				t.Fatalf("status after the revert = %+v", s)
			}
		})
	}
}

// Without a file the status names the rendered config, and a reload has
// nothing to read.
func TestConfigStatusWithoutFile(t *testing.T) {
	r := start(t, nil)
	s := r.ConfigStatus()
	rendered, err := r.cfg.Render()
	if err != nil {
		t.Fatal(err)
	}
	if s.Generation != 1 || s.AppliedHash != configstatus.Hash(rendered) || s.AppliedAt.IsZero() {
		t.Fatalf("status = %+v", s)
	}
	if got := r.ReloadConfig("sighup"); got != ReloadUnchanged {
		t.Fatalf("reload without a file = %s", got)
	}
}

// The /debug/spans ring holds span contents only while the debug endpoints
// are on: spans written before they are turned on are not in it, and
// turning them off releases its memory.
func TestDebugSpansKeepOnlyWhatWasWrittenWhileOn(t *testing.T) {
	t.Parallel()
	off := yamlConfig(1, "10ms", "")
	path, real := unwatchedFile(t, off)
	r := startReloading(t, path, off, time.Hour)

	// waitStored waits until the batcher has handed total spans to the
	// ring (switched off or not), so that no write of an earlier batch
	// can reach it after the next reload.
	written := 0
	waitStored := func(n int) {
		t.Helper()
		written += n
		want := fmt.Sprintf("\nspansink_spans_written_total{storage=%q} %d\n", r.ring.Name(), written)
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, body := adminGet(t, r.Addrs().Admin, "/metrics"); strings.Contains(body, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the ring was not handed %d spans", written)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	post := func(prefix string, n int) []string {
		t.Helper()
		body, ids := dbgptBody(prefix, n)
		if code, err := postDBGPT(http.DefaultClient, r.Addrs().OTLPHTTP, body); err != nil || code != http.StatusOK {
			t.Fatalf("post DB-GPT spans: %d %v", code, err)
		}
		waitStored(n)
		return ids
	}
	reload := func(data []byte) {
		t.Helper()
		writeFile(t, real, data)
		if got := r.ReloadConfig("test"); got != ReloadApplied {
			t.Fatalf("reload = %q, want %q", got, ReloadApplied)
		}
	}

	post("before", 3)
	if s := r.ring.Stats(); s.Records != 0 || s.ArenaBytes != 0 {
		t.Fatalf("ring with the debug endpoints off holds %+v, want nothing", s)
	}

	on := yamlConfig(1, "10ms", "debug: {enabled: true}\n")
	reload(on)
	want := post("while-on", 2)
	code, body := adminGet(t, r.Addrs().Admin, "/debug/spans?limit=1000")
	var recent []map[string]any
	if code != http.StatusOK || json.Unmarshal([]byte(body), &recent) != nil {
		t.Fatalf("/debug/spans: %d %s", code, body)
	}
	var got []string
	for _, rec := range recent {
		got = append(got, fmt.Sprint(rec["span_id"]))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("/debug/spans shows span ids %v, want only those written while on: %v", got, want)
	}

	reload(off)
	if s := r.ring.Stats(); s.Records != 0 || s.ArenaBytes != 0 {
		t.Fatalf("ring after turning the debug endpoints off holds %+v, want nothing", s)
	}
	post("after", 2)
	if s := r.ring.Stats(); s.Records != 0 {
		t.Fatalf("ring kept %d records with the debug endpoints off", s.Records)
	}
}
