package format

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/record"
)

// dbgptEncoder writes one span per line with DB-GPT's eight keys, or with
// startEnd a finished span as two lines, DB-GPT's start and end records.
type dbgptEncoder struct {
	// startEnd writes each finished span as DB-GPT's start record and end
	// record (config.DBGPTRecordsStartEnd) instead of the end record alone.
	startEnd bool
}

var _ Encoder = dbgptEncoder{}

// scratch is a pooled encoding buffer. Lines are encoded into it and then
// copied once into an exactly sized buffer that the records keep: the queue
// behind the Submitter holds only the bytes it will write, and growing the
// scratch buffer costs nothing after the first requests.
type scratch struct {
	buf  []byte
	ends []int
	// startLines are the indexes in ends of the start records written for
	// finished spans: lines that hold no span of their own.
	startLines []int
	// finished holds a finished line while its start record is written
	// in its place.
	finished []byte
	// service, resource and scope hold the per-resource and per-scope parts
	// of metadata while the spans under them are encoded.
	service, resource, scope []byte
	// times formats the start and end times of pdata's spans.
	times timeCache
}

// maxPooledScratch keeps one huge request from pinning a huge buffer.
const maxPooledScratch = 4 << 20

var scratchPool = sync.Pool{New: func() any { return &scratch{buf: make([]byte, 0, 64<<10)} }}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

func putScratch(s *scratch) {
	if cap(s.buf) > maxPooledScratch {
		return
	}
	s.buf, s.ends, s.startLines, s.finished = s.buf[:0], s.ends[:0], s.startLines[:0], s.finished[:0]
	s.service, s.resource, s.scope = s.service[:0], s.resource[:0], s.scope[:0]
	scratchPool.Put(s)
}

// records copies the encoded lines out of the scratch buffer into one
// exactly sized buffer and returns a record per line slicing it.
func (s *scratch) records() []record.Record {
	if len(s.ends) == 0 {
		return nil
	}
	// bytes.Clone does not zero the memory it is about to overwrite.
	out := bytes.Clone(s.buf)
	records := make([]record.Record, len(s.ends))
	start, starts := 0, s.startLines
	for i, end := range s.ends {
		// The three-index slice keeps an append to one record from
		// overwriting the next.
		records[i] = record.Record{Line: out[start:end:end], Spans: 1}
		if len(starts) > 0 && starts[0] == i {
			// The span is counted once, by its end record, so that the
			// queue, batch.size and the metrics count spans, not lines.
			records[i].Spans, starts = 0, starts[1:]
		}
		start = end
	}
	return records
}

// spans is how many spans the encoded lines hold.
func (s *scratch) spans() int { return len(s.ends) - len(s.startLines) }

// endOnly locates, in a finished dbgpt line being written, what only the
// span's end knows: the end_time value, and in the metadata the status,
// the events and end_time_unix_nano. dbgptLine notes these offsets into
// the buffer as it writes a line for either encoder of OTLP spans (pdata's
// and the wire path), and endLine shapes the start record from them, so
// the rule of what a start record holds lives here alone.
type endOnly struct {
	// line is where the finished line begins.
	line int
	// endTime and endTimeEnd bound the end_time value.
	endTime, endTimeEnd int
	// status and statusEnd bound the metadata's `,"status":{...}`,
	// events and eventsEnd its `,"events":[...]` (empty without events).
	status, statusEnd, events, eventsEnd int
	// endNanos is where the metadata's `,"end_time_unix_nano":` begins;
	// after it come only the number and the closing braces.
	endNanos int
	// start and end are the span's times, 0 when unset.
	start, end uint64
}

// endLine ends the finished line at b[m.line:], the whole of b. With
// startEnd, a span with both times set becomes two lines: first the start
// record DB-GPT's tracer writes when a span begins (the same keys, end_time
// null, the metadata without status, events and end_time_unix_nano), then
// the finished line unchanged as its end record. A span without a start or
// an end time stays one line: its end_time or start_time is null already,
// and a second record of it would read as another span.
func (s *scratch) endLine(b []byte, m *endOnly, startEnd bool) []byte {
	if !startEnd || m.start == 0 || m.end == 0 {
		s.ends = append(s.ends, len(b))
		return b
	}
	finished := append(s.finished[:0], b[m.line:]...)
	at := func(offset int) int { return offset - m.line }
	b = append(b[:m.line], finished[:at(m.endTime)]...)
	b = append(b, "null"...)
	b = append(b, finished[at(m.endTimeEnd):at(m.status)]...)
	b = append(b, finished[at(m.statusEnd):at(m.events)]...)
	b = append(b, finished[at(m.eventsEnd):at(m.endNanos)]...)
	b = append(b, "}}"...)
	s.startLines = append(s.startLines, len(s.ends))
	s.ends = append(s.ends, len(b))
	b = append(b, finished...)
	s.ends = append(s.ends, len(b))
	s.finished = finished
	return b
}

// Format implements Encoder.
func (dbgptEncoder) Format() config.Format { return config.FormatDBGPT }

// EncodeTraces writes a line per span of td. The resource and scope parts of
// metadata are encoded once per resource and scope and copied into each
// span's line.
func (e dbgptEncoder) EncodeTraces(td ptrace.Traces) ([]record.Record, error) {
	if td.SpanCount() == 0 {
		return nil, nil
	}
	sc := getScratch()
	defer putScratch(sc)
	buf, service, resource, scope := sc.buf, sc.service, sc.resource, sc.scope
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		service, resource = appendResource(service[:0], resource[:0], rs.Resource())
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			scope = appendScope(scope[:0], ss.Scope())
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				var marks endOnly
				buf = appendOTLPSpan(buf, spans.At(k), service, resource, scope, &sc.times, &marks)
				buf = sc.endLine(buf, &marks, e.startEnd)
			}
		}
	}
	sc.buf, sc.service, sc.resource, sc.scope = buf, service, resource, scope
	return sc.records(), nil
}

// SpanType returns DB-GPT's span type for an OTLP span's attributes: the
// non-empty string attribute span_type or dbgpt.span_type, else "base".
func SpanType(attrs pcommon.Map) string {
	for _, key := range [...]string{"span_type", "dbgpt.span_type"} {
		if v, ok := attrs.Get(key); ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
			return v.Str()
		}
	}
	return "base"
}

// appendOTLPSpan appends span's finished line, noting in m where its
// end-only parts are.
func appendOTLPSpan(b []byte, span ptrace.Span, service, resource, scope []byte, times *timeCache, m *endOnly) []byte {
	m.line = len(b)
	traceID, spanID, parent := span.TraceID(), span.SpanID(), span.ParentSpanID()
	start, end := uint64(span.StartTimestamp()), uint64(span.EndTimestamp())
	l := beginLine(b, SpanType(span.Attributes())).
		traceID(traceID[:]).
		spanID(spanID[:]).
		parentSpanID(parent[:]).
		operationName(span.Name()).
		startTime(start, times).
		endTime(start, end, times, m).
		metadataKey()
	return appendOTLPMetadata(l, span, service, resource, scope, m).endLine()
}

// AppendOTLPMetadata appends the metadata object that the dbgpt format
// stores for an OTLP span (see the format's documentation): the one
// encoding of it, shared by the collector and the span reader so both show
// a span alike whichever format it was stored in.
func AppendOTLPMetadata(b []byte, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, span ptrace.Span) []byte {
	service, resource := appendResource(nil, nil, rs.Resource())
	var unused endOnly
	return appendOTLPMetadata(b, span, service, resource, appendScope(nil, ss.Scope()), &unused)
}

// appendResource appends the metadata's per-resource members: the
// service.name member with its trailing comma (nothing when the resource has
// none) to service, and the resource member with its leading comma to
// resource.
func appendResource(service, resource []byte, res pcommon.Resource) ([]byte, []byte) {
	attrs := res.Attributes()
	if v, ok := attrs.Get("service.name"); ok {
		service = serviceMember(service, v.AsString())
	}
	return service, appendMap(resourceKey(resource), attrs)
}

// appendScope appends the metadata's scope member, or nothing when the
// scope has neither name nor version.
func appendScope(b []byte, scope pcommon.InstrumentationScope) []byte {
	return scopeMember(b, scope.Name(), scope.Version())
}

// appendOTLPMetadata appends a span's metadata object; service, resource and
// scope are its per-resource and per-scope members, already encoded. It
// notes the offsets of the end-only members in m.
func appendOTLPMetadata(b []byte, span ptrace.Span, service, resource, scope []byte, m *endOnly) dbgptLine {
	l := dbgptLine(b).beginOTLPMetadata(service).attributesKey()
	l = appendMap(l, span.Attributes())
	l = l.members(resource).members(scope).spanKind(int32(span.Kind()))
	status := span.Status()
	l = l.status(int32(status.Code()), status.Message(), m).traceState(span.TraceState().AsRaw())
	if events := span.Events(); events.Len() > 0 {
		l = l.beginEvents(m)
		for i := 0; i < events.Len(); i++ {
			if i > 0 {
				l = append(l, ',')
			}
			ev := events.At(i)
			l = l.beginEvent(ev.Name(), uint64(ev.Timestamp()))
			l = dbgptLine(appendMap(l, ev.Attributes())).endObject()
		}
		l = l.endEvents(m)
	} else {
		l = l.noEvents(m)
	}
	if links := span.Links(); links.Len() > 0 {
		l = l.beginLinks()
		for i := 0; i < links.Len(); i++ {
			if i > 0 {
				l = append(l, ',')
			}
			link := links.At(i)
			linkTrace, linkSpan := link.TraceID(), link.SpanID()
			l = l.beginLink(linkTrace[:], linkSpan[:], link.TraceState().AsRaw())
			l = dbgptLine(appendMap(l, link.Attributes())).endObject()
		}
		l = l.endLinks()
	}
	return l.endOTLPMetadata(uint64(span.StartTimestamp()), uint64(span.EndTimestamp()), m)
}

// appendMap appends an attribute map as a JSON object.
func appendMap(b []byte, m pcommon.Map) []byte {
	b = append(b, '{')
	first := true
	for k, v := range m.All() {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, k)
		b = append(b, ':')
		b = appendValue(b, v)
	}
	return append(b, '}')
}

// appendValue appends an attribute value in its natural JSON form: int64 as
// a number (exact, unlike OTLP JSON's strings), bytes as base64.
func appendValue(b []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return appendString(b, v.Str())
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(b, v.Bool())
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(b, v.Int(), 10)
	case pcommon.ValueTypeDouble:
		return appendFloat(b, v.Double())
	case pcommon.ValueTypeMap:
		return appendMap(b, v.Map())
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		b = append(b, '[')
		for i := 0; i < s.Len(); i++ {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, s.At(i))
		}
		return append(b, ']')
	case pcommon.ValueTypeBytes:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v.Bytes().AsRaw())
		return append(b, '"')
	case pcommon.ValueTypeEmpty:
		return append(b, "null"...)
	}
	// pdata has no other value types today; should one be added, its string
	// form keeps the line valid until it gets its own case.
	return appendString(b, v.AsString())
}

// EncodeDBGPT writes each record with its values as sent.
func (dbgptEncoder) EncodeDBGPT(spans []DBGPTSpan) ([]record.Record, []Rejection, error) {
	sc := getScratch()
	defer putScratch(sc)
	var rejections []Rejection
	for i := range spans {
		start := len(sc.buf)
		next, err := AppendDBGPTSpan(sc.buf, &spans[i])
		if err != nil {
			rejections = append(rejections, Rejection{Index: i, Message: err.Error()})
			sc.buf = next[:start]
			continue
		}
		sc.buf = next
		sc.ends = append(sc.ends, len(sc.buf))
	}
	return sc.records(), rejections, nil
}
