package format

import (
	"encoding/binary"
	"math"
	"sync"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/record"
	"github.com/spansink/spansink/sink/spanid"
)

// ProtoEncoder is implemented by encoders that can encode a binary protobuf
// ExportTraceServiceRequest straight from its wire bytes, without building
// pdata's object tree first. It is the collector's hot path: decoding into
// pdata and walking the tree again cost more CPU than all the rest of
// ingest together. Both formats implement it (dbgpt here, otlp-json in
// otlpjsonwire.go) on the same reading of the wire: readField, the
// wireTypes tables, the id rules of sink/spanid and the attribute value
// walk of wirevalue.go, so they decline the same encodings; only what a format's
// line needs besides (dbgpt's service.name as a string) differs.
type ProtoEncoder interface {
	// EncodeOTLPProto encodes every span of the request in body. It
	// returns ok false, and nothing else, for any request it does not take
	// on: one pdata would refuse, one with a span that ingest would reject
	// (ids empty, all zero or of the wrong length) and a few legal but odd
	// encodings (see wireRequest). The caller then decodes body with pdata,
	// which decides what is wrong and gives the same lines for the rest.
	// The records never share memory with body.
	// It also declines a request that exceeds limits or nests values
	// deeper than config.MaxNestingDepth, which only the pdata path
	// enforces (AttributeLimits.Apply, CheckNesting): such requests are
	// rare, and checking lengths and counts as it goes costs the wire path
	// next to nothing.
	EncodeOTLPProto(body []byte, limits AttributeLimits) (records []record.Record, spans int, ok bool)
}

var _ ProtoEncoder = dbgptEncoder{}

// EncodeOTLPProto implements ProtoEncoder: the lines are byte for byte those
// EncodeTraces writes for the request after pdata decoded it.
func (e dbgptEncoder) EncodeOTLPProto(body []byte, limits AttributeLimits) ([]record.Record, int, bool) {
	sc := getScratch()
	defer putScratch(sc)
	w := wirePool.Get().(*wireEncoder)
	defer w.release()
	w.sc = sc
	w.lim = newWireLimits(limits)
	w.startEnd = e.startEnd
	if !w.request(body) {
		return nil, 0, false
	}
	return sc.records(), sc.spans(), true
}

var wirePool = sync.Pool{New: func() any { return new(wireEncoder) }}

// release puts w back into wirePool; buffers grown by a huge request are
// let go.
func (w *wireEncoder) release() {
	w.sc = nil
	if cap(w.attrs) > maxPooledScratch || cap(w.discard) > maxPooledScratch {
		return
	}
	w.attrs, w.discard = w.attrs[:0], w.discard[:0]
	wirePool.Put(w)
}

// The field numbers of the OTLP trace messages (opentelemetry-proto
// trace/v1/trace.proto, common/v1/common.proto, resource/v1/resource.proto).
const (
	requestResourceSpans = 1

	resourceSpansResource  = 1
	resourceSpansScopes    = 2
	resourceSpansSchemaURL = 3
	// resourceSpansDeprecatedScopes is the pre-1.0 instrumentation_library
	// field that pdata migrates into scope_spans; such requests take the
	// pdata path.
	resourceSpansDeprecatedScopes = 1000

	resourceAttributes = 1
	resourceDropped    = 2
	resourceEntityRefs = 3

	scopeSpansScope     = 1
	scopeSpansSpans     = 2
	scopeSpansSchemaURL = 3

	scopeName       = 1
	scopeVersion    = 2
	scopeAttributes = 3
	scopeDropped    = 4

	spanTraceID       = 1
	spanSpanID        = 2
	spanTraceState    = 3
	spanParentSpanID  = 4
	spanName          = 5
	spanKind          = 6
	spanStart         = 7
	spanEnd           = 8
	spanAttributes    = 9
	spanDroppedAttrs  = 10
	spanEvents        = 11
	spanDroppedEvents = 12
	spanLinks         = 13
	spanDroppedLinks  = 14
	spanStatus        = 15
	spanFlags         = 16

	eventTime       = 1
	eventName       = 2
	eventAttributes = 3
	eventDropped    = 4

	linkTraceID    = 1
	linkSpanID     = 2
	linkTraceState = 3
	linkAttributes = 4
	linkDropped    = 5
	linkFlags      = 6

	statusMessage = 2
	statusCode    = 3

	keyValueKey         = 1
	keyValueValue       = 2
	keyValueKeyStrindex = 3

	anyString         = 1
	anyBool           = 2
	anyInt            = 3
	anyDouble         = 4
	anyArray          = 5
	anyKvlist         = 6
	anyBytes          = 7
	anyStringStrindex = 8

	listValues = 1
)

// maxWireNesting bounds the nesting of arrays and key-value lists in
// attribute values on the wire path. It is config.MaxNestingDepth, which
// pdata's protobuf decoder always takes (its recursion limit of 100 counts
// three per key-value list level); deeper values take the pdata path,
// which refuses them.
const maxWireNesting = config.MaxNestingDepth

// wireLimits are AttributeLimits as the wire path checks them: no limit is
// the largest int, so each check is one comparison.
type wireLimits struct {
	maxCount, maxValueBytes int
}

func newWireLimits(l AttributeLimits) wireLimits {
	w := wireLimits{maxCount: l.MaxCount, maxValueBytes: l.MaxValueBytes}
	if w.maxCount <= 0 {
		w.maxCount = math.MaxInt
	}
	if w.maxValueBytes <= 0 {
		w.maxValueBytes = math.MaxInt
	}
	return w
}

// unlimited is what resource and scope attributes get: the specification
// exempts them from the attribute limits.
var unlimited = wireLimits{maxCount: math.MaxInt, maxValueBytes: math.MaxInt}

// readField reads the first field of b and returns it with its length in
// b, or a negative length when b does not start with a field. It fails on
// what pdata fails on (truncation, an illegal wire type, field number 0)
// and also on groups, which OTLP never uses and which take the pdata path.
// The field comes back as separate values, not through a pointer or in a
// struct, so that the loops reading fields keep them in registers: writing
// slices through a pointer costs a GC write barrier each (the collector's
// GC runs often), and a struct of this size is kept in memory and copied
// with wide loads that stall on the narrow stores just made.
func readField(b []byte) (num protowire.Number, typ protowire.Type, val uint64, data []byte, n int) {
	// Nearly every field of a span has a one-byte tag and, if it has one,
	// a one-byte length or value; those are read here without calls.
	if len(b) >= 2 && b[0] < 0x80 && b[0] >= 8 {
		num, typ = protowire.Number(b[0]>>3), protowire.Type(b[0]&7)
		switch typ {
		case protowire.BytesType:
			if l := int(b[1]); l < 0x80 && 2+l <= len(b) {
				return num, typ, 0, b[2 : 2+l], 2 + l
			}
		case protowire.VarintType:
			if b[1] < 0x80 {
				return num, typ, uint64(b[1]), nil, 2
			}
		case protowire.Fixed64Type:
			if len(b) >= 9 {
				return num, typ, binary.LittleEndian.Uint64(b[1:]), nil, 9
			}
		case protowire.Fixed32Type:
			if len(b) >= 5 {
				return num, typ, uint64(binary.LittleEndian.Uint32(b[1:])), nil, 5
			}
		}
	}
	num, typ, n = protowire.ConsumeTag(b)
	if n < 0 {
		return 0, 0, 0, nil, -1
	}
	var m int
	switch typ {
	case protowire.VarintType:
		val, m = protowire.ConsumeVarint(b[n:])
	case protowire.Fixed64Type:
		val, m = protowire.ConsumeFixed64(b[n:])
	case protowire.Fixed32Type:
		var v uint32
		v, m = protowire.ConsumeFixed32(b[n:])
		val = uint64(v)
	case protowire.BytesType:
		data, m = protowire.ConsumeBytes(b[n:])
	default:
		m = -1
	}
	if m < 0 {
		return 0, 0, 0, nil, -1
	}
	return num, typ, val, data, n + m
}

// fieldTag is a field's number and wire type as one value, as its tag
// has them on the wire.
func fieldTag(num protowire.Number, typ protowire.Type) uint64 {
	return uint64(num)<<3 | uint64(typ)
}

// wireTypes lists the wire type of every known field of a message, by
// field number; pdata refuses a known field sent with another type.
// Unknown fields are skipped, as pdata skips them. An array rather than a
// map: it is consulted for every field of every span.
type wireTypes [17]int8

// newWireTypes builds a wireTypes; 0 marks an unknown field, t+1 a field of
// wire type t.
func newWireTypes(fields map[protowire.Number]protowire.Type) *wireTypes {
	var t wireTypes
	for num, typ := range fields {
		t[num] = int8(typ) + 1
	}
	return &t
}

var (
	requestTypes       = newWireTypes(map[protowire.Number]protowire.Type{requestResourceSpans: protowire.BytesType})
	resourceSpansTypes = newWireTypes(map[protowire.Number]protowire.Type{
		resourceSpansResource: protowire.BytesType, resourceSpansScopes: protowire.BytesType,
		resourceSpansSchemaURL: protowire.BytesType,
	})
	resourceTypes = newWireTypes(map[protowire.Number]protowire.Type{
		resourceAttributes: protowire.BytesType, resourceDropped: protowire.VarintType, resourceEntityRefs: protowire.BytesType,
	})
	scopeSpansTypes = newWireTypes(map[protowire.Number]protowire.Type{
		scopeSpansScope: protowire.BytesType, scopeSpansSpans: protowire.BytesType, scopeSpansSchemaURL: protowire.BytesType,
	})
	scopeTypes = newWireTypes(map[protowire.Number]protowire.Type{
		scopeName: protowire.BytesType, scopeVersion: protowire.BytesType, scopeAttributes: protowire.BytesType, scopeDropped: protowire.VarintType,
	})
	spanTypes = newWireTypes(map[protowire.Number]protowire.Type{
		spanTraceID: protowire.BytesType, spanSpanID: protowire.BytesType, spanTraceState: protowire.BytesType,
		spanParentSpanID: protowire.BytesType, spanName: protowire.BytesType, spanKind: protowire.VarintType,
		spanStart: protowire.Fixed64Type, spanEnd: protowire.Fixed64Type, spanAttributes: protowire.BytesType,
		spanDroppedAttrs: protowire.VarintType, spanEvents: protowire.BytesType, spanDroppedEvents: protowire.VarintType,
		spanLinks: protowire.BytesType, spanDroppedLinks: protowire.VarintType, spanStatus: protowire.BytesType,
		spanFlags: protowire.Fixed32Type,
	})
	eventTypes = newWireTypes(map[protowire.Number]protowire.Type{
		eventTime: protowire.Fixed64Type, eventName: protowire.BytesType, eventAttributes: protowire.BytesType, eventDropped: protowire.VarintType,
	})
	linkTypes = newWireTypes(map[protowire.Number]protowire.Type{
		linkTraceID: protowire.BytesType, linkSpanID: protowire.BytesType, linkTraceState: protowire.BytesType,
		linkAttributes: protowire.BytesType, linkDropped: protowire.VarintType, linkFlags: protowire.Fixed32Type,
	})
	statusTypes   = newWireTypes(map[protowire.Number]protowire.Type{statusMessage: protowire.BytesType, statusCode: protowire.VarintType})
	keyValueTypes = newWireTypes(map[protowire.Number]protowire.Type{
		keyValueKey: protowire.BytesType, keyValueValue: protowire.BytesType, keyValueKeyStrindex: protowire.VarintType,
	})
	anyValueTypes = newWireTypes(map[protowire.Number]protowire.Type{
		anyString: protowire.BytesType, anyBool: protowire.VarintType, anyInt: protowire.VarintType, anyDouble: protowire.Fixed64Type,
		anyArray: protowire.BytesType, anyKvlist: protowire.BytesType, anyBytes: protowire.BytesType, anyStringStrindex: protowire.VarintType,
	})
	listTypes = newWireTypes(map[protowire.Number]protowire.Type{listValues: protowire.BytesType})
)

// known reports whether field num is a field of the message, and false for
// an unknown field; ok is false when it is known with another wire type
// than typ.
//
// It takes the number and type rather than the field: a pointer to a field
// would keep the field in memory, and copying it there right after
// readField returned it stalls the CPU (store forwarding).
func (t *wireTypes) known(num protowire.Number, typ protowire.Type) (known, ok bool) {
	if int(num) >= len(t) || t[num] == 0 {
		return false, true
	}
	return true, protowire.Type(t[num]-1) == typ
}

// wireEncoder turns an ExportTraceServiceRequest into dbgpt lines in
// sc.buf, one pass per message level, with no allocation per span once the
// scratch buffers have grown.
type wireEncoder struct {
	sc *scratch
	// attrs holds the encoded attributes of the span at hand: they are
	// encoded while the span is scanned, since span_type, which comes first
	// in the line, is one of them.
	attrs []byte
	times timeCache
	// lim are the limits of the request at hand.
	lim wireLimits
	// discard receives the encoding of fields that are checked but not
	// written (scope attributes).
	discard []byte
	// startEnd is the encoder's: write start and end records.
	startEnd bool
}

func (w *wireEncoder) request(b []byte) bool {
	for rest := b; len(rest) > 0; {
		fnum, ftyp, _, fdata, n := readField(rest)
		if n < 0 {
			return false
		}
		rest = rest[n:]
		known, ok := requestTypes.known(fnum, ftyp)
		if !ok {
			return false
		}
		if known && !w.resourceSpans(fdata) {
			return false
		}
	}
	return true
}

// resourceSpans encodes the spans of one ResourceSpans. The resource may
// come after the scopes on the wire, so it is found first.
func (w *wireEncoder) resourceSpans(b []byte) bool {
	resource, _, ok := scanResourceSpans(b)
	if !ok {
		return false
	}
	if !w.resource(resource) {
		return false
	}
	for rest := b; len(rest) > 0; {
		fnum, _, _, fdata, n := readField(rest)
		if n < 0 {
			return false
		}
		rest = rest[n:]
		if fnum == resourceSpansScopes && !w.scopeSpans(fdata) {
			return false
		}
	}
	return true
}

// resource encodes the resource's service name and attributes into
// sc.service and sc.resource.
func (w *wireEncoder) resource(b []byte) bool {
	sc := w.sc
	sc.service = sc.service[:0]
	sc.resource = append(resourceKey(sc.resource[:0]), '{')
	first, foundService := true, false
	for rest := b; len(rest) > 0; {
		fnum, ftyp, _, fdata, n := readField(rest)
		if n < 0 {
			return false
		}
		rest = rest[n:]
		known, ok := resourceTypes.known(fnum, ftyp)
		switch {
		case !ok:
			return false
		case !known:
		case fnum == resourceEntityRefs:
			return false
		case fnum == resourceAttributes:
			kv, ok := parseKeyValue(fdata)
			if !ok {
				return false
			}
			if !foundService && string(kv.key) == "service.name" {
				// pdata's Map.Get finds the first; AsString of a value
				// that is not a string is left to pdata.
				foundService = true
				if !kv.hasValue {
					return false
				}
				str, isStr, ok := stringValue(kv.value)
				if !ok || !isStr {
					return false
				}
				sc.service = serviceMember(sc.service, transient(str))
			}
			if !first {
				sc.resource = append(sc.resource, ',')
			}
			first = false
			if sc.resource, ok = appendKeyValue(sc.resource, &kv, 0, unlimited.maxValueBytes, dbgptValues); !ok {
				return false
			}
		}
	}
	sc.resource = append(sc.resource, '}')
	return true
}

func (w *wireEncoder) scopeSpans(b []byte) bool {
	scope, _, ok := scanScopeSpans(b)
	if !ok {
		return false
	}
	if !w.scope(scope) {
		return false
	}
	for rest := b; len(rest) > 0; {
		fnum, _, _, fdata, n := readField(rest)
		if n < 0 {
			return false
		}
		rest = rest[n:]
		if fnum == scopeSpansSpans && !w.span(fdata) {
			return false
		}
	}
	return true
}

// scope encodes the scope's name and version into sc.scope. Its
// attributes are not written but must decode.
func (w *wireEncoder) scope(b []byte) bool {
	var name, version []byte
	for rest := b; len(rest) > 0; {
		fnum, ftyp, _, fdata, n := readField(rest)
		if n < 0 {
			return false
		}
		rest = rest[n:]
		known, ok := scopeTypes.known(fnum, ftyp)
		switch {
		case !ok:
			return false
		case !known:
		case fnum == scopeName:
			name = fdata
		case fnum == scopeVersion:
			version = fdata
		case fnum == scopeAttributes:
			kv, ok := parseKeyValue(fdata)
			if !ok {
				return false
			}
			if w.discard, ok = appendKeyValue(w.discard[:0], &kv, 0, unlimited.maxValueBytes, dbgptValues); !ok {
				return false
			}
		}
	}
	w.sc.scope = scopeMember(w.sc.scope[:0], transient(name), transient(version))
	return true
}

// wireSpan holds the fields of a span found by a first pass over it; the
// repeated fields are encoded by later passes, in the order of the line.
type wireSpan struct {
	traceID, spanID, parentID []byte
	traceState, name          []byte
	kind                      uint64
	start, end                uint64
	status                    []byte
	hasStatus                 bool
	hasEvents, hasLinks       bool
	// attrs counts the attributes, encoded into wireEncoder.attrs.
	attrs int
	// spanType and dbgptSpanType are the values of the first attributes
	// with those keys.
	spanType, dbgptSpanType       []byte
	hasSpanType, hasDBGPTSpanType bool
}

func (w *wireEncoder) span(b []byte) bool {
	var s wireSpan
	w.attrs = w.attrs[:0]
	for rest := b; len(rest) > 0; {
		fnum, ftyp, fval, fdata, n := readField(rest)
		if n < 0 {
			return false
		}
		rest = rest[n:]
		// One switch on number and wire type together: a known field sent
		// with its own type has a case, anything else is the default.
		switch fieldTag(fnum, ftyp) {
		case spanDroppedAttrs<<3 | uint64(protowire.VarintType), spanDroppedEvents<<3 | uint64(protowire.VarintType),
			spanDroppedLinks<<3 | uint64(protowire.VarintType), spanFlags<<3 | uint64(protowire.Fixed32Type):
		default:
			if known, _ := spanTypes.known(fnum, ftyp); known {
				// Known, with the wrong wire type.
				return false
			}
		case spanTraceID<<3 | uint64(protowire.BytesType):
			if !spanid.WireLength(fdata, spanid.TraceIDSize) {
				return false
			}
			s.traceID = fdata
		case spanSpanID<<3 | uint64(protowire.BytesType):
			if !spanid.WireLength(fdata, spanid.SpanIDSize) {
				return false
			}
			s.spanID = fdata
		case spanParentSpanID<<3 | uint64(protowire.BytesType):
			if !spanid.WireLength(fdata, spanid.SpanIDSize) {
				return false
			}
			s.parentID = fdata
		case spanTraceState<<3 | uint64(protowire.BytesType):
			s.traceState = fdata
		case spanName<<3 | uint64(protowire.BytesType):
			s.name = fdata
		case spanKind<<3 | uint64(protowire.VarintType):
			s.kind = fval
		case spanStart<<3 | uint64(protowire.Fixed64Type):
			s.start = fval
		case spanEnd<<3 | uint64(protowire.Fixed64Type):
			s.end = fval
		case spanAttributes<<3 | uint64(protowire.BytesType):
			kv, ok := parseKeyValue(fdata)
			if !ok || !s.noteSpanType(&kv) {
				return false
			}
			if s.attrs > 0 {
				w.attrs = append(w.attrs, ',')
			}
			s.attrs++
			if s.attrs > w.lim.maxCount {
				return false
			}
			if w.attrs, ok = appendKeyValue(w.attrs, &kv, 0, w.lim.maxValueBytes, dbgptValues); !ok {
				return false
			}
		case spanEvents<<3 | uint64(protowire.BytesType):
			s.hasEvents = true
		case spanLinks<<3 | uint64(protowire.BytesType):
			s.hasLinks = true
		case spanStatus<<3 | uint64(protowire.BytesType):
			if s.hasStatus {
				return false
			}
			s.hasStatus, s.status = true, fdata
		}
	}
	// Ingest drops spans without both ids, so they take the pdata path.
	if !spanid.Present(s.traceID, spanid.TraceIDSize) || !spanid.Present(s.spanID, spanid.SpanIDSize) {
		return false
	}
	var ok bool
	var marks endOnly
	if w.sc.buf, ok = w.appendSpan(w.sc.buf, b, &s, &marks); !ok {
		return false
	}
	w.sc.buf = w.sc.endLine(w.sc.buf, &marks, w.startEnd)
	return true
}

// noteSpanType remembers the first span_type and dbgpt.span_type
// attributes, as pdata's Map.Get finds them.
func (s *wireSpan) noteSpanType(kv *keyValue) bool {
	switch {
	case !s.hasSpanType && string(kv.key) == "span_type":
		s.hasSpanType, s.spanType = true, kv.value
	case !s.hasDBGPTSpanType && string(kv.key) == "dbgpt.span_type":
		s.hasDBGPTSpanType, s.dbgptSpanType = true, kv.value
	default:
		return true
	}
	// A value the line would not take is refused later, when the
	// attributes are encoded; here only its string form matters.
	if _, _, ok := stringValue(kv.value); !ok {
		return false
	}
	return true
}

// baseSpanType is the span type of spans that name none.
var baseSpanType = []byte("base")

// spanTypeOf is SpanType for the wire form.
func (s *wireSpan) spanTypeOf() []byte {
	for _, v := range [...][]byte{s.spanType, s.dbgptSpanType} {
		if str, isStr, _ := stringValue(v); isStr && len(str) > 0 {
			return str
		}
	}
	return baseSpanType
}

// appendSpan appends the span's finished line, noting in m where its
// end-only parts are, as appendOTLPSpan does.
func (w *wireEncoder) appendSpan(b, span []byte, s *wireSpan, m *endOnly) ([]byte, bool) {
	m.line = len(b)
	l := beginLine(b, transient(s.spanTypeOf())).
		traceID(s.traceID).
		spanID(s.spanID).
		parentSpanID(s.parentID).
		operationName(transient(s.name)).
		startTime(s.start, &w.times).
		endTime(s.start, s.end, &w.times, m).
		metadataKey().
		beginOTLPMetadata(w.sc.service).
		attributesKey()
	l = append(l, '{')
	l = append(l, w.attrs...)
	l = append(l, '}')
	// pdata keeps the kind and code as int32 enums.
	l = l.members(w.sc.resource).members(w.sc.scope).spanKind(int32(s.kind))
	var msg []byte
	var code uint64
	var ok bool
	if s.hasStatus {
		if msg, code, ok = parseStatus(s.status); !ok {
			return l, false
		}
	}
	l = l.status(int32(code), transient(msg), m).traceState(transient(s.traceState))
	if s.hasEvents {
		l = l.beginEvents(m)
		if l, ok = appendRepeated(l, span, spanEvents, w.lim, appendEvent); !ok {
			return l, false
		}
		l = l.endEvents(m)
	} else {
		l = l.noEvents(m)
	}
	if s.hasLinks {
		l = l.beginLinks()
		if l, ok = appendRepeated(l, span, spanLinks, w.lim, appendLink); !ok {
			return l, false
		}
		l = l.endLinks()
	}
	return l.endOTLPMetadata(s.start, s.end, m).endLine(), true
}

// appendRepeated appends each field num of msg with appendOne, separated
// by commas. msg has been checked by a first pass.
func appendRepeated(b, msg []byte, num protowire.Number, lim wireLimits, appendOne func([]byte, []byte, wireLimits) ([]byte, bool)) ([]byte, bool) {
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
		if !first {
			b = append(b, ',')
		}
		first = false
		if b, ok = appendOne(b, fdata, lim); !ok {
			return b, false
		}
	}
	return b, true
}

func parseStatus(b []byte) (msg []byte, code uint64, ok bool) {
	for rest := b; len(rest) > 0; {
		fnum, ftyp, fval, fdata, n := readField(rest)
		if n < 0 {
			return nil, 0, false
		}
		rest = rest[n:]
		known, ok := statusTypes.known(fnum, ftyp)
		switch {
		case !ok:
			return nil, 0, false
		case !known:
		case fnum == statusMessage:
			msg = fdata
		case fnum == statusCode:
			code = fval
		}
	}
	return msg, code, true
}

func appendEvent(b, event []byte, lim wireLimits) ([]byte, bool) {
	ev, ok := scanEvent(event)
	if !ok {
		return b, false
	}
	l := dbgptLine(b).beginEvent(transient(ev.name), ev.time)
	l, ok = appendAttributes(l, event, eventAttributes, 0, lim, dbgptValues)
	return l.endObject(), ok
}

func appendLink(b, link []byte, lim wireLimits) ([]byte, bool) {
	l, ok := scanLink(link)
	if !ok {
		return b, false
	}
	var zeros [spanid.TraceIDSize]byte
	if len(l.traceID) == 0 {
		l.traceID = zeros[:spanid.TraceIDSize]
	}
	if len(l.spanID) == 0 {
		l.spanID = zeros[:spanid.SpanIDSize]
	}
	line := dbgptLine(b).beginLink(l.traceID, l.spanID, transient(l.traceState))
	line, ok = appendAttributes(line, link, linkAttributes, 0, lim, dbgptValues)
	return line.endObject(), ok
}

// The first passes over the messages both wire paths read alike: each
// checks the wire types of the message's known fields (pdata refuses a
// known field of another type; unknown fields are skipped, as pdata skips
// them) and returns the fields found, or ok false for what takes the
// pdata path.

// scanResourceSpans finds a ResourceSpans' resource and schema URL.
func scanResourceSpans(b []byte) (resource, schemaURL []byte, ok bool) {
	seenResource := false
	for rest := b; len(rest) > 0; {
		fnum, ftyp, _, fdata, n := readField(rest)
		if n < 0 {
			return nil, nil, false
		}
		rest = rest[n:]
		if fnum == resourceSpansDeprecatedScopes {
			return nil, nil, false
		}
		known, ok := resourceSpansTypes.known(fnum, ftyp)
		switch {
		case !ok:
			return nil, nil, false
		case !known:
		case fnum == resourceSpansResource:
			// pdata merges repeated messages field by field; leave that
			// to it.
			if seenResource {
				return nil, nil, false
			}
			seenResource, resource = true, fdata
		case fnum == resourceSpansSchemaURL:
			schemaURL = fdata
		}
	}
	return resource, schemaURL, true
}

// scanScopeSpans finds a ScopeSpans' scope and schema URL.
func scanScopeSpans(b []byte) (scope, schemaURL []byte, ok bool) {
	seenScope := false
	for rest := b; len(rest) > 0; {
		fnum, ftyp, _, fdata, n := readField(rest)
		if n < 0 {
			return nil, nil, false
		}
		rest = rest[n:]
		known, ok := scopeSpansTypes.known(fnum, ftyp)
		switch {
		case !ok:
			return nil, nil, false
		case !known:
		case fnum == scopeSpansScope:
			if seenScope {
				return nil, nil, false
			}
			seenScope, scope = true, fdata
		case fnum == scopeSpansSchemaURL:
			schemaURL = fdata
		}
	}
	return scope, schemaURL, true
}

// wireEvent holds the scalar fields of a Span.Event.
type wireEvent struct {
	name          []byte
	time, dropped uint64
}

func scanEvent(b []byte) (ev wireEvent, ok bool) {
	for rest := b; len(rest) > 0; {
		fnum, ftyp, fval, fdata, n := readField(rest)
		if n < 0 {
			return ev, false
		}
		rest = rest[n:]
		known, ok := eventTypes.known(fnum, ftyp)
		switch {
		case !ok:
			return ev, false
		case !known:
		case fnum == eventTime:
			ev.time = fval
		case fnum == eventName:
			ev.name = fdata
		case fnum == eventDropped:
			ev.dropped = fval
		}
	}
	return ev, true
}

// wireLink holds the scalar fields of a Span.Link; an id of the wrong
// length takes the pdata path.
type wireLink struct {
	traceID, spanID, traceState []byte
	flags, dropped              uint64
}

func scanLink(b []byte) (l wireLink, ok bool) {
	for rest := b; len(rest) > 0; {
		fnum, ftyp, fval, fdata, n := readField(rest)
		if n < 0 {
			return l, false
		}
		rest = rest[n:]
		known, ok := linkTypes.known(fnum, ftyp)
		switch {
		case !ok:
			return l, false
		case !known:
		case fnum == linkTraceID:
			if !spanid.WireLength(fdata, spanid.TraceIDSize) {
				return l, false
			}
			l.traceID = fdata
		case fnum == linkSpanID:
			if !spanid.WireLength(fdata, spanid.SpanIDSize) {
				return l, false
			}
			l.spanID = fdata
		case fnum == linkTraceState:
			l.traceState = fdata
		case fnum == linkDropped:
			l.dropped = fval
		case fnum == linkFlags:
			l.flags = fval
		}
	}
	return l, true
}

// appendBytesString is appendString for bytes that are not kept: the
// string shares their memory only for the call.
func appendBytesString(b, s []byte) []byte {
	if len(s) == 0 {
		return append(b, `""`...)
	}
	return appendString(b, unsafe.String(&s[0], len(s)))
}
