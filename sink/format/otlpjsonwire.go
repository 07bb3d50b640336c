package format

import (
	"bytes"
	"strconv"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/spansink/spansink/sink/record"
	"github.com/spansink/spansink/sink/spanid"
)

var _ ProtoEncoder = otlpJSONEncoder{}

// EncodeOTLPProto implements ProtoEncoder: the line is byte for byte the
// one EncodeTraces writes for the request after pdata decoded it, so the
// otlpjsonfile receiver reads back the same traces. Members are written in
// the order of pdata's JSON marshaler and left out where it leaves them
// out (empty strings and lists, zero numbers and ids); strings are escaped
// as appendString does, which is pdata's escaping followed by validUTF8.
func (otlpJSONEncoder) EncodeOTLPProto(body []byte, limits AttributeLimits) ([]record.Record, int, bool) {
	w := otlpWirePool.Get().(*otlpWireEncoder)
	defer w.release()
	w.lim, w.spans = newWireLimits(limits), 0
	var ok bool
	if w.buf, ok = w.request(w.buf[:0], body); !ok {
		return nil, 0, false
	}
	if w.spans == 0 {
		return nil, 0, true
	}
	// bytes.Clone gives the record an exactly sized buffer of its own.
	return []record.Record{{Line: bytes.Clone(w.buf), Spans: w.spans}}, w.spans, true
}

// otlpWireEncoder turns an ExportTraceServiceRequest into its OTLP JSON
// line. Each message is read by a first pass that checks it and finds its
// scalar fields, then its repeated fields are written by further passes,
// since pdata writes fields in their declared order, not the order sent.
type otlpWireEncoder struct {
	buf []byte
	// lim are the limits of the request at hand.
	lim wireLimits
	// spans counts the spans written.
	spans int
}

var otlpWirePool = sync.Pool{New: func() any { return &otlpWireEncoder{buf: make([]byte, 0, 64<<10)} }}

// release puts w back into otlpWirePool; a buffer grown by a huge request
// is let go.
func (w *otlpWireEncoder) release() {
	if cap(w.buf) > maxPooledScratch {
		return
	}
	otlpWirePool.Put(w)
}

// appendMember appends a member's name, given with its quotes and colon,
// to the object that begins at b[obj], after a comma unless it is the
// object's first member.
func appendMember(b []byte, obj int, name string) []byte {
	if len(b) > obj+1 {
		b = append(b, ',')
	}
	return append(b, name...)
}

// appendAttributesMember appends the member `"attributes":[...]` of the
// KeyValue fields num of msg to the object that begins at b[obj], or
// nothing when there are none, as pdata leaves out an empty list.
func appendAttributesMember(b []byte, obj int, msg []byte, num protowire.Number, lim wireLimits) ([]byte, bool) {
	mark := len(b)
	b = appendMember(b, obj, `"attributes":`)
	empty := len(b) + len("[]")
	b, ok := appendAttributes(b, msg, num, 0, lim, otlpValues)
	if len(b) == empty {
		b = b[:mark]
	}
	return b, ok
}

// appendRepeatedMember appends the member name holding each field num of
// msg written by appendOne, as a JSON array, or nothing when msg has no
// such field. msg has been checked by a first pass.
func (w *otlpWireEncoder) appendRepeatedMember(b []byte, obj int, name string, msg []byte, num protowire.Number, appendOne func(*otlpWireEncoder, []byte, []byte) ([]byte, bool)) ([]byte, bool) {
	first, ok := true, true
	for rest := msg; len(rest) > 0; {
		fnum, _, _, fdata, n := readField(rest)
		if n < 0 {
			return b, false
		}
		rest = rest[n:]
		if fnum != num {
			continue
		}
		if first {
			b = appendMember(b, obj, name)
			b = append(b, '[')
		} else {
			b = append(b, ',')
		}
		first = false
		if b, ok = appendOne(w, b, fdata); !ok {
			return b, false
		}
	}
	if !first {
		b = append(b, ']')
	}
	return b, true
}

// appendUint32Member appends a uint32 field (dropped counts, flags) as
// pdata does: a JSON number, left out when zero. pdata keeps the low 32
// bits of a varint sent for it.
func appendUint32Member(b []byte, obj int, name string, v uint64) []byte {
	if uint32(v) == 0 {
		return b
	}
	b = appendMember(b, obj, name)
	return strconv.AppendUint(b, uint64(uint32(v)), 10)
}

// appendUint64Member appends a fixed64 time as OTLP JSON does: a decimal
// string, left out when zero.
func appendUint64Member(b []byte, obj int, name string, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = appendMember(b, obj, name)
	b = append(b, '"')
	b = strconv.AppendUint(b, v, 10)
	return append(b, '"')
}

// appendStringMember appends a string field, left out when empty.
func appendStringMember(b []byte, obj int, name string, s []byte) []byte {
	if len(s) == 0 {
		return b
	}
	b = appendMember(b, obj, name)
	return appendBytesString(b, s)
}

// appendIDMember appends an id of size bytes as lowercase hex, left out
// when it is not present (empty or all zero), which pdata reads as no id.
func appendIDMember(b []byte, obj int, name string, id []byte, size int) []byte {
	if !spanid.Present(id, size) {
		return b
	}
	b = appendMember(b, obj, name)
	return appendHexID(b, id)
}

// appendEnumMember appends an enum (kind, status code) as pdata does: the
// int32 it keeps of the varint, as a number, left out when zero.
func appendEnumMember(b []byte, obj int, name string, v uint64) []byte {
	if int32(v) == 0 {
		return b
	}
	b = appendMember(b, obj, name)
	return strconv.AppendInt(b, int64(int32(v)), 10)
}

func (w *otlpWireEncoder) request(b, msg []byte) ([]byte, bool) {
	obj := len(b)
	b = append(b, '{')
	for rest := msg; len(rest) > 0; {
		fnum, ftyp, _, _, n := readField(rest)
		if n < 0 {
			return b, false
		}
		rest = rest[n:]
		if _, ok := requestTypes.known(fnum, ftyp); !ok {
			return b, false
		}
	}
	b, ok := w.appendRepeatedMember(b, obj, `"resourceSpans":`, msg, requestResourceSpans, (*otlpWireEncoder).resourceSpans)
	return append(b, '}'), ok
}

func (w *otlpWireEncoder) resourceSpans(b, msg []byte) ([]byte, bool) {
	resource, schemaURL, ok := scanResourceSpans(msg)
	if !ok {
		return b, false
	}
	obj := len(b)
	b = append(b, `{"resource":`...)
	b, ok = resourceJSON(b, resource)
	if !ok {
		return b, false
	}
	if b, ok = w.appendRepeatedMember(b, obj, `"scopeSpans":`, msg, resourceSpansScopes, (*otlpWireEncoder).scopeSpans); !ok {
		return b, false
	}
	b = appendStringMember(b, obj, `"schemaUrl":`, schemaURL)
	return append(b, '}'), true
}

// resourceJSON appends a Resource; its attributes are exempt from the
// limits.
func resourceJSON(b, msg []byte) ([]byte, bool) {
	var dropped uint64
	for rest := msg; len(rest) > 0; {
		fnum, ftyp, fval, _, n := readField(rest)
		if n < 0 {
			return b, false
		}
		rest = rest[n:]
		known, ok := resourceTypes.known(fnum, ftyp)
		switch {
		case !ok:
			return b, false
		case !known:
		case fnum == resourceEntityRefs:
			return b, false
		case fnum == resourceDropped:
			dropped = fval
		}
	}
	obj := len(b)
	b = append(b, '{')
	b, ok := appendAttributesMember(b, obj, msg, resourceAttributes, unlimited)
	if !ok {
		return b, false
	}
	b = appendUint32Member(b, obj, `"droppedAttributesCount":`, dropped)
	return append(b, '}'), true
}

func (w *otlpWireEncoder) scopeSpans(b, msg []byte) ([]byte, bool) {
	scope, schemaURL, ok := scanScopeSpans(msg)
	if !ok {
		return b, false
	}
	obj := len(b)
	b = append(b, `{"scope":`...)
	b, ok = scopeJSON(b, scope)
	if !ok {
		return b, false
	}
	if b, ok = w.appendRepeatedMember(b, obj, `"spans":`, msg, scopeSpansSpans, (*otlpWireEncoder).span); !ok {
		return b, false
	}
	b = appendStringMember(b, obj, `"schemaUrl":`, schemaURL)
	return append(b, '}'), true
}

// scopeJSON appends an InstrumentationScope; its attributes are exempt
// from the limits.
func scopeJSON(b, msg []byte) ([]byte, bool) {
	var name, version []byte
	var dropped uint64
	for rest := msg; len(rest) > 0; {
		fnum, ftyp, fval, fdata, n := readField(rest)
		if n < 0 {
			return b, false
		}
		rest = rest[n:]
		known, ok := scopeTypes.known(fnum, ftyp)
		switch {
		case !ok:
			return b, false
		case !known:
		case fnum == scopeName:
			name = fdata
		case fnum == scopeVersion:
			version = fdata
		case fnum == scopeDropped:
			dropped = fval
		}
	}
	obj := len(b)
	b = append(b, '{')
	b = appendStringMember(b, obj, `"name":`, name)
	b = appendStringMember(b, obj, `"version":`, version)
	b, ok := appendAttributesMember(b, obj, msg, scopeAttributes, unlimited)
	if !ok {
		return b, false
	}
	b = appendUint32Member(b, obj, `"droppedAttributesCount":`, dropped)
	return append(b, '}'), true
}

// otlpSpan holds the scalar fields of a span found by the first pass.
type otlpSpan struct {
	traceID, spanID, parentID []byte
	traceState, name          []byte
	flags, kind               uint64
	start, end                uint64
	droppedAttrs              uint64
	droppedEvents             uint64
	droppedLinks              uint64
	status                    []byte
}

func (w *otlpWireEncoder) span(b, msg []byte) ([]byte, bool) {
	var s otlpSpan
	seenStatus := false
	for rest := msg; len(rest) > 0; {
		fnum, ftyp, fval, fdata, n := readField(rest)
		if n < 0 {
			return b, false
		}
		rest = rest[n:]
		known, ok := spanTypes.known(fnum, ftyp)
		if !ok {
			return b, false
		}
		if !known {
			continue
		}
		switch fnum {
		case spanTraceID:
			if !spanid.WireLength(fdata, spanid.TraceIDSize) {
				return b, false
			}
			s.traceID = fdata
		case spanSpanID:
			if !spanid.WireLength(fdata, spanid.SpanIDSize) {
				return b, false
			}
			s.spanID = fdata
		case spanParentSpanID:
			if !spanid.WireLength(fdata, spanid.SpanIDSize) {
				return b, false
			}
			s.parentID = fdata
		case spanTraceState:
			s.traceState = fdata
		case spanName:
			s.name = fdata
		case spanKind:
			s.kind = fval
		case spanStart:
			s.start = fval
		case spanEnd:
			s.end = fval
		case spanFlags:
			s.flags = fval
		case spanDroppedAttrs:
			s.droppedAttrs = fval
		case spanDroppedEvents:
			s.droppedEvents = fval
		case spanDroppedLinks:
			s.droppedLinks = fval
		case spanStatus:
			// pdata merges a repeated status; leave that to it.
			if seenStatus {
				return b, false
			}
			seenStatus, s.status = true, fdata
		}
	}
	// Ingest drops a span without both ids, so such a request takes the
	// pdata path, which says so.
	if !spanid.Present(s.traceID, spanid.TraceIDSize) || !spanid.Present(s.spanID, spanid.SpanIDSize) {
		return b, false
	}
	obj := len(b)
	b = append(b, `{"traceId":`...)
	b = appendHexID(b, s.traceID)
	b = append(b, `,"spanId":`...)
	b = appendHexID(b, s.spanID)
	b = appendStringMember(b, obj, `"traceState":`, s.traceState)
	b = appendIDMember(b, obj, `"parentSpanId":`, s.parentID, spanid.SpanIDSize)
	b = appendUint32Member(b, obj, `"flags":`, s.flags)
	b = appendStringMember(b, obj, `"name":`, s.name)
	b = appendEnumMember(b, obj, `"kind":`, s.kind)
	b = appendUint64Member(b, obj, `"startTimeUnixNano":`, s.start)
	b = appendUint64Member(b, obj, `"endTimeUnixNano":`, s.end)
	b, ok := appendAttributesMember(b, obj, msg, spanAttributes, w.lim)
	if !ok {
		return b, false
	}
	b = appendUint32Member(b, obj, `"droppedAttributesCount":`, s.droppedAttrs)
	if b, ok = w.appendRepeatedMember(b, obj, `"events":`, msg, spanEvents, (*otlpWireEncoder).event); !ok {
		return b, false
	}
	b = appendUint32Member(b, obj, `"droppedEventsCount":`, s.droppedEvents)
	if b, ok = w.appendRepeatedMember(b, obj, `"links":`, msg, spanLinks, (*otlpWireEncoder).link); !ok {
		return b, false
	}
	b = appendUint32Member(b, obj, `"droppedLinksCount":`, s.droppedLinks)
	// pdata always writes the status, {} when unset.
	message, code, ok := parseStatus(s.status)
	if !ok {
		return b, false
	}
	status := len(b) + len(`,"status":`)
	b = append(b, `,"status":{`...)
	b = appendStringMember(b, status, `"message":`, message)
	b = appendEnumMember(b, status, `"code":`, code)
	w.spans++
	return append(b, "}}"...), true
}

func (w *otlpWireEncoder) event(b, msg []byte) ([]byte, bool) {
	ev, ok := scanEvent(msg)
	if !ok {
		return b, false
	}
	obj := len(b)
	b = append(b, '{')
	b = appendUint64Member(b, obj, `"timeUnixNano":`, ev.time)
	b = appendStringMember(b, obj, `"name":`, ev.name)
	if b, ok = appendAttributesMember(b, obj, msg, eventAttributes, w.lim); !ok {
		return b, false
	}
	b = appendUint32Member(b, obj, `"droppedAttributesCount":`, ev.dropped)
	return append(b, '}'), true
}

func (w *otlpWireEncoder) link(b, msg []byte) ([]byte, bool) {
	l, ok := scanLink(msg)
	if !ok {
		return b, false
	}
	obj := len(b)
	b = append(b, '{')
	b = appendIDMember(b, obj, `"traceId":`, l.traceID, spanid.TraceIDSize)
	b = appendIDMember(b, obj, `"spanId":`, l.spanID, spanid.SpanIDSize)
	b = appendStringMember(b, obj, `"traceState":`, l.traceState)
	if b, ok = appendAttributesMember(b, obj, msg, linkAttributes, w.lim); !ok {
		return b, false
	}
	b = appendUint32Member(b, obj, `"droppedAttributesCount":`, l.dropped)
	b = appendUint32Member(b, obj, `"flags":`, l.flags)
	return append(b, '}'), true
}
