package reader

import (
	"bytes"
	"testing"

	"github.com/spansink/spansink/sink/reader/readertest"
)

// BenchmarkDecodeDBGPTLine is the reader's decode of stored dbgpt lines
// alone, without files, blocks or workers, and with the filter of
// BenchmarkScanFullDecode, which no line passes by its raw bytes: what
// decoding a line costs the reader.
func BenchmarkDecodeDBGPTLine(b *testing.B) {
	var all bytes.Buffer
	if err := readertest.Write(&all, 1000); err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(all.Bytes()), []byte("\n"))
	dec := &decoder{filter: &Filter{Service: "payments", ErrorsOnly: true}}
	b.SetBytes(int64(all.Len()))
	b.ReportAllocs()
	var out []Span
	for b.Loop() {
		for i, line := range lines {
			var err error
			if out, err = dec.decodeLine(line, "f", i, out[:0]); err != nil && err != errSkipped {
				b.Fatal(err)
			}
		}
	}
}
