// Command peer is `make bench-peer`: spansink beside the OpenTelemetry
// Collector (hack/tools/otelcol: OTLP receiver → batch processor → file
// exporter writing JSON with rotation), under the same load, interleaved.
//
// A round runs every shape × protocol × collector once, each against a
// fresh collector process: spansink in both formats (dbgpt, otlp-json) and
// both delivery modes (Batched, Durable), and the peer. The order of the
// collectors moves by one each round, so no build always runs first. For
// each run it measures the sender's throughput (spans acknowledged per
// second), the collector's own CPU time per million spans (utime + stime
// from /proc/PID/stat, between just before the load and the moment the
// collector reports every span written), its peak RSS (VmHWM) and the bytes
// per span on disk. Then it stops the collector with SIGTERM, reads every
// span file back and requires that the files hold exactly the spans sent,
// each span id once. The last column divides a spansink row's CPU per span
// by the peer's in the same round, shape and protocol; DB-GPT rows (which
// the peer does not take) by the same spansink configuration's OTLP/HTTP
// protobuf row with the default shape.
//
// The load generator shares the machine with the collector, so throughput
// depends on both; CPU per span is the collector's own and is the figure to
// compare. Compare builds within one run, never against another hour's.
//
// It exits 1 when any span is missing or duplicated, or any run failed.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

type options struct {
	rounds         int
	shapes         []string
	protocols      []string
	targets        []string
	workers        int
	spansPerWorker int
	rate           float64
	dir            string
	spansink       string
	otelcol        string
	telemetrygen   string
	keepFiles      bool
}

// allTargets are the collectors a round runs, by the name -targets takes.
var allTargets = map[string]target{
	"dbgpt-batched":    {name: "spansink dbgpt Batched", format: "dbgpt", delivery: "Batched"},
	"otlpjson-batched": {name: "spansink otlp-json Batched", format: "otlp-json", delivery: "Batched"},
	"dbgpt-durable":    {name: "spansink dbgpt Durable", format: "dbgpt", delivery: "Durable"},
	"otlpjson-durable": {name: "spansink otlp-json Durable", format: "otlp-json", delivery: "Durable"},
	"otelcol":          {name: "otelcol 0.161.0", peer: true, format: "otlp-json"},
}

var targetOrder = []string{"dbgpt-batched", "otlpjson-batched", "dbgpt-durable", "otlpjson-durable", "otelcol"}

func main() {
	var o options
	var shapeList, protocolList, targetList string
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each runs every shape, protocol and collector once")
	flag.StringVar(&shapeList, "shapes", "default", "comma-separated span shapes: default, attrs (20 attributes), events, clients (one SDK exporter per client), deep (12 nested levels), dbgpt (DB-GPT records over /v1/spans)")
	flag.StringVar(&protocolList, "protocols", "grpc,http", "comma-separated OTLP protocols: grpc, http")
	flag.StringVar(&targetList, "targets", strings.Join(targetOrder, ","), "comma-separated collectors: "+strings.Join(targetOrder, ", "))
	flag.IntVar(&o.workers, "workers", 64, "concurrent clients")
	flag.IntVar(&o.spansPerWorker, "spans", 16000, "spans each client sends per run (rounded down to whole traces)")
	flag.Float64Var(&o.rate, "rate", 5000, "spans per second per client; telemetrygen is lossless here at 64 × 5000")
	flag.StringVar(&o.dir, "dir", "", "working directory, kept afterwards with the collectors' and senders' logs (default: a new one under $TMPDIR)")
	flag.StringVar(&o.spansink, "spansink", "", "spansink binary (default: built from this checkout as `make build` does, spansink-collector beside it; a binary given here runs the collector in its own process unless spansink-collector sits beside it)")
	flag.StringVar(&o.otelcol, "otelcol", "", "OpenTelemetry Collector binary (default: hack/otelcol.sh)")
	flag.StringVar(&o.telemetrygen, "telemetrygen", "", "telemetrygen binary (default: built from hack/tools/telemetrygen)")
	flag.BoolVar(&o.keepFiles, "keep-files", false, "keep the span files of runs that passed (a round of the default shape writes about 5 GB; a failed run's files are always kept)")
	flag.Parse()
	o.shapes = splitList(shapeList)
	o.protocols = splitList(protocolList)
	o.targets = splitList(targetList)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	results, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-peer:", err)
		os.Exit(1)
	}
	printTables(os.Stdout, o, results)
	failed := false
	for _, r := range results {
		if r.err != nil {
			fmt.Fprintf(os.Stderr, "FAIL round %d %s %s %s: %v\n", r.round, r.shape, r.protocol, r.target.name, r.err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// step is one planned run.
type step struct {
	round           int
	shape, protocol string
	target          target
}

// plan lists a run's steps in the order they run.
func plan(o options, known map[string]shape) ([]step, error) {
	for _, s := range o.shapes {
		if _, ok := known[s]; !ok {
			return nil, fmt.Errorf("unknown shape %q", s)
		}
	}
	for _, p := range o.protocols {
		if p != "grpc" && p != "http" {
			return nil, fmt.Errorf("unknown protocol %q (want grpc or http)", p)
		}
	}
	var targets []target
	for _, name := range o.targets {
		t, ok := allTargets[name]
		if !ok {
			return nil, fmt.Errorf("unknown target %q", name)
		}
		targets = append(targets, t)
	}
	// DB-GPT rows are judged against OTLP/HTTP protobuf with the default
	// shape: run it as well when the flags leave it out.
	shapes := slices.Clone(o.shapes)
	needReference := slices.Contains(shapes, "dbgpt") && !(slices.Contains(shapes, "default") && slices.Contains(o.protocols, "http"))
	var steps []step
	for round := 1; round <= o.rounds; round++ {
		// Move the collectors' order by one each round.
		order := make([]target, 0, len(targets))
		for i := range targets {
			order = append(order, targets[(i+round-1)%len(targets)])
		}
		for _, s := range shapes {
			if s == "dbgpt" {
				for _, t := range order {
					if t.peer {
						continue
					}
					if needReference {
						steps = append(steps, step{round, "default", "http", t})
					}
					steps = append(steps, step{round, "dbgpt", "http", t})
				}
				continue
			}
			for _, p := range o.protocols {
				for _, t := range order {
					steps = append(steps, step{round, s, p, t})
				}
			}
		}
	}
	return steps, nil
}

// result is one run's figures.
type result struct {
	step
	spans   int
	elapsed time.Duration // the sender's, until every span was acknowledged
	usage   usage
	files   fileCount
	err     error
}

func (r result) cpuPerMillion() float64 {
	return (r.usage.user + r.usage.system).Seconds() / (float64(r.spans) / 1e6)
}

func run(ctx context.Context, o options) ([]result, error) {
	known := shapes()
	steps, err := plan(o, known)
	if err != nil {
		return nil, err
	}
	if o.dir == "" {
		if o.dir, err = os.MkdirTemp("", "spansink-bench-peer."); err != nil {
			return nil, err
		}
	}
	if err := binaries(ctx, &o); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "bench-peer: %d runs, %d clients × %d spans at %.0f spans/s each; files and logs in %s\n",
		len(steps), o.workers, o.spansPerWorker, o.rate, o.dir)
	var results []result
	for i, st := range steps {
		if ctx.Err() != nil {
			return results, ctx.Err()
		}
		dir := filepath.Join(o.dir, fmt.Sprintf("%03d-r%d-%s-%s-%s", i+1, st.round, st.shape, st.protocol, strings.ReplaceAll(st.target.name, " ", "-")))
		r := runOne(ctx, o, known[st.shape], st, dir)
		results = append(results, r)
		status := "ok"
		if r.err != nil {
			status = "FAIL: " + r.err.Error()
		}
		fmt.Fprintf(os.Stderr, "[%d/%d] round %d %-7s %-4s %-27s %8.0f spans/s %6.2f CPU-s/M %6.1f MiB  %s\n",
			i+1, len(steps), st.round, st.shape, st.protocol, st.target.name,
			float64(r.spans)/r.elapsed.Seconds(), r.cpuPerMillion(), float64(r.usage.peakRSS)/(1<<20), status)
	}
	return results, nil
}

// runOne measures one collector under one load.
func runOne(ctx context.Context, o options, s shape, st step, dir string) result {
	r := result{step: st}
	traces := o.spansPerWorker / s.spansPerTrace
	r.spans = o.workers * traces * s.spansPerTrace
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.err = err
		return r
	}
	var c *collector
	var err error
	if st.target.peer {
		c, err = startPeer(o.otelcol, dir)
	} else {
		c, err = startSpansink(o.spansink, dir, st.target)
	}
	if err != nil {
		r.err = err
		return r
	}
	defer c.kill()
	load := loadSpec{protocol: st.protocol, endpoint: endpointFor(c, s, st.protocol), workers: o.workers,
		traces: traces, rate: o.rate, telemetrygen: o.telemetrygen, logDir: dir}
	before, err := c.usage()
	if err != nil {
		r.err = err
		return r
	}
	started := time.Now()
	if err := s.send(ctx, load); err != nil {
		r.err = fmt.Errorf("send: %w", err)
		return r
	}
	r.elapsed = time.Since(started)
	if err := c.waitWritten(r.spans, 2*time.Minute); err != nil {
		r.err = err
		return r
	}
	after, err := c.usage()
	if err != nil {
		r.err = err
		return r
	}
	r.usage = usage{user: after.user - before.user, system: after.system - before.system, peakRSS: after.peakRSS}
	if err := c.stop(); err != nil {
		r.err = err
		return r
	}
	r.files, err = countFiles(c.dataDir, st.target.format)
	if err != nil {
		r.err = fmt.Errorf("read back: %w", err)
		return r
	}
	wantIDs := int(float64(r.spans) * s.idsPerSpan)
	if r.files.spans != r.spans || r.files.spanIDs != wantIDs {
		r.err = fmt.Errorf("the files hold %d spans with %d distinct span ids; sent %d spans with %d ids", r.files.spans, r.files.spanIDs, r.spans, wantIDs)
		return r
	}
	if !o.keepFiles {
		if err := os.RemoveAll(c.dataDir); err != nil {
			r.err = err
		}
	}
	return r
}

// binaries builds or finds the three programs a run needs.
func binaries(ctx context.Context, o *options) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	bin := filepath.Join(o.dir, "bin")
	if o.spansink == "" {
		o.spansink = filepath.Join(bin, "spansink")
		// As `make build` builds the image's binaries: `spansink
		// collector` runs the collector's own one beside it.
		for _, pkg := range []string{".", "./cmd/spansink-collector"} {
			out := o.spansink
			if pkg != "." {
				out = filepath.Join(bin, filepath.Base(pkg))
			}
			cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
			cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
			if err := runLogged(cmd, "building "+filepath.Base(out)); err != nil {
				return err
			}
		}
	}
	if o.telemetrygen == "" {
		o.telemetrygen = filepath.Join(bin, "telemetrygen")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", o.telemetrygen, "github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen")
		cmd.Dir = filepath.Join(root, "hack", "tools", "telemetrygen")
		if err := runLogged(cmd, "building telemetrygen"); err != nil {
			return err
		}
	}
	if o.otelcol == "" {
		cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "otelcol.sh"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("hack/otelcol.sh: %w", err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		o.otelcol = lines[len(lines)-1]
	}
	return nil
}

func runLogged(cmd *exec.Cmd, what string) error {
	fmt.Fprintf(os.Stderr, "bench-peer: %s\n", what)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// moduleRoot finds this checkout's root from the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		f, err := os.Open(filepath.Join(dir, "go.mod"))
		if err == nil {
			sc := bufio.NewScanner(f)
			sc.Scan()
			f.Close()
			if strings.TrimSpace(sc.Text()) == "module github.com/spansink/spansink" {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("not inside the spansink checkout")
		}
		dir = parent
	}
}
