package batch

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/spansink/spansink/sink/record"
	"github.com/spansink/spansink/sink/storage"
	"github.com/spansink/spansink/sink/storage/memory"
	"github.com/spansink/spansink/sink/storage/rollingfile"
)

// benchRecords is one request's worth of dbgpt lines of a realistic size.
func benchRecords(n int) []record.Record {
	out := make([]record.Record, n)
	for i := range out {
		out[i] = record.Record{Line: fmt.Appendf(nil,
			`{"span_type":"base","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b71%08x","parent_span_id":"00f067aa0ba902b7","operation_name":"lets-go","start_time":"2024-05-06 07:08:09.123","end_time":"2024-05-06 07:08:09.456","metadata":{"service.name":"telemetrygen","attributes":{"net.peer.ip":"1.2.3.4","peer.service":"telemetrygen-server"},"resource":{"service.name":"telemetrygen"},"scope":{"name":"telemetrygen"},"span_kind":"client","status":{"code":"unset"},"start_time_unix_nano":1714979289123000000,"end_time_unix_nano":1714979289456000000}}`, i),
			Spans: 1}
	}
	return out
}

// BenchmarkSubmitToFile is the hot path behind ingest: concurrent requests
// of 100 spans submitted to the batcher, which writes them to a real
// rolling file and the ring. It reports spans per second.
func BenchmarkSubmitToFile(b *testing.B) {
	for _, durable := range []bool{false, true} {
		name := "Batched"
		if durable {
			name = "Durable"
		}
		b.Run(name, func(b *testing.B) {
			file := &rollingfile.RollingFile{Filename: filepath.Join(b.TempDir(), "spans.jsonl"), MaxSize: 100 << 20, Logger: logr.Discard()}
			bt, err := New(Options{Size: 1000, FlushInterval: time.Second, MaxQueuedSpans: 100000, Durable: durable}, file, memory.New(1000))
			if err != nil {
				b.Fatal(err)
			}
			recs := benchRecords(100)
			var full atomic.Int64
			b.SetBytes(int64(len(recs[0].Line)+1) * int64(len(recs)))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					for bt.Submit(context.Background(), recs) != nil {
						// Queue full: the benchmark outruns the disk; back off as a client would.
						full.Add(1)
						time.Sleep(100 * time.Microsecond)
					}
				}
			})
			if err := bt.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "spans/s")
			b.ReportMetric(float64(full.Load()), "queue-full")
		})
	}
}

// BenchmarkRollingFileWrite measures the file alone: one batch of 1000
// lines per write.
func BenchmarkRollingFileWrite(b *testing.B) {
	file := &rollingfile.RollingFile{Filename: filepath.Join(b.TempDir(), "spans.jsonl"), MaxSize: 100 << 20, Logger: logr.Discard()}
	var s storage.Storage = file
	recs := benchRecords(1000)
	b.SetBytes(int64(len(recs[0].Line)+1) * int64(len(recs)))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Write(recs); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
}
