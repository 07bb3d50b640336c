package spans

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/spansink/spansink/sink/reader/readertest"
)

// The benchmarks run the real commands over a generated span file of
// SPANSINK_BENCH_SPANS spans (default 1,000,000, about 530 MB), made once per
// run in a temporary directory that TestMain removes. They only run with
// -bench, never in the default tests:
//
//	go test ./cmd/spans/ -run '^$' -bench . -benchtime 3x

var bench struct {
	once  sync.Once
	dir   string
	plain string
	gz    string
	spans int
	err   error
}

// removeBenchFiles removes the benchmark files, if a benchmark made them;
// TestMain calls it once every test and benchmark is done.
func removeBenchFiles() {
	if bench.dir != "" {
		os.RemoveAll(bench.dir)
	}
}

// benchFiles generates the benchmark files on first use.
func benchFiles(b *testing.B) (plain, gz string, spans int) {
	b.Helper()
	bench.once.Do(func() {
		bench.spans = 1000000
		if v := os.Getenv("SPANSINK_BENCH_SPANS"); v != "" {
			if bench.spans, bench.err = strconv.Atoi(v); bench.err != nil {
				return
			}
		}
		if bench.dir, bench.err = os.MkdirTemp("", "spansink-bench-"); bench.err != nil {
			return
		}
		bench.plain = filepath.Join(bench.dir, "spans.jsonl")
		bench.gz = filepath.Join(bench.dir, "gz", "spans_2024-05-01.jsonl.gz")
		if bench.err = writeBenchFile(bench.plain, bench.spans, false); bench.err != nil {
			return
		}
		if bench.err = os.MkdirAll(filepath.Dir(bench.gz), 0o755); bench.err != nil {
			return
		}
		bench.err = writeBenchFile(bench.gz, bench.spans, true)
	})
	if bench.err != nil {
		b.Fatalf("generate benchmark files: %v", bench.err)
	}
	return bench.plain, bench.gz, bench.spans
}

func writeBenchFile(path string, spans int, compress bool) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var w io.Writer = f
	var zw *gzip.Writer
	if compress {
		zw, err = gzip.NewWriterLevel(f, gzip.BestSpeed)
		if err != nil {
			return err
		}
		w = zw
	}
	buffered := bufio.NewWriterSize(w, 1<<20)
	if err := readertest.Write(buffered, spans); err != nil {
		return err
	}
	if err := buffered.Flush(); err != nil {
		return err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return err
		}
	}
	return f.Close()
}

// runBench runs one command per iteration and reports spans per second,
// the scan rate in MB/s of uncompressed lines, and the heap it took.
func runBench(b *testing.B, file string, spans int, args ...string) {
	b.Helper()
	plain, _, _ := benchFiles(b)
	plainInfo, err := os.Stat(plain)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(plainInfo.Size())
	runtime.GC()
	var peak uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak {
				peak = ms.HeapInuse
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	cpuBefore := cpuTime(b)
	b.ResetTimer()
	for range b.N {
		cmd := newCommand(env{now: time.Now})
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		cmd.SetArgs(append(args, file))
		if err := cmd.ExecuteContext(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu := cpuTime(b) - cpuBefore
	close(stop)
	<-sampled
	b.ReportMetric(float64(spans)*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	// CPU seconds per run: on a machine shared with other work, wall time
	// says more about the neighbours than about the reader.
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		b.Fatal(err)
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

func BenchmarkListTraceID(b *testing.B) {
	plain, _, spans := benchFiles(b)
	trace := readertest.TraceID(spans / readertest.SpansPerTrace / 2)
	runBench(b, plain, spans, "list", "--trace-id", trace)
}

func BenchmarkListSearch(b *testing.B) {
	plain, _, spans := benchFiles(b)
	runBench(b, plain, spans, "list", "--search", "user-4242", "--limit", "0")
}

func BenchmarkListServiceErrors(b *testing.B) {
	plain, _, spans := benchFiles(b)
	runBench(b, plain, spans, "list", "--service", "payments", "--errors", "--desc", "--limit", "20")
}

func BenchmarkListSinceDesc(b *testing.B) {
	plain, _, spans := benchFiles(b)
	since := readertest.Start.Add(time.Duration(spans/2) * time.Millisecond).Format(time.RFC3339)
	runBench(b, plain, spans, "list", "--since", since, "--min-duration", "400ms", "--desc", "--limit", "50")
}

func BenchmarkTree(b *testing.B) {
	plain, _, spans := benchFiles(b)
	runBench(b, plain, spans, "tree", "--trace-id", readertest.TraceID(spans/readertest.SpansPerTrace-1))
}

func BenchmarkStats(b *testing.B) {
	plain, _, spans := benchFiles(b)
	runBench(b, plain, spans, "stats")
}

func BenchmarkListTraceIDGzip(b *testing.B) {
	_, gz, spans := benchFiles(b)
	runBench(b, gz, spans, "list", "--trace-id", readertest.TraceID(spans/readertest.SpansPerTrace/2))
}

func BenchmarkStatsGzip(b *testing.B) {
	_, gz, spans := benchFiles(b)
	runBench(b, gz, spans, "stats")
}
