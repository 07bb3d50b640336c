package replay

import (
	"fmt"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spansink/spansink/sink/format"
	"github.com/spansink/spansink/sink/reader"
)

// outgoing is one span to send, with the resource and scope it goes under
// and the key of that pair, so that spans under the same pair share one
// ResourceSpans and ScopeSpans of the request.
type outgoing struct {
	group    groupKey
	resource ptrace.ResourceSpans // its resource and schema URL
	scope    ptrace.ScopeSpans    // its scope and schema URL
	span     ptrace.Span
}

// groupKey tells resource and scope pairs apart. Spans of an otlp-json
// line are under their line's ResourceSpans and ScopeSpans, whose identity
// (a pointer into the decoded line) is the key, with the service given to
// a DB-GPT record that named none on its resource; a span converted from a
// dbgpt line has a resource and scope of its own, keyed by their content.
type groupKey struct {
	line    ptrace.ScopeSpans
	service string
	content string
}

// toOutgoing turns a scanned span back into an OTLP span. An otlp-json
// span is sent as it is; a dbgpt record is converted back
// (format.DBGPTToOTLP), a DB-GPT start and end record already joined into
// one by the reader's Pairer.
func toOutgoing(s *reader.Span) (outgoing, error) {
	if s.OTLP != nil {
		return otlpOutgoing(s.OTLP), nil
	}
	record := format.DBGPTSpan{
		SpanType:      s.SpanType,
		TraceID:       s.TraceID,
		SpanID:        s.SpanID,
		OperationName: s.Operation,
		Metadata:      s.Metadata,
	}
	if s.ParentSpanID != "" {
		record.ParentSpanID = &s.ParentSpanID
	}
	if !s.Start.IsZero() {
		start := format.FormatDBGPTTime(s.Start)
		record.StartTime = &start
	}
	if !s.End.IsZero() {
		end := format.FormatDBGPTTime(s.End)
		record.EndTime = &end
	}
	td, err := format.DBGPTToOTLP(&record)
	if err != nil {
		return outgoing{}, err
	}
	rs := td.ResourceSpans().At(0)
	ss := rs.ScopeSpans().At(0)
	return outgoing{
		group:    groupKey{content: contentKey(rs, ss)},
		resource: rs,
		scope:    ss,
		span:     ss.Spans().At(0),
	}, nil
}

// otlpOutgoing sends a span of an otlp-json line under its own resource and
// scope. A DB-GPT record that the collector stored as otlp-json has its
// service as an attribute only; like a DB-GPT record read from a dbgpt
// line, it is given a resource that names the service
// (format.DBGPTServiceName), so that backends file it under one.
func otlpOutgoing(o *reader.OTLPSpan) outgoing {
	out := outgoing{group: groupKey{line: o.Scope}, resource: o.Resource, scope: o.Scope, span: o.Span}
	if o.Scope.Scope().Name() != format.DBGPTScopeName {
		return out
	}
	if _, ok := o.Resource.Resource().Attributes().Get("service.name"); ok {
		return out
	}
	service := format.DBGPTServiceName(o.Span.Attributes())
	rs := ptrace.NewResourceSpans()
	o.Resource.Resource().CopyTo(rs.Resource())
	rs.SetSchemaUrl(o.Resource.SchemaUrl())
	rs.Resource().Attributes().PutStr("service.name", service)
	out.resource, out.group.service = rs, service
	return out
}

// contentKey identifies a resource and scope by what they hold. Values
// carry their type, so that 1 and "1" differ.
func contentKey(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans) string {
	var b strings.Builder
	appendKeyString(&b, rs.SchemaUrl())
	appendKeyMap(&b, rs.Resource().Attributes())
	appendKeyString(&b, ss.SchemaUrl())
	appendKeyString(&b, ss.Scope().Name())
	appendKeyString(&b, ss.Scope().Version())
	appendKeyMap(&b, ss.Scope().Attributes())
	return b.String()
}

func appendKeyMap(b *strings.Builder, m pcommon.Map) {
	b.WriteString(strconv.Itoa(m.Len()))
	b.WriteByte('{')
	for k, v := range m.All() {
		appendKeyString(b, k)
		b.WriteString(v.Type().String())
		appendKeyString(b, v.AsString())
	}
	b.WriteByte('}')
}

// appendKeyString writes s with its length, so that no two sequences of
// strings run together into the same key.
func appendKeyString(b *strings.Builder, s string) {
	fmt.Fprintf(b, "%d:%s", len(s), s)
}
