package format

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spansink/spansink/sink/spanid"
)

// This file is the reverse of the dbgpt format: it turns a dbgpt line's
// record back into an OTLP span, for `spansink spans replay`. There are two
// kinds of record, told apart by their metadata:
//
//   - A line the collector wrote for a span it received over OTLP (see
//     appendOTLPSpan) keeps the span in its metadata, in the OTLP layout:
//     attributes, resource, scope, span_kind, status, trace_state, events,
//     links and the exact start_time_unix_nano/end_time_unix_nano. That
//     span is rebuilt as it was, with its resource and scope. What the
//     layout does not keep cannot come back: dropped attribute, event and
//     link counts, span and link flags, schema URLs; and JSON has fewer
//     types than OTLP, so a double with an integral value (2.0, written 2)
//     comes back as an int, bytes (written as base64) as a string, and NaN
//     and the infinities (written "NaN", "Infinity", "-Infinity") as strings.
//   - Any other record, such as one DB-GPT's tracer wrote, becomes the span
//     that the otlp-json format stores for it (convertDBGPT): the ids' hex,
//     the metadata's top-level keys as attributes, span_type as
//     dbgpt.span_type, a start record as a span that ends when it starts
//     marked dbgpt.record = "start", an "error" as an error status, under
//     the scope spansink/dbgpt. Its resource's service.name is the
//     metadata's service.name, else "dbgpt" (DBGPTServiceName), so that a
//     trace backend files the span under a service.

// DefaultDBGPTService is the service.name of a DB-GPT span whose metadata
// names none: DB-GPT's tracer writes one file per service and no service
// name into the records.
const DefaultDBGPTService = "dbgpt"

// DBGPTServiceName is the service a converted DB-GPT span belongs to: its
// string attribute service.name (from the record's metadata), else
// DefaultDBGPTService.
func DBGPTServiceName(attrs pcommon.Map) string {
	if v, ok := attrs.Get("service.name"); ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
		return v.Str()
	}
	return DefaultDBGPTService
}

// DBGPTToOTLP converts one record of a dbgpt line into an OTLP span, the
// reverse of the dbgpt format's encoding (see the comment at the top of
// this file). The span comes in a Traces of its own, with its resource and
// scope. A record whose ids are not hex, or which has no time at all,
// cannot be an OTLP span, and the error says why.
func DBGPTToOTLP(s *DBGPTSpan) (ptrace.Traces, error) {
	var parser fastjson.Parser
	meta, err := parseMetadata(&parser, s.Metadata)
	if err != nil {
		return ptrace.Traces{}, err
	}
	if IsOTLPMetadata(meta) {
		return otlpLayoutToOTLP(s, meta)
	}
	return nativeDBGPTToOTLP(s)
}

// parseMetadata parses a record's metadata; nil for none.
func parseMetadata(parser *fastjson.Parser, raw []byte) (*fastjson.Value, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	v, err := parser.ParseBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	switch v.Type() {
	case fastjson.TypeNull:
		return nil, nil
	case fastjson.TypeObject:
		return v, nil
	}
	return nil, fmt.Errorf("metadata is %s, want an object or null", v.Type())
}

// IsOTLPMetadata tells metadata in the OTLP layout, which the collector
// writes for a span received over OTLP, by the members it always writes.
func IsOTLPMetadata(meta *fastjson.Value) bool {
	if meta == nil || meta.Type() != fastjson.TypeObject {
		return false
	}
	want := map[string]fastjson.Type{
		"attributes":           fastjson.TypeObject,
		"resource":             fastjson.TypeObject,
		"span_kind":            fastjson.TypeString,
		"status":               fastjson.TypeObject,
		"start_time_unix_nano": fastjson.TypeNumber,
		"end_time_unix_nano":   fastjson.TypeNumber,
	}
	for key, typ := range want {
		if v := meta.Get(key); v == nil || v.Type() != typ {
			return false
		}
	}
	return true
}

// nativeDBGPTToOTLP converts a record without OTLP metadata as the
// otlp-json format does, and files it under its service.
func nativeDBGPTToOTLP(s *DBGPTSpan) (ptrace.Traces, error) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName(DBGPTScopeName)
	if err := convertDBGPT(s, ss.Spans()); err != nil {
		return ptrace.Traces{}, err
	}
	rs.Resource().Attributes().PutStr("service.name", DBGPTServiceName(ss.Spans().At(0).Attributes()))
	return td, nil
}

// otlpLayoutToOTLP rebuilds the span that the collector stored as a dbgpt
// line with metadata in the OTLP layout.
func otlpLayoutToOTLP(s *DBGPTSpan, meta *fastjson.Value) (ptrace.Traces, error) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	ss := rs.ScopeSpans().AppendEmpty()
	span := ss.Spans().AppendEmpty()
	var errs []error
	fail := func(what string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	var traceID pcommon.TraceID
	fail("trace_id", decodeLayoutID(traceID[:], s.TraceID))
	span.SetTraceID(traceID)
	var spanID pcommon.SpanID
	fail("span_id", decodeLayoutID(spanID[:], s.SpanID))
	span.SetSpanID(spanID)
	if s.ParentSpanID != nil {
		var parent pcommon.SpanID
		fail("parent_span_id", decodeLayoutID(parent[:], *s.ParentSpanID))
		span.SetParentSpanID(parent)
	}
	span.SetName(s.OperationName)
	start, err := unixNanoMember(meta, "start_time_unix_nano")
	fail("metadata.start_time_unix_nano", err)
	span.SetStartTimestamp(start)
	end, err := unixNanoMember(meta, "end_time_unix_nano")
	fail("metadata.end_time_unix_nano", err)
	span.SetEndTimestamp(end)
	fail("metadata.attributes", putObject(span.Attributes(), meta.Get("attributes")))
	fail("metadata.resource", putObject(rs.Resource().Attributes(), meta.Get("resource")))
	if scope := meta.Get("scope"); scope != nil {
		ss.Scope().SetName(string(scope.GetStringBytes("name")))
		ss.Scope().SetVersion(string(scope.GetStringBytes("version")))
	}
	span.SetKind(spanKindOf(string(meta.GetStringBytes("span_kind"))))
	status := meta.Get("status")
	span.Status().SetCode(statusCodeOf(string(status.GetStringBytes("code"))))
	span.Status().SetMessage(string(status.GetStringBytes("message")))
	span.TraceState().FromRaw(string(meta.GetStringBytes("trace_state")))
	fail("metadata.events", putEvents(span.Events(), meta.Get("events")))
	fail("metadata.links", putLinks(span.Links(), meta.Get("links")))
	if len(errs) > 0 {
		return ptrace.Traces{}, fmt.Errorf("cannot convert to an OTLP span: %w", errors.Join(errs...))
	}
	return td, nil
}

// decodeLayoutID reads an id the dbgpt encoder wrote: lowercase hex of the
// id's length. It is deliberately more lenient than ingest and takes all
// zeros: the encoder writes them for a link's empty id (OTLP allows one on
// the wire), and replay takes a stored line as it is rather than judging
// its ids again.
func decodeLayoutID(dst []byte, h string) error {
	if len(h) != 2*len(dst) {
		return fmt.Errorf("want %d hex digits, got %q", 2*len(dst), h)
	}
	if err := spanid.DecodeHex(dst, h); err != nil {
		return fmt.Errorf("want %d hex digits, got %q: %w", 2*len(dst), h, err)
	}
	return nil
}

// unixNanoMember reads an unsigned nanosecond timestamp member.
func unixNanoMember(obj *fastjson.Value, key string) (pcommon.Timestamp, error) {
	v := obj.Get(key)
	if v == nil {
		return 0, nil
	}
	n, err := v.Uint64()
	if err != nil {
		return 0, fmt.Errorf("want unsigned nanoseconds, got %s", v)
	}
	return pcommon.Timestamp(n), nil
}

// spanKindOf reads span_kind as appendOTLPMetadata writes it; an unknown
// name is "unspecified", as the encoder writes an unknown kind.
func spanKindOf(name string) ptrace.SpanKind {
	for kind, n := range spanKindNames {
		if n == name {
			return ptrace.SpanKind(kind)
		}
	}
	return ptrace.SpanKindUnspecified
}

// statusCodeOf reads status.code as appendOTLPMetadata writes it.
func statusCodeOf(name string) ptrace.StatusCode {
	for code, n := range statusCodeNames {
		if n == name {
			return ptrace.StatusCode(code)
		}
	}
	return ptrace.StatusCodeUnset
}

// putEvents reads the events array.
func putEvents(dst ptrace.SpanEventSlice, v *fastjson.Value) error {
	if v == nil {
		return nil
	}
	items, err := v.Array()
	if err != nil {
		return err
	}
	dst.EnsureCapacity(len(items))
	for i, item := range items {
		ev := dst.AppendEmpty()
		ev.SetName(string(item.GetStringBytes("name")))
		ts, err := unixNanoMember(item, "time_unix_nano")
		if err != nil {
			return fmt.Errorf("%d: time_unix_nano: %w", i, err)
		}
		ev.SetTimestamp(ts)
		if err := putObject(ev.Attributes(), item.Get("attributes")); err != nil {
			return fmt.Errorf("%d: attributes: %w", i, err)
		}
	}
	return nil
}

// putLinks reads the links array.
func putLinks(dst ptrace.SpanLinkSlice, v *fastjson.Value) error {
	if v == nil {
		return nil
	}
	items, err := v.Array()
	if err != nil {
		return err
	}
	dst.EnsureCapacity(len(items))
	for i, item := range items {
		link := dst.AppendEmpty()
		var traceID pcommon.TraceID
		if err := decodeLayoutID(traceID[:], string(item.GetStringBytes("trace_id"))); err != nil {
			return fmt.Errorf("%d: trace_id: %w", i, err)
		}
		link.SetTraceID(traceID)
		var spanID pcommon.SpanID
		if err := decodeLayoutID(spanID[:], string(item.GetStringBytes("span_id"))); err != nil {
			return fmt.Errorf("%d: span_id: %w", i, err)
		}
		link.SetSpanID(spanID)
		link.TraceState().FromRaw(string(item.GetStringBytes("trace_state")))
		if err := putObject(link.Attributes(), item.Get("attributes")); err != nil {
			return fmt.Errorf("%d: attributes: %w", i, err)
		}
	}
	return nil
}

// putObject copies a JSON object's members into m, in their order; an
// absent or null object leaves m empty.
func putObject(m pcommon.Map, v *fastjson.Value) error {
	if v == nil || v.Type() == fastjson.TypeNull {
		return nil
	}
	obj, err := v.Object()
	if err != nil {
		return err
	}
	m.EnsureCapacity(obj.Len())
	var firstErr error
	obj.Visit(func(key []byte, value *fastjson.Value) {
		if firstErr == nil {
			firstErr = putJSONValue(m.PutEmpty(string(key)), value)
		}
	})
	return firstErr
}

// putJSONValue sets dst from a JSON value as appendValue wrote it: an
// integer that fits int64 as an int, any other number as a double.
func putJSONValue(dst pcommon.Value, v *fastjson.Value) error {
	switch v.Type() {
	case fastjson.TypeString:
		dst.SetStr(string(v.GetStringBytes()))
	case fastjson.TypeTrue:
		dst.SetBool(true)
	case fastjson.TypeFalse:
		dst.SetBool(false)
	case fastjson.TypeNull:
		// Stays empty.
	case fastjson.TypeNumber:
		text := string(v.MarshalTo(nil))
		if !strings.ContainsAny(text, ".eE") {
			if i, err := strconv.ParseInt(text, 10, 64); err == nil {
				dst.SetInt(i)
				return nil
			}
		}
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return fmt.Errorf("number %s: %w", text, err)
		}
		dst.SetDouble(f)
	case fastjson.TypeArray:
		items, _ := v.Array()
		s := dst.SetEmptySlice()
		s.EnsureCapacity(len(items))
		for _, item := range items {
			if err := putJSONValue(s.AppendEmpty(), item); err != nil {
				return err
			}
		}
	case fastjson.TypeObject:
		return putObject(dst.SetEmptyMap(), v)
	}
	return nil
}

// DBGPTSpanTimeLayout writes a span time for a DBGPTSpan with every digit
// of the nanoseconds, which ParseDBGPTTime reads back exactly.
const DBGPTSpanTimeLayout = "2006-01-02 15:04:05.000000000"

// FormatDBGPTTime writes t (in UTC) for a DBGPTSpan's StartTime or EndTime
// without losing precision.
func FormatDBGPTTime(t time.Time) string { return t.UTC().Format(DBGPTSpanTimeLayout) }
