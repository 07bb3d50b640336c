package durability

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spansink/spansink/test/collectorproc"
)

// BenchmarkDurableAck measures Durable mode end to end: the real collector
// binary (default batch settings, dbgpt format) on this machine's disk, fed
// OTLP/HTTP protobuf requests of 100 spans. At each fixed rate the load is
// open-loop (requests leave on schedule whether or not earlier ones were
// answered) and a request's latency runs from its scheduled time to its
// acknowledgement, so a stalled collector cannot hide its stall; "max" keeps
// 32 requests in flight back to back. It reports acknowledged spans/s and
// p50/p99/p99.9 acknowledgement latency, plus the 1-minute load average
// (the machine is shared), and checks that every acknowledged span is in the
// file. It also reports the collector's fsyncs in the run: how many (the
// group commits), their mean time, and the share slower than 30 ms, which
// is where the latency tail comes from on a shared disk. Run it with
// `make bench-durable`; SPANSINK_BENCH_DIR puts the files on another volume
// (a tmpfs shows the collector without the disk).
func BenchmarkDurableAck(b *testing.B) {
	for _, rate := range []int{1000, 10000, 50000, 0} {
		name := "rate=max"
		if rate > 0 {
			name = "rate=" + strconv.Itoa(rate)
		}
		dir := b.TempDir()
		if d := os.Getenv("SPANSINK_BENCH_DIR"); d != "" {
			// Another volume, such as a tmpfs to take the disk out of
			// the figures.
			var err error
			if dir, err = os.MkdirTemp(d, "bench-"); err != nil {
				b.Fatal(err)
			}
			defer os.RemoveAll(dir)
		}
		path := filepath.Join(dir, "spans.jsonl")
		p := collectorproc.Start(b, filepath.Join(b.TempDir(), "collector.log"), "--path", path, "--delivery", "Durable")
		client := newLoadClient()
		b.Run(name, func(b *testing.B) {
			client.takeLatencies()
			client.takeAnswers()
			load := loadAverage()
			fsyncs := fsyncStatsOf(b, p)
			start := time.Now()
			if rate > 0 {
				openLoop(b.N, rate, client, "http://"+p.HTTPAddr)
			} else {
				closedLoop(b.N, 32, client, "http://"+p.HTTPAddr)
			}
			elapsed := time.Since(start)
			latencies := client.takeLatencies()
			answers := client.takeAnswers()
			if refused := b.N - answers[http.StatusOK]; refused > 0 {
				// The queue holds only what is in flight, so a refusal
				// means the volume failed (or filled up): the figures
				// would be meaningless.
				b.Fatalf("%d of %d requests not acknowledged: %v", refused, b.N, answers)
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(len(latencies)*spansPerRequest)/elapsed.Seconds(), "spans/s")
			b.ReportMetric(ms(quantile(latencies, 0.50)), "p50-ms")
			b.ReportMetric(ms(quantile(latencies, 0.99)), "p99-ms")
			b.ReportMetric(ms(quantile(latencies, 0.999)), "p99.9-ms")
			b.ReportMetric((load+loadAverage())/2, "load1")
			after := fsyncStatsOf(b, p)
			if n := after.count - fsyncs.count; n > 0 {
				b.ReportMetric(after.count-fsyncs.count, "fsyncs")
				b.ReportMetric(1000*(after.sum-fsyncs.sum)/n, "fsync-mean-ms")
				b.ReportMetric(100*(n-(after.fast-fsyncs.fast))/n, "fsync>30ms-%")
			}
		})
		if code := p.Terminate(time.Minute); code != 0 {
			b.Fatalf("collector exited %d", code)
		}
		files, err := readSpanFiles(path, false, nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, a := range client.takeAcked() {
			if files.count[a.id] != 1 {
				b.Fatalf("acknowledged span %s is in the file %d times, want once", spanIDHex(a.id), files.count[a.id])
			}
		}
	}
}

// fsyncStats are the file's fsync count, total seconds, and count that
// took at most 30.5 ms (a bucket bound of spansink_fsync_duration_seconds).
type fsyncStats struct{ count, sum, fast float64 }

// A series that is missing (a renamed metric, other bucket bounds) fails
// the benchmark rather than reporting zero fsyncs.
func fsyncStatsOf(tb testing.TB, p *collectorproc.Proc) fsyncStats {
	tb.Helper()
	get := func(name string, labels ...string) float64 {
		v, ok := p.Metric(name, labels...)
		if !ok {
			tb.Fatalf("the collector exports no %s%v", name, labels)
		}
		return v
	}
	return fsyncStats{
		count: get("spansink_fsync_duration_seconds_count", `storage="file"`),
		sum:   get("spansink_fsync_duration_seconds_sum", `storage="file"`),
		fast:  get("spansink_fsync_duration_seconds_bucket", `storage="file"`, `le="0.030517578125"`),
	}
}

// request is one scheduled request of the open-loop load.
type request struct {
	body []byte
	ids  []uint64
	due  time.Time
}

// openLoop sends n requests of spansPerRequest spans at rate spans/s. One
// goroutine builds the requests ahead and releases each at its due time;
// enough workers send them that a slow answer never delays the schedule.
func openLoop(n, rate int, client *loadClient, url string) {
	interval := time.Duration(float64(time.Second) * spansPerRequest / float64(rate))
	queue := make(chan request, n)
	var wg sync.WaitGroup
	for range 256 {
		wg.Go(func() {
			for r := range queue {
				client.post(context.Background(), url, r.body, r.ids, r.due)
			}
		})
	}
	start := time.Now()
	for i := range n {
		body, ids := client.request(spansPerRequest)
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		queue <- request{body: body, ids: ids, due: due}
	}
	close(queue)
	wg.Wait()
}

// closedLoop sends n requests with workers in flight at all times.
func closedLoop(n, workers int, client *loadClient, url string) {
	var next sync.Mutex
	left := n
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				next.Lock()
				if left == 0 {
					next.Unlock()
					return
				}
				left--
				next.Unlock()
				client.send(context.Background(), url, spansPerRequest)
			}
		})
	}
	wg.Wait()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// loadAverage is the 1-minute load average, to tell a quiet machine's
// figures from a busy one's.
func loadAverage() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return -1
	}
	return v
}
