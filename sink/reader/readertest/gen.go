// Package readertest generates span files for the reader's tests and
// benchmarks: realistic "dbgpt" lines in any number, without fixtures on disk.
package readertest

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Start is when generated traffic begins.
var Start = time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)

// genServices and genOperations give generated spans a realistic spread.
var (
	genServices   = []string{"api", "checkout", "payments", "search", "dbgpt"}
	genOperations = []string{"GET /cart", "POST /pay", "SELECT orders", "llm_generate", "retrieve", "embed", "rerank", "chat_completion"}
)

// TraceID is the trace id of generated trace i: 32 hex digits.
func TraceID(i int) string { return fmt.Sprintf("%016x%016x", uint64(i)*0x9e3779b97f4a7c15, uint64(i)) }

// timeLayout is the span time notation of the "dbgpt" format (the reader's
// TimeLayout; not imported, so the reader's own tests can use this package).
const timeLayout = "2006-01-02 15:04:05.000"

// SpansPerTrace is how many generated spans share a trace.
const SpansPerTrace = 8

// Write writes n spans in the "dbgpt" format as the collector writes
// OTLP spans (about 500 bytes a line), 8 spans per trace, one in 50 failing (span ids are i+1 in hex),
// one millisecond apart.
func Write(w io.Writer, n int) error {
	out := bufio.NewWriterSize(w, 1<<20)
	line := make([]byte, 0, 1024)
	for i := range n {
		trace := i / SpansPerTrace
		start := Start.Add(time.Duration(i) * time.Millisecond)
		duration := time.Duration(1+(i*7919)%5000) * 100 * time.Microsecond
		end := start.Add(duration)
		service := genServices[trace%len(genServices)]
		operation := genOperations[i%len(genOperations)]
		status := "ok"
		if i%50 == 0 {
			status = "error"
		}
		line = line[:0]
		line = append(line, `{"span_type":"base","trace_id":"`...)
		line = append(line, TraceID(trace)...)
		line = append(line, `","span_id":"`...)
		line = fmt.Appendf(line, "%016x", uint64(i)+1)
		line = append(line, `","parent_span_id":`...)
		if i%SpansPerTrace == 0 {
			line = append(line, "null"...)
		} else {
			line = fmt.Appendf(line, `"%016x"`, uint64(i-i%SpansPerTrace)+1)
		}
		line = append(line, `,"operation_name":"`...)
		line = append(line, operation...)
		line = append(line, `","start_time":"`...)
		line = start.AppendFormat(line, timeLayout)
		line = append(line, `","end_time":"`...)
		line = end.AppendFormat(line, timeLayout)
		line = append(line, `","metadata":{"service.name":"`...)
		line = append(line, service...)
		line = append(line, `","attributes":{"http.method":"GET","http.status_code":200,"user.id":"user-`...)
		line = strconv.AppendInt(line, int64(i%9973), 10)
		line = append(line, `","db.statement":"SELECT id, total FROM orders WHERE customer = $1"},"resource":{"service.name":"`...)
		line = append(line, service...)
		line = append(line, `","host.name":"node-7","k8s.pod.name":"`...)
		line = append(line, service...)
		line = append(line, `-7d9f8b6c5-x2x9q"},"scope":{"name":"io.opentelemetry.http","version":"1.2.0"},"span_kind":"server","status":{"code":"`...)
		line = append(line, status...)
		line = append(line, `"},"start_time_unix_nano":`...)
		line = strconv.AppendInt(line, start.UnixNano(), 10)
		line = append(line, `,"end_time_unix_nano":`...)
		line = strconv.AppendInt(line, end.UnixNano(), 10)
		line = append(line, "}}\n"...)
		if _, err := out.Write(line); err != nil {
			return err
		}
	}
	return out.Flush()
}
