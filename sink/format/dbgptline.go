package format

import (
	"encoding/json"
	"strconv"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spansink/spansink/sink/spanid"
)

// dbgptLine is a dbgpt line being written, and the one writer of the
// format: the names of its keys and of the metadata members of OTLP spans,
// their order, and how each value is written (ids as lowercase hex or as
// sent, times in TimeLayout, strings escaped by appendString). The three
// encoders of the format go through it: appendOTLPSpan from pdata,
// wireEncoder.appendSpan from the protobuf wire, and AppendDBGPTSpan for
// DB-GPT records as sent. What they differ in is only where the values come
// from, and the attribute values, which each path writes from its own form
// of them (appendMap, appendKeyValue) and the differential fuzzers keep
// alike.
//
// Each method appends one member and returns the longer line. The line is
// passed and returned by value, as the encoders pass their buffers, so it
// stays in registers: writing a slice through a pointer costs a GC write
// barrier each time, several per span on the hot path.
//
// The members must be written in the format's order: beginLine, then the
// ids (trace, span, parent), operationName, startTime, endTime,
// metadataKey and the metadata, and endLine. A DB-GPT record's metadata is
// rawMetadata; an OTLP span's is beginOTLPMetadata, attributesKey and the
// attributes, the resource and scope members (encoded once per resource
// and scope by serviceMember, resourceKey and scopeMember), spanKind,
// status, traceState, events, links and endOTLPMetadata.
type dbgptLine []byte

// beginLine starts a line in b with its first member, span_type.
func beginLine(b []byte, spanType string) dbgptLine {
	b = append(b, `{"span_type":`...)
	return appendString(b, spanType)
}

// traceID writes an OTLP trace id as hex.
func (l dbgptLine) traceID(id []byte) dbgptLine {
	return appendHexID(append(l, `,"trace_id":`...), id)
}

// traceIDText writes a trace id as a DB-GPT record sent it.
func (l dbgptLine) traceIDText(id string) dbgptLine {
	return appendString(append(l, `,"trace_id":`...), id)
}

// spanID writes an OTLP span id as hex.
func (l dbgptLine) spanID(id []byte) dbgptLine {
	return appendHexID(append(l, `,"span_id":`...), id)
}

// spanIDText writes a span id as a DB-GPT record sent it.
func (l dbgptLine) spanIDText(id string) dbgptLine {
	return appendString(append(l, `,"span_id":`...), id)
}

// parentSpanID writes an OTLP parent span id as hex, or null when it is
// not present (spanid.Present): the span is a root.
func (l dbgptLine) parentSpanID(id []byte) dbgptLine {
	l = append(l, `,"parent_span_id":`...)
	if !spanid.Present(id, spanid.SpanIDSize) {
		return append(l, "null"...)
	}
	return appendHexID(l, id)
}

// parentSpanIDText writes a DB-GPT record's parent span id as sent, null
// for none.
func (l dbgptLine) parentSpanIDText(id *string) dbgptLine {
	return appendOptString(append(l, `,"parent_span_id":`...), id)
}

// operationName writes the span's name.
func (l dbgptLine) operationName(name string) dbgptLine {
	return appendString(append(l, `,"operation_name":`...), name)
}

// startTime writes an OTLP start time in TimeLayout, null when unset.
func (l dbgptLine) startTime(ns uint64, times *timeCache) dbgptLine {
	return times.appendTime(append(l, `,"start_time":`...), ns)
}

// startTimeText writes a DB-GPT record's start time as sent.
func (l dbgptLine) startTimeText(t *string) dbgptLine {
	return appendOptString(append(l, `,"start_time":`...), t)
}

// endTime writes an OTLP end time as startTime does, noting in m where the
// value is and the span's times, for endLine's start record.
func (l dbgptLine) endTime(start, end uint64, times *timeCache, m *endOnly) dbgptLine {
	l = append(l, `,"end_time":`...)
	m.endTime = len(l)
	l = times.appendTime(l, end)
	m.endTimeEnd = len(l)
	m.start, m.end = start, end
	return l
}

// endTimeText writes a DB-GPT record's end time as sent.
func (l dbgptLine) endTimeText(t *string) dbgptLine {
	return appendOptString(append(l, `,"end_time":`...), t)
}

// metadataKey writes the key of the metadata, which follows as an object
// or null.
func (l dbgptLine) metadataKey() dbgptLine { return append(l, `,"metadata":`...) }

// rawMetadata writes a DB-GPT record's metadata as sent, compacted onto
// the line (see appendRawObject); it fails only when the metadata is not
// valid JSON.
func (l dbgptLine) rawMetadata(raw json.RawMessage) (dbgptLine, error) {
	return appendRawObject(l, raw)
}

// endLine ends the line after its metadata.
func (l dbgptLine) endLine() dbgptLine { return append(l, '}') }

// serviceMember appends the metadata's service.name member of a resource
// with its trailing comma, as beginOTLPMetadata takes it.
func serviceMember(b []byte, service string) []byte {
	b = append(b, `"service.name":`...)
	b = appendString(b, service)
	return append(b, ',')
}

// resourceKey appends the key of the metadata's resource member, with its
// leading comma; the resource's attributes follow as an object.
func resourceKey(b []byte) []byte { return append(b, `,"resource":`...) }

// scopeMember appends the metadata's scope member with its leading comma,
// or nothing when the scope has neither name nor version.
func scopeMember(b []byte, name, version string) []byte {
	if name == "" && version == "" {
		return b
	}
	b = append(b, `,"scope":{"name":`...)
	b = appendString(b, name)
	b = append(b, `,"version":`...)
	b = appendString(b, version)
	return append(b, '}')
}

// beginOTLPMetadata opens an OTLP span's metadata object with its
// resource's service member (from serviceMember, empty when the resource
// has none).
func (l dbgptLine) beginOTLPMetadata(service []byte) dbgptLine {
	l = append(l, '{')
	return append(l, service...)
}

// attributesKey writes the key of the span's attributes, which follow as
// an object.
func (l dbgptLine) attributesKey() dbgptLine { return append(l, `"attributes":`...) }

// members appends members already encoded: the resource and scope.
func (l dbgptLine) members(encoded []byte) dbgptLine { return append(l, encoded...) }

var spanKindNames = [...]string{
	ptrace.SpanKindUnspecified: "unspecified",
	ptrace.SpanKindInternal:    "internal",
	ptrace.SpanKindServer:      "server",
	ptrace.SpanKindClient:      "client",
	ptrace.SpanKindProducer:    "producer",
	ptrace.SpanKindConsumer:    "consumer",
}

var statusCodeNames = [...]string{
	ptrace.StatusCodeUnset: "unset",
	ptrace.StatusCodeOk:    "ok",
	ptrace.StatusCodeError: "error",
}

// spanKind writes the span kind by name; pdata keeps it as an int32 enum,
// and a kind without a name is written as unspecified.
func (l dbgptLine) spanKind(kind int32) dbgptLine {
	l = append(l, `,"span_kind":"`...)
	if kind >= 0 && int(kind) < len(spanKindNames) {
		l = append(l, spanKindNames[kind]...)
	} else {
		l = append(l, spanKindNames[0]...)
	}
	return append(l, '"')
}

// status writes the status code by name (unset for a code without one) and
// its message when there is one, noting the member's bounds in m.
func (l dbgptLine) status(code int32, message string, m *endOnly) dbgptLine {
	m.status = len(l)
	l = append(l, `,"status":{"code":"`...)
	if code >= 0 && int(code) < len(statusCodeNames) {
		l = append(l, statusCodeNames[code]...)
	} else {
		l = append(l, statusCodeNames[0]...)
	}
	l = append(l, '"')
	if message != "" {
		l = append(l, `,"message":`...)
		l = appendString(l, message)
	}
	l = append(l, '}')
	m.statusEnd = len(l)
	return l
}

// traceState writes the span's W3C trace state, left out when empty.
func (l dbgptLine) traceState(state string) dbgptLine {
	if state == "" {
		return l
	}
	l = append(l, `,"trace_state":`...)
	return appendString(l, state)
}

// beginEvents opens the events array, noting where it begins in m; the
// events follow, separated by commas, then endEvents. A span without
// events calls noEvents instead.
func (l dbgptLine) beginEvents(m *endOnly) dbgptLine {
	m.events = len(l)
	return append(l, `,"events":[`...)
}

// endEvents closes the events array, noting its end in m.
func (l dbgptLine) endEvents(m *endOnly) dbgptLine {
	l = append(l, ']')
	m.eventsEnd = len(l)
	return l
}

// noEvents notes in m that the span has no events member.
func (l dbgptLine) noEvents(m *endOnly) dbgptLine {
	m.events, m.eventsEnd = len(l), len(l)
	return l
}

// beginEvent opens an event with its name and time; its attributes follow
// as an object, then endObject.
func (l dbgptLine) beginEvent(name string, timeUnixNano uint64) dbgptLine {
	l = append(l, `{"name":`...)
	l = appendString(l, name)
	l = append(l, `,"time_unix_nano":`...)
	l = strconv.AppendUint(l, timeUnixNano, 10)
	return append(l, `,"attributes":`...)
}

// beginLinks opens the links array; the links follow, separated by commas,
// then endLinks. A span without links writes neither.
func (l dbgptLine) beginLinks() dbgptLine { return append(l, `,"links":[`...) }

// endLinks closes the links array.
func (l dbgptLine) endLinks() dbgptLine { return append(l, ']') }

// beginLink opens a link with its ids as hex (all zeros for an id the link
// was sent without) and trace state; its attributes follow as an object,
// then endObject.
func (l dbgptLine) beginLink(traceID, spanID []byte, traceState string) dbgptLine {
	l = append(l, `{"trace_id":`...)
	l = appendHexID(l, traceID)
	l = append(l, `,"span_id":`...)
	l = appendHexID(l, spanID)
	l = append(l, `,"trace_state":`...)
	l = appendString(l, traceState)
	return append(l, `,"attributes":`...)
}

// endObject closes an event or a link.
func (l dbgptLine) endObject() dbgptLine { return append(l, '}') }

// endOTLPMetadata writes the span's exact times in unix nanoseconds, noting
// in m where the end's member begins, and closes the metadata object.
func (l dbgptLine) endOTLPMetadata(start, end uint64, m *endOnly) dbgptLine {
	l = append(l, `,"start_time_unix_nano":`...)
	l = strconv.AppendUint(l, start, 10)
	m.endNanos = len(l)
	l = append(l, `,"end_time_unix_nano":`...)
	l = strconv.AppendUint(l, end, 10)
	return append(l, '}')
}

// transient views bytes that are not kept as a string, for the methods
// above: the string shares their memory only for the call.
func transient(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
