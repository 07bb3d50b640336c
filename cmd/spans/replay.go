package spans

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/spansink/spansink/sink/reader"
	"github.com/spansink/spansink/sink/reader/render"
	"github.com/spansink/spansink/sink/replay"
)

// replayFlags are the flags of `spans replay`.
type replayFlags struct {
	endpoint                  string
	http, insecure            bool
	caFile, certFile, keyFile string
	headers                   []string
	rate                      float64
	batch                     int
	resume                    string
	timeout, maxRetryTime     time.Duration
}

func newReplayCommand(opts *options) *cobra.Command {
	var (
		filters filterFlags
		flags   replayFlags
	)
	cmd := &cobra.Command{
		Use:   "replay --otlp-endpoint HOST:PORT [flags] [FILE|DIR|GLOB|s3://BUCKET/PREFIX]...",
		Short: "Send stored spans to an OTLP receiver (Jaeger, Tempo, an OpenTelemetry Collector)",
		Long: `Send the spans of span files or of the object store to any OTLP receiver,
over OTLP/gRPC (default) or OTLP/HTTP protobuf (--otlp-http, to /v1/traces),
in the order the reader lists them, keeping trace and span ids, parents,
names, kinds, times, status, attributes, resource and scope.

Spans stored as otlp-json lines are sent as they were received; spans stored
as dbgpt lines are converted back: a span that came in over OTLP is rebuilt
from its metadata, a DB-GPT record (start and end records joined into one
span) becomes the span the otlp-json format stores for it, under the service
its metadata names ("dbgpt" if none).

Requests that the receiver asks to retry (HTTP 429, 502, 503, 504; gRPC
Unavailable, ResourceExhausted, DeadlineExceeded, Aborted) or that do not
reach it are sent again after a growing pause, or the one it asks for, up to
--max-retry-time; any other refusal stops the replay with exit code 1.

With --resume FILE, the spans the receiver acknowledged are recorded per
input in FILE after every request; a replay started again with the same
inputs, filters and --resume skips them and sends the rest. The request in
flight when a replay dies may be sent twice (at least once delivery);
Ctrl-C waits for it and records it.`,
		Example: `  spansink spans replay --otlp-endpoint localhost:4317 --insecure ./shard-0 ./shard-1
  spansink spans replay --otlp-endpoint tempo.example.com:443 --header x-scope-orgid=team-a s3://traces/prod --since 2026-12-01 --until 2026-12-02
  spansink spans replay --otlp-endpoint otel-collector:4318 --otlp-http --insecure --rate 2000 --resume replay.state spans_2026-12-01*.jsonl*`,
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := flags.target()
			if err != nil {
				return err
			}
			if err := flags.checkPacing(); err != nil {
				return err
			}
			filter, err := filters.build(opts.env.now())
			if err != nil {
				return err
			}
			return runReplay(cmd, opts, args, filter, &flags, target)
		},
	}
	filters.register(cmd.Flags(), true)
	fs := cmd.Flags()
	fs.StringVar(&flags.endpoint, "otlp-endpoint", "", "the OTLP receiver, HOST:PORT (required; 4317 is OTLP/gRPC's usual port, 4318 OTLP/HTTP's)")
	fs.BoolVar(&flags.http, "otlp-http", false, "send OTLP/HTTP protobuf to http(s)://HOST:PORT/v1/traces instead of OTLP/gRPC")
	fs.BoolVar(&flags.insecure, "insecure", false, "connect in plain text (default: TLS, verified against the system's CAs and --ca-file)")
	fs.StringVar(&flags.caFile, "ca-file", "", "PEM bundle of CAs to verify the receiver's certificate with, besides the system's")
	fs.StringVar(&flags.certFile, "cert-file", "", "PEM client certificate for mutual TLS (with --key-file)")
	fs.StringVar(&flags.keyFile, "key-file", "", "PEM private key of --cert-file")
	fs.StringArrayVar(&flags.headers, "header", nil, "KEY=VALUE sent with every request (HTTP header or gRPC metadata), e.g. authorization=Bearer TOKEN; repeatable")
	fs.Float64Var(&flags.rate, "rate", 0, "send at most this many spans per second (0: as fast as the receiver takes them)")
	fs.IntVar(&flags.batch, "batch", replay.DefaultBatchSpans, "spans per request")
	fs.StringVar(&flags.resume, "resume", "", "state file recording, per input, the spans acknowledged; a replay started again with it sends only the rest")
	fs.DurationVar(&flags.timeout, "timeout", replay.DefaultTimeout, "longest one request may take before it is retried")
	fs.DurationVar(&flags.maxRetryTime, "max-retry-time", replay.DefaultBackoff.MaxElapsed, "longest one request is retried before the replay gives up")
	return cmd
}

// target checks the connection flags and turns them into a Target.
func (f *replayFlags) target() (replay.Target, error) {
	if f.endpoint == "" {
		return replay.Target{}, usageErrorf("--otlp-endpoint is required: the receiver's HOST:PORT")
	}
	if strings.Contains(f.endpoint, "://") {
		return replay.Target{}, usageErrorf("--otlp-endpoint %q: give HOST:PORT without a scheme; --insecure chooses plain text, --otlp-http the HTTP protocol", f.endpoint)
	}
	host, port, err := net.SplitHostPort(f.endpoint)
	if err != nil || host == "" {
		return replay.Target{}, usageErrorf("--otlp-endpoint %q: want HOST:PORT", f.endpoint)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return replay.Target{}, usageErrorf("--otlp-endpoint %q: the port must be a number from 1 to 65535", f.endpoint)
	}
	if f.insecure && (f.caFile != "" || f.certFile != "" || f.keyFile != "") {
		return replay.Target{}, usageErrorf("--insecure connects in plain text: it cannot go with --ca-file, --cert-file or --key-file")
	}
	if (f.certFile == "") != (f.keyFile == "") {
		return replay.Target{}, usageErrorf("--cert-file and --key-file go together: a client certificate needs its key")
	}
	headers, err := parseHeaders(f.headers)
	if err != nil {
		return replay.Target{}, err
	}
	return replay.Target{
		Endpoint: f.endpoint, HTTP: f.http, Insecure: f.insecure,
		CAFile: f.caFile, CertFile: f.certFile, KeyFile: f.keyFile, Headers: headers,
	}, nil
}

// parseHeaders reads --header KEY=VALUE values.
func parseHeaders(values []string) ([]replay.Header, error) {
	var headers []replay.Header
	for _, v := range values {
		key, value, ok := strings.Cut(v, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" || strings.ContainsAny(key, " \t\r\n:") {
			return nil, usageErrorf("--header %q: want KEY=VALUE with a KEY of no spaces or colons", v)
		}
		headers = append(headers, replay.Header{Key: key, Value: value})
	}
	return headers, nil
}

// checkPacing checks the batch, rate and timing flags.
func (f *replayFlags) checkPacing() error {
	switch {
	case f.batch < 1:
		return usageErrorf("--batch must be at least 1")
	case f.rate < 0:
		return usageErrorf("--rate must not be negative (0: unbounded)")
	case f.timeout <= 0:
		return usageErrorf("--timeout must be positive")
	case f.maxRetryTime < 0:
		return usageErrorf("--max-retry-time must not be negative (0: no retries)")
	}
	return nil
}

// runReplay reads the inputs and sends their spans.
func runReplay(cmd *cobra.Command, opts *options, args []string, filter *reader.Filter, flags *replayFlags, target replay.Target) error {
	stderr := cmd.ErrOrStderr()
	var state *replay.State
	if flags.resume != "" {
		var err error
		if state, err = replay.LoadState(flags.resume); err != nil {
			return err
		}
		if prev := state.Endpoint(); prev != "" && prev != target.Endpoint {
			fmt.Fprintf(stderr, "warning: %s recorded spans acknowledged by %s, not %s; they are skipped all the same\n", flags.resume, render.Printable(prev), render.Printable(target.Endpoint))
		}
	}
	in, err := opts.files(cmd, args, filter)
	if err != nil {
		return err
	}
	exporter, err := replay.NewExporter(target)
	if err != nil {
		return err
	}
	defer exporter.Close()
	interrupt, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	backoff := replay.DefaultBackoff
	backoff.MaxElapsed = flags.maxRetryTime
	replayer := replay.New(replay.Options{
		Exporter: exporter, Endpoint: target.Endpoint,
		BatchSpans: flags.batch, Rate: flags.rate, Timeout: flags.timeout, Backoff: backoff,
		State: state, Interrupt: interrupt, Progress: stderr,
		Warn: func(msg string) { fmt.Fprintf(stderr, "warning: %s\n", render.Printable(msg)) },
	})
	scanner := opts.scanner(stderr, filter, true, in)
	scanner.KeepOTLP = true
	summary, err := scanner.ScanStreams(interrupt, in.streams, replayer.Add)
	if err == nil {
		_, err = replayer.Finish()
	}
	printReplaySummary(cmd, replayer.Stats(), state)
	if err != nil {
		return err
	}
	return checkReadable(summary, in)
}

// printReplaySummary says what was sent, on stdout.
func printReplaySummary(cmd *cobra.Command, s replay.Stats, state *replay.State) {
	perSecond := 0.0
	if s.Elapsed > 0 {
		perSecond = float64(s.Sent) / s.Elapsed.Seconds()
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%d span(s) sent in %d request(s) in %s (%.0f spans/s)", s.Sent, s.Requests, s.Elapsed.Round(time.Millisecond), perSecond)
	if s.Retries > 0 {
		fmt.Fprintf(cmd.OutOrStdout(), ", %d retried request(s)", s.Retries)
	}
	if s.Rejected > 0 {
		fmt.Fprintf(cmd.OutOrStdout(), ", %d rejected by the receiver", s.Rejected)
	}
	if s.Unconvertible > 0 {
		fmt.Fprintf(cmd.OutOrStdout(), ", %d not sent (not convertible to OTLP)", s.Unconvertible)
	}
	if state != nil {
		fmt.Fprintf(cmd.OutOrStdout(), ", %d skipped as acknowledged before", s.Resumed)
	}
	fmt.Fprintln(cmd.OutOrStdout())
}
