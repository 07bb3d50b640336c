package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// target is one collector build and configuration under test.
type target struct {
	// name labels the target's rows, e.g. "spansink dbgpt Batched".
	name string
	// peer is true for the OpenTelemetry Collector, which takes no DB-GPT
	// records and whose CPU per span the spansink rows are divided by.
	peer bool
	// format and delivery are spansink's --format and --delivery; for the
	// peer, format is "otlp-json" (its file exporter writes whole requests).
	format, delivery string
}

// collector is one running collector process.
type collector struct {
	cmd  *exec.Cmd
	exit chan error
	// grpc and http are the OTLP listen addresses; metrics serves the
	// Prometheus text with the count of spans written.
	grpc, http, metrics string
	// written reads that count from the metrics.
	written func(families map[string]float64) float64
	// dataDir holds the span files.
	dataDir string
}

// startSpansink starts `spansink collector` on loopback ports it picks
// itself and waits for its "collector serving" log line.
func startSpansink(bin, dir string, t target) (*collector, error) {
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "collector.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "collector", "--path", filepath.Join(dataDir, "spans.jsonl"),
		"--grpc-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0",
		"--format", t.format, "--delivery", t.delivery)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start spansink: %w", err)
	}
	c := &collector{cmd: cmd, exit: make(chan error, 1), dataDir: dataDir,
		written: func(f map[string]float64) float64 { return f[`spansink_spans_written_total{storage="file"}`] }}
	serving := make(chan map[string]string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			fmt.Fprintf(logFile, "%s\n", line)
			if strings.Contains(string(line), `"collector serving"`) {
				var rec map[string]any
				if json.Unmarshal(line, &rec) == nil {
					addrs := map[string]string{}
					for _, k := range []string{"otlpGrpc", "otlpHttp", "admin"} {
						addrs[k], _ = rec[k].(string)
					}
					select {
					case serving <- addrs:
					default:
					}
				}
			}
		}
		logFile.Close()
		c.exit <- cmd.Wait()
	}()
	select {
	case addrs := <-serving:
		c.grpc, c.http, c.metrics = addrs["otlpGrpc"], addrs["otlpHttp"], addrs["admin"]
		return c, nil
	case err := <-c.exit:
		return nil, fmt.Errorf("spansink exited at start (%v), see %s", err, logFile.Name())
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		return nil, errors.New("spansink did not log \"collector serving\" within 30s")
	}
}

// peerConfig is the OpenTelemetry Collector's configuration: OTLP over
// gRPC and HTTP, the batch processor with its defaults, and the file
// exporter writing JSON with size rotation at 100 MiB like spansink's
// default, keeping every rotated file so that all spans can be counted.
const peerConfig = `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
      http:
        endpoint: %s
processors:
  batch: {}
exporters:
  file:
    path: %s
    format: json
    rotation:
      max_megabytes: 100
      max_backups: 100000
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [file]
  telemetry:
    logs:
      level: warn
    metrics:
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: %d
`

// startPeer starts the OpenTelemetry Collector on free loopback ports and
// waits until its receivers and metrics answer.
func startPeer(bin, dir string) (*collector, error) {
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	c := &collector{
		exit:    make(chan error, 1),
		dataDir: dataDir,
		grpc:    fmt.Sprintf("127.0.0.1:%d", ports[0]),
		http:    fmt.Sprintf("127.0.0.1:%d", ports[1]),
		metrics: fmt.Sprintf("127.0.0.1:%d", ports[2]),
		written: func(f map[string]float64) float64 {
			var n float64
			for k, v := range f {
				if strings.HasPrefix(k, "otelcol_exporter_sent_spans") {
					n += v
				}
			}
			return n
		},
	}
	config := filepath.Join(dir, "otelcol.yaml")
	body := fmt.Sprintf(peerConfig, c.grpc, c.http, filepath.Join(dataDir, "spans.json"), ports[2])
	if err := os.WriteFile(config, []byte(body), 0o644); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "collector.log"))
	if err != nil {
		return nil, err
	}
	c.cmd = exec.Command(bin, "--config", config)
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start otelcol: %w", err)
	}
	go func() {
		c.exit <- c.cmd.Wait()
		logFile.Close()
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.scrape()
		if err == nil && dialable(c.grpc) && dialable(c.http) {
			return c, nil
		}
		select {
		case err := <-c.exit:
			return nil, fmt.Errorf("otelcol exited at start (%v), see %s", err, logFile.Name())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = c.cmd.Process.Kill()
			return nil, fmt.Errorf("otelcol did not serve within 30s: %v", err)
		}
	}
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func dialable(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// scrape reads the collector's metrics as "name{labels}" → value, with the
// labels in the order the exposition sorts them.
func (c *collector) scrape() (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.metrics+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Untyped != nil:
				out[key] = m.GetUntyped().GetValue()
			}
		}
	}
	return out, nil
}

// waitWritten waits until the collector reports at least want spans
// written to its files.
func (c *collector) waitWritten(want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var got float64
	for {
		families, err := c.scrape()
		if err == nil {
			got = c.written(families)
			if got >= float64(want) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s the collector has written %.0f of %d spans (last scrape error: %v)", timeout, got, want, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// usage is a process's CPU time so far and its peak resident set.
type usage struct {
	user, system time.Duration
	peakRSS      int64 // bytes
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times; Linux fixes
// it at 100 on every architecture Go runs on.
const clockTicks = 100

func (c *collector) usage() (usage, error) {
	pid := c.cmd.Process.Pid
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return usage{}, err
	}
	// The command name may hold spaces: fields count from after its ')'.
	rest := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	// utime and stime are fields 14 and 15; rest starts at field 3.
	utime, err1 := strconv.ParseInt(rest[11], 10, 64)
	stime, err2 := strconv.ParseInt(rest[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return usage{}, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	u := usage{
		user:   time.Duration(utime) * time.Second / clockTicks,
		system: time.Duration(stime) * time.Second / clockTicks,
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return usage{}, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return usage{}, fmt.Errorf("parse VmHWM %q: %w", rest, err)
			}
			u.peakRSS = kib << 10
		}
	}
	return u, nil
}

// stop sends SIGTERM and waits for a clean exit, which flushes what the
// collector still buffers.
func (c *collector) stop() error {
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-c.exit:
		if err != nil {
			return fmt.Errorf("exit after SIGTERM: %w", err)
		}
		return nil
	case <-time.After(90 * time.Second):
		_ = c.cmd.Process.Kill()
		return errors.New("no exit within 90s of SIGTERM")
	}
}

// kill ends a collector whose run already failed.
func (c *collector) kill() {
	if c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Kill()
		<-c.exit
	}
}
