package memory

import (
	"fmt"
	"testing"

	"github.com/spansink/spansink/sink/record"
)

// BenchmarkRingWrite writes batches of 1,000 dbgpt-sized lines into a
// ring of 1,000 records, as the batcher does at the default batch size.
func BenchmarkRingWrite(b *testing.B) {
	batch := make([]record.Record, 1000)
	for i := range batch {
		batch[i] = record.Record{Line: fmt.Appendf(nil, `{"span_id":"%032d","pad":"%0400d"}`, i, 0), Spans: 1}
	}
	r := New(1000)
	b.SetBytes(int64(len(batch[0].Line) * len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		r.Write(batch)
	}
}
