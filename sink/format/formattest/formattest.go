// Package formattest generates the requests that the benchmarks of the
// encoders (sink/format) and of ingest (sink/ingest) measure, so both measure
// the same traffic and their figures compare.
package formattest

import (
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// RequestSpans is the request size telemetrygen and the SDK batchers send by
// default at high rates.
const RequestSpans = 100

// start is when generated spans begin; fixed so encoded lines are stable.
var start = time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)

// Traces builds a request shaped like telemetrygen's: one resource, one
// scope, spans alternating a server span and its client child, each with
// telemetrygen's two attributes.
func Traces(spans int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "telemetrygen")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("telemetrygen")
	for i := range spans {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
		s.SetSpanID(pcommon.SpanID{byte(i), 1, 2, 3, 4, 5, 6, 7})
		if i%2 == 1 {
			s.SetParentSpanID(pcommon.SpanID{byte(i - 1), 1, 2, 3, 4, 5, 6, 7})
			s.SetKind(ptrace.SpanKindClient)
			s.SetName("okey-dokey-0")
		} else {
			s.SetKind(ptrace.SpanKindServer)
			s.SetName("lets-go")
		}
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(123 * time.Microsecond)))
		s.Attributes().PutStr("network.peer.address", "1.2.3.4")
		s.Attributes().PutStr("peer.service", "telemetrygen-server")
	}
	return td
}

// DBGPTRecord is the i-th record of a DB-GPT request as its tracer sends
// them: an end record of a model worker span, as one JSON object. Its span
// id is i+1, as an all-zero id is no OTLP span id: record 0 would be
// rejected in otlp-json, and a request holding it would measure the
// encoder's path for requests with a rejected record.
func DBGPTRecord(i int) string {
	return fmt.Sprintf(`{"span_type":"run","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"0af7651916cd43dd8448eb211c80319c:%016x",`+
		`"parent_span_id":null,"operation_name":"DefaultModelWorker_call.generate_stream_func","start_time":"2024-03-01 10:00:00.123",`+
		`"end_time":"2024-03-01 10:00:01.456","metadata":{"model_name":"vicuna-13b-v1.5","sys_infos":{"cpu":"x86_64","gpu":"A100"}}}`, i+1)
}

// DBGPTLines is a POST /v1/spans body of n records as JSON lines.
func DBGPTLines(n int) []byte {
	var body []byte
	for i := range n {
		body = append(body, DBGPTRecord(i)...)
		body = append(body, '\n')
	}
	return body
}
