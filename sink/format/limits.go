package format

import (
	"fmt"
	"math"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spansink/spansink/sink/config"
)

// AttributeLimits are the OpenTelemetry specification's attribute limits,
// applied to the attributes of spans, events and links (resource and scope
// attributes are exempt, as the specification allows).
type AttributeLimits struct {
	// MaxCount is the most attributes kept per span, event and link; the
	// rest are dropped and added to dropped_attributes_count. Zero keeps
	// them all.
	MaxCount int
	// MaxValueBytes truncates longer string and bytes values, also inside
	// arrays and key-value lists; strings are cut at a UTF-8 character
	// boundary. Zero keeps values whole.
	MaxValueBytes int
}

// LimitCounts says what AttributeLimits.Apply changed.
type LimitCounts struct {
	// Dropped counts the attributes dropped beyond MaxCount.
	Dropped int
	// Truncated counts the values cut to MaxValueBytes.
	Truncated int
}

// Apply enforces the limits on every span of td, in place. It is the one
// place the pdata path applies them, before either format encodes the
// spans; the wire path declines requests that exceed them, so both paths
// store the same lines.
func (l AttributeLimits) Apply(td ptrace.Traces) LimitCounts {
	var c LimitCounts
	if l.MaxCount <= 0 && l.MaxValueBytes <= 0 {
		return c
	}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				span.SetDroppedAttributesCount(l.applyMap(span.Attributes(), span.DroppedAttributesCount(), &c))
				events := span.Events()
				for e := 0; e < events.Len(); e++ {
					ev := events.At(e)
					ev.SetDroppedAttributesCount(l.applyMap(ev.Attributes(), ev.DroppedAttributesCount(), &c))
				}
				links := span.Links()
				for n := 0; n < links.Len(); n++ {
					link := links.At(n)
					link.SetDroppedAttributesCount(l.applyMap(link.Attributes(), link.DroppedAttributesCount(), &c))
				}
			}
		}
	}
	return c
}

// applyMap limits one attribute collection and returns its new
// dropped_attributes_count (saturated rather than wrapped).
func (l AttributeLimits) applyMap(m pcommon.Map, dropped uint32, c *LimitCounts) uint32 {
	if l.MaxCount > 0 && m.Len() > l.MaxCount {
		over := m.Len() - l.MaxCount
		kept := 0
		// Map keeps insertion order, so the first MaxCount sent are kept,
		// as an SDK keeps the first ones set.
		m.RemoveIf(func(string, pcommon.Value) bool {
			kept++
			return kept > l.MaxCount
		})
		c.Dropped += over
		dropped = uint32(min(uint64(dropped)+uint64(over), math.MaxUint32))
	}
	if l.MaxValueBytes > 0 {
		for _, v := range m.All() {
			l.truncate(v, c)
		}
	}
	return dropped
}

func (l AttributeLimits) truncate(v pcommon.Value, c *LimitCounts) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		if s := v.Str(); len(s) > l.MaxValueBytes {
			v.SetStr(TruncateUTF8(s, l.MaxValueBytes))
			c.Truncated++
		}
	case pcommon.ValueTypeBytes:
		if b := v.Bytes(); b.Len() > l.MaxValueBytes {
			b.FromRaw(b.AsRaw()[:l.MaxValueBytes])
			c.Truncated++
		}
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		for i := 0; i < s.Len(); i++ {
			l.truncate(s.At(i), c)
		}
	case pcommon.ValueTypeMap:
		for _, e := range v.Map().All() {
			l.truncate(e, c)
		}
	}
}

// TruncateUTF8 cuts s to at most n bytes without splitting a UTF-8
// character.
func TruncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// A character is at most utf8.UTFMax bytes: back off to its start.
	for cut := n; cut > n-utf8.UTFMax && cut >= 0; cut-- {
		if utf8.RuneStart(s[cut]) {
			return s[:cut]
		}
	}
	// Not UTF-8 around the cut: cut at n, the encoder repairs the bytes.
	return s[:n]
}

// NestingError says that an attribute value nests deeper than
// config.MaxNestingDepth.
type NestingError struct {
	// Where names the attribute collection and key, e.g. `span attribute "k"`.
	Where string
}

func (e *NestingError) Error() string {
	return fmt.Sprintf("%s nests arrays and key-value lists more than %d deep (the limit of every ingest path, config.MaxNestingDepth)", e.Where, config.MaxNestingDepth)
}

// CheckNesting returns a *NestingError for the first attribute value of td
// (resource, scope, span, event or link) that nests arrays and key-value
// lists more than config.MaxNestingDepth deep. Deeper values would make
// lines the span reader cannot parse.
func CheckNesting(td ptrace.Traces) error {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		if err := checkMapNesting("resource attribute", rs.Resource().Attributes()); err != nil {
			return err
		}
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			if err := checkMapNesting("scope attribute", ss.Scope().Attributes()); err != nil {
				return err
			}
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				if err := checkMapNesting("span attribute", span.Attributes()); err != nil {
					return err
				}
				for e := 0; e < span.Events().Len(); e++ {
					if err := checkMapNesting("event attribute", span.Events().At(e).Attributes()); err != nil {
						return err
					}
				}
				for n := 0; n < span.Links().Len(); n++ {
					if err := checkMapNesting("link attribute", span.Links().At(n).Attributes()); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

func checkMapNesting(kind string, m pcommon.Map) error {
	for k, v := range m.All() {
		if !nestingWithin(v, config.MaxNestingDepth) {
			return &NestingError{Where: fmt.Sprintf("%s %q", kind, TruncateUTF8(k, 64))}
		}
	}
	return nil
}

// nestingWithin reports whether v nests at most budget arrays and maps:
// a scalar nests 0, an array or map one more than its deepest element.
func nestingWithin(v pcommon.Value, budget int) bool {
	switch v.Type() {
	case pcommon.ValueTypeSlice:
		if budget == 0 {
			return false
		}
		s := v.Slice()
		for i := 0; i < s.Len(); i++ {
			if !nestingWithin(s.At(i), budget-1) {
				return false
			}
		}
	case pcommon.ValueTypeMap:
		if budget == 0 {
			return false
		}
		for _, e := range v.Map().All() {
			if !nestingWithin(e, budget-1) {
				return false
			}
		}
	}
	return true
}
