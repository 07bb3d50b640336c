package reader

import (
	"github.com/valyala/fastjson"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spansink/spansink/sink/format"
)

// DefaultMaxPending bounds the DB-GPT start records held while waiting for
// their end records. Spans open at the same moment are few (one per running
// request and nesting level), so the bound is only reached by files full of
// start records whose ends were lost; then the oldest is passed on alone.
const DefaultMaxPending = 100000

// Pairer joins DB-GPT start and end records into one span as the records
// stream past. A start record (no end time) is held until the end record with
// the same trace and span id arrives; the joined span is emitted then, so
// spans come out in the order they ended. Records that are already whole
// (OTLP spans, DB-GPT end records without a seen start) pass straight on.
// Start records never matched are emitted by Flush, with no end time.
type Pairer struct {
	filter        *Filter
	mergeMetadata bool
	emit          func(*Span) error
	// MaxPending bounds the start records held; 0 means DefaultMaxPending.
	MaxPending int
	// RememberEnded is how many of the latest spans passed on without a
	// start record have their ids kept (0: none), so that a start record
	// arriving after its span was passed on is dropped instead of held and
	// emitted a second time, without an end. In one writer's files a start
	// record comes first; records merged from several shards are only
	// about in time order, and the end record, in one shard, may come
	// before the start record, in another.
	RememberEnded int

	pending map[pairKey]*pendingStart
	queue   []*pendingStart
	head    int
	ended   recentKeys
	parser  fastjson.Parser
	arena   fastjson.Arena
}

// pairKey identifies a span across its records.
type pairKey struct{ trace, span string }

// pendingStart is a held start record; done marks one already paired or
// emitted, left in the queue until it reaches the head.
type pendingStart struct {
	span Span
	done bool
}

// NewPairer returns a Pairer that passes spans that pass filter.Match to emit.
// mergeMetadata joins the metadata of start and end records; without it the
// metadata is not looked at.
func NewPairer(filter *Filter, mergeMetadata bool, emit func(*Span) error) *Pairer {
	return &Pairer{filter: filter, mergeMetadata: mergeMetadata, emit: emit, pending: map[pairKey]*pendingStart{}}
}

// Add takes the next record.
func (p *Pairer) Add(s *Span) error {
	key := pairKey{trace: s.TraceID, span: s.SpanID}
	if s.isStartRecord() {
		if p.ended.has(key) {
			return nil // its end record came first, and was the span
		}
		if old, ok := p.pending[key]; ok {
			// A second start for the same span: the first never ended.
			old.done = true
			delete(p.pending, key)
			if err := p.pass(&old.span); err != nil {
				return err
			}
		}
		entry := &pendingStart{span: *s}
		p.pending[key] = entry
		p.queue = append(p.queue, entry)
		return p.evict()
	}
	if start, ok := p.pending[key]; ok {
		start.done = true
		delete(p.pending, key)
		merged := p.merge(&start.span, s)
		p.compact()
		return p.pass(&merged)
	}
	p.ended.add(key, p.RememberEnded)
	return p.pass(s)
}

// Flush emits the start records that never met their end, oldest first.
func (p *Pairer) Flush() error {
	for ; p.head < len(p.queue); p.head++ {
		entry := p.queue[p.head]
		if entry.done {
			continue
		}
		entry.done = true
		delete(p.pending, pairKey{trace: entry.span.TraceID, span: entry.span.SpanID})
		if err := p.pass(&entry.span); err != nil {
			p.head++
			return err
		}
	}
	p.queue, p.head = p.queue[:0], 0
	return nil
}

// evict emits the oldest held start records beyond the bound.
func (p *Pairer) evict() error {
	limit := p.MaxPending
	if limit <= 0 {
		limit = DefaultMaxPending
	}
	for len(p.pending) > limit && p.head < len(p.queue) {
		entry := p.queue[p.head]
		p.queue[p.head] = nil
		p.head++
		if entry.done {
			continue
		}
		entry.done = true
		delete(p.pending, pairKey{trace: entry.span.TraceID, span: entry.span.SpanID})
		if err := p.pass(&entry.span); err != nil {
			return err
		}
	}
	p.compact()
	return nil
}

// compact drops paired entries from the head of the queue and reuses its
// space once most of it is dead.
func (p *Pairer) compact() {
	for p.head < len(p.queue) && p.queue[p.head].done {
		p.queue[p.head] = nil
		p.head++
	}
	if p.head == len(p.queue) {
		p.queue, p.head = p.queue[:0], 0
		return
	}
	if p.head > 1024 && p.head > len(p.queue)/2 {
		n := copy(p.queue, p.queue[p.head:])
		clear(p.queue[n:])
		p.queue, p.head = p.queue[:n], 0
	}
}

// pass applies the span-level filter.
func (p *Pairer) pass(s *Span) error {
	if !p.filter.Match(s) {
		return nil
	}
	return p.emit(s)
}

// merge joins a start record and its end record. The end record is DB-GPT's
// whole span at its end, so it wins; the start record fills what the end
// left out, including metadata keys the end's metadata replaced.
func (p *Pairer) merge(start, end *Span) Span {
	merged := *end
	if merged.Start.IsZero() {
		merged.Start = start.Start
	}
	if merged.SpanType == "" {
		merged.SpanType = start.SpanType
	}
	if merged.Operation == "" {
		merged.Operation = start.Operation
	}
	if merged.ParentSpanID == "" {
		merged.ParentSpanID = start.ParentSpanID
	}
	if merged.Service == "" {
		merged.Service = start.Service
	}
	if merged.Status == StatusUnset || merged.Status == "" {
		merged.Status = start.Status
	}
	if p.mergeMetadata {
		merged.Metadata = p.mergeObjects(start.Metadata, end.Metadata)
	}
	if start.OTLP != nil && end.OTLP != nil {
		merged.OTLP = mergeOTLPRecords(start.OTLP, end.OTLP)
	}
	return merged
}

// mergeOTLPRecords joins a DB-GPT start and end record stored as otlp-json
// spans as mergeObjects joins their metadata: the end record's span, with
// the attributes of both in the start's order, the end's values winning,
// then the end's own, without the mark of a start record. The joined span
// is a copy; the resource and scope stay the end record's, so it is still
// sent under them.
func mergeOTLPRecords(start, end *OTLPSpan) *OTLPSpan {
	span := ptrace.NewSpan()
	end.Span.CopyTo(span)
	merged := span.Attributes()
	merged.Clear()
	endAttrs := end.Span.Attributes()
	for key, value := range start.Span.Attributes().All() {
		if key == format.DBGPTRecordAttribute {
			continue
		}
		if endValue, ok := endAttrs.Get(key); ok {
			value = endValue
		}
		value.CopyTo(merged.PutEmpty(key))
	}
	for key, value := range endAttrs.All() {
		if _, ok := merged.Get(key); !ok {
			value.CopyTo(merged.PutEmpty(key))
		}
	}
	return &OTLPSpan{Resource: end.Resource, Scope: end.Scope, Span: span}
}

// mergeObjects overlays the end record's metadata keys on the start's.
func (p *Pairer) mergeObjects(start, end []byte) []byte {
	if len(start) == 0 {
		return end
	}
	if len(end) == 0 {
		return start
	}
	startValue, err := p.parser.ParseBytes(start)
	if err != nil || startValue.Type() != fastjson.TypeObject {
		return end
	}
	var endParser fastjson.Parser
	endValue, err := endParser.ParseBytes(end)
	if err != nil || endValue.Type() != fastjson.TypeObject {
		return end
	}
	startAttrs, endAttrs := dbgptAttributes(startValue), dbgptAttributes(endValue)
	if startAttrs == nil && coversKeys(endValue.GetObject(), startValue.GetObject()) {
		// The overlay would take every value from the end record and only
		// reorder its keys. The end record is the span as it ended, so it
		// is kept in its own order: a collector's startEnd pair of an OTLP
		// span (whose start record is its end record less the end-only
		// members) then reads back exactly as the finished line does.
		return end
	}
	endValue.GetObject().Visit(func(key []byte, value *fastjson.Value) {
		startValue.Set(string(key), value)
	})
	if startAttrs != nil && endAttrs != nil {
		// DB-GPT records stored as otlp-json keep DB-GPT's metadata one
		// level down, as attributes: join those as a dbgpt line's are.
		endAttrs.GetObject().Visit(func(key []byte, value *fastjson.Value) {
			startAttrs.Set(string(key), value)
		})
		startAttrs.Del(format.DBGPTRecordAttribute)
		startValue.Set("attributes", startAttrs)
	}
	return appendJSONValue(nil, startValue)
}

// coversKeys reports whether every key of inner is a key of outer.
func coversKeys(outer, inner *fastjson.Object) bool {
	covered := true
	inner.Visit(func(key []byte, _ *fastjson.Value) {
		if covered && outer.Get(string(key)) == nil {
			covered = false
		}
	})
	return covered
}

// dbgptAttributes is the attributes object of metadata in the OTLP layout
// of a span converted from a DB-GPT record (scope spansink/dbgpt), nil for
// any other metadata.
func dbgptAttributes(meta *fastjson.Value) *fastjson.Value {
	if string(meta.GetStringBytes("scope", "name")) != format.DBGPTScopeName {
		return nil
	}
	attrs := meta.Get("attributes")
	if attrs == nil || attrs.Type() != fastjson.TypeObject {
		return nil
	}
	return attrs
}

// recentKeys keeps the latest keys added, up to a limit, in a ring: a
// bounded memory of which spans were passed on.
type recentKeys struct {
	ring  []pairKey
	next  int
	count map[pairKey]int // how often each key is in the ring
}

// add keeps key, forgetting the oldest beyond limit; limit 0 keeps nothing.
func (r *recentKeys) add(key pairKey, limit int) {
	if limit <= 0 {
		return
	}
	if r.count == nil {
		r.count = map[pairKey]int{}
	}
	if len(r.ring) < limit {
		r.ring = append(r.ring, key)
	} else {
		r.forget(r.ring[r.next])
		r.ring[r.next] = key
		r.next = (r.next + 1) % len(r.ring)
	}
	r.count[key]++
}

func (r *recentKeys) forget(key pairKey) {
	if r.count[key]--; r.count[key] <= 0 {
		delete(r.count, key)
	}
}

func (r *recentKeys) has(key pairKey) bool { return r.count[key] > 0 }
