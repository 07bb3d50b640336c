package format

import (
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spansink/spansink/sink/config"
)

// fuzzLimits are small enough for fuzzed requests to cross them.
var fuzzLimits = AttributeLimits{MaxCount: 3, MaxValueBytes: 8}

// benchLimits are the collector's defaults, as the hot path runs with them.
var benchLimits = AttributeLimits{MaxCount: config.DefaultMaxAttributesPerSpan, MaxValueBytes: config.DefaultMaxAttributeValueBytes}

// nestedValue sets v to depth nested arrays (or maps) around a string.
func nestedValue(v pcommon.Value, depth int, maps bool) {
	for range depth {
		if maps {
			v = v.SetEmptyMap().PutEmpty("k")
		} else {
			v = v.SetEmptySlice().AppendEmpty()
		}
	}
	v.SetStr("bottom")
}

// wireNested is nestedValue on the wire.
func wireNested(depth int, maps bool) []byte {
	v := strValue("bottom")
	for range depth {
		if maps {
			v = tagBytes(nil, anyKvlist, tagBytes(nil, listValues, kv("k", v)))
		} else {
			v = tagBytes(nil, anyArray, tagBytes(nil, listValues, v))
		}
	}
	return v
}

// limitSeeds are requests at and just over each limit, for the fuzzers.
func limitSeeds(t testing.TB) [][]byte {
	var out [][]byte
	attrs := func(n int) []byte {
		var b []byte
		for i := range n {
			b = tagBytes(b, spanAttributes, kv(strings.Repeat("k", i+1), strValue("v")))
		}
		return b
	}
	event := func(n int) []byte {
		ev := tagFixed64(nil, eventTime, 5)
		for i := range n {
			ev = tagBytes(ev, eventAttributes, kv(strings.Repeat("e", i+1), strValue("v")))
		}
		return tagBytes(nil, spanEvents, ev)
	}
	for _, n := range []int{3, 4} {
		out = append(out, request(wireSpanOf(attrs(n))), request(wireSpanOf(event(n))))
	}
	for _, s := range []string{"12345678", "123456789", "1234567é", "12345678\xff"} {
		out = append(out, request(wireSpanOf(tagBytes(nil, spanAttributes, kv("s", strValue(s))))))
		out = append(out, request(wireSpanOf(tagBytes(nil, spanAttributes, kv("b", tagString(nil, anyBytes, s))))))
	}
	for _, depth := range []int{config.MaxNestingDepth, config.MaxNestingDepth + 1} {
		for _, maps := range []bool{false, true} {
			out = append(out, request(wireSpanOf(tagBytes(nil, spanAttributes, kv("deep", wireNested(depth, maps))))))
		}
	}
	return out
}

func TestTruncateUTF8(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abc", 3, "abc"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"},                // é is two bytes: not split
		{"a日本", 3, "a"},               // 日 is three bytes
		{"a日本", 4, "a日"},              // exactly one character
		{"😀x", 3, ""},                 // a four-byte character does not fit
		{"ab\xff\xffcd", 3, "ab\xff"}, // invalid bytes are cut where asked
	} {
		if got := TruncateUTF8(tc.in, tc.n); got != tc.want {
			t.Errorf("TruncateUTF8(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestAttributeLimitsApply(t *testing.T) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("resource-long", "resource values are exempt")
	span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetDroppedAttributesCount(2)
	attrs := span.Attributes()
	attrs.PutStr("a", "0123456789")
	attrs.PutEmptyBytes("b").FromRaw([]byte("0123456789"))
	attrs.PutStr("c", "short")
	attrs.PutStr("d", "dropped")
	attrs.PutStr("e", "dropped too")
	ev := span.Events().AppendEmpty()
	sl := ev.Attributes().PutEmptySlice("list")
	sl.AppendEmpty().SetStr("日本語です")
	sl.AppendEmpty().SetEmptyMap().PutStr("inner", "0123456789")
	link := span.Links().AppendEmpty()
	for _, k := range []string{"1", "2", "3", "4"} {
		link.Attributes().PutInt(k, 1)
	}

	got := AttributeLimits{MaxCount: 3, MaxValueBytes: 7}.Apply(td)
	if want := (LimitCounts{Dropped: 3, Truncated: 4}); got != want {
		t.Fatalf("counts = %+v, want %+v", got, want)
	}
	want := map[string]any{"a": "0123456", "b": []byte("0123456"), "c": "short"}
	if attrs.Len() != len(want) {
		t.Fatalf("span keeps %d attributes, want %d: %v", attrs.Len(), len(want), attrs.AsRaw())
	}
	for k, w := range want {
		v, _ := attrs.Get(k)
		var got any = v.AsRaw()
		if v.Type() == pcommon.ValueTypeBytes {
			got = v.Bytes().AsRaw()
		}
		if g, ok := got.([]byte); ok {
			if string(g) != string(w.([]byte)) {
				t.Errorf("attribute %s = %q, want %q", k, g, w)
			}
		} else if got != w {
			t.Errorf("attribute %s = %v, want %v", k, got, w)
		}
	}
	if n := span.DroppedAttributesCount(); n != 4 {
		t.Errorf("span dropped_attributes_count = %d, want 2 sent + 2 dropped", n)
	}
	if s := sl.At(0).Str(); s != "日本" {
		t.Errorf("event list string = %q, want it cut at a character boundary to %q", s, "日本")
	}
	if s, _ := sl.At(1).Map().Get("inner"); s.Str() != "0123456" {
		t.Errorf("event nested map string = %q, want %q", s.Str(), "0123456")
	}
	if n, d := link.Attributes().Len(), link.DroppedAttributesCount(); n != 3 || d != 1 {
		t.Errorf("link keeps %d attributes with %d dropped, want 3 and 1", n, d)
	}
	if v, _ := rs.Resource().Attributes().Get("resource-long"); v.Str() != "resource values are exempt" {
		t.Errorf("resource attribute changed to %q", v.Str())
	}
	if c := (AttributeLimits{}).Apply(td); c != (LimitCounts{}) {
		t.Errorf("zero limits changed %+v", c)
	}
}

func TestCheckNesting(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(td ptrace.Traces)
		err   string
	}{
		{"span arrays at the limit", func(td ptrace.Traces) {
			nestedValue(newSpan(td).Attributes().PutEmpty("k"), config.MaxNestingDepth, false)
		}, ""},
		{"span maps at the limit", func(td ptrace.Traces) {
			nestedValue(newSpan(td).Attributes().PutEmpty("k"), config.MaxNestingDepth, true)
		}, ""},
		{"span arrays over the limit", func(td ptrace.Traces) {
			nestedValue(newSpan(td).Attributes().PutEmpty("k"), config.MaxNestingDepth+1, false)
		}, `span attribute "k" nests arrays and key-value lists more than 32 deep (the limit of every ingest path, config.MaxNestingDepth)`},
		{"event maps over the limit", func(td ptrace.Traces) {
			nestedValue(newSpan(td).Events().AppendEmpty().Attributes().PutEmpty("ev"), config.MaxNestingDepth+1, true)
		}, `event attribute "ev" nests arrays and key-value lists more than 32 deep (the limit of every ingest path, config.MaxNestingDepth)`},
		{"link over the limit", func(td ptrace.Traces) {
			nestedValue(newSpan(td).Links().AppendEmpty().Attributes().PutEmpty("l"), config.MaxNestingDepth+1, false)
		}, `link attribute "l" nests`},
		{"resource over the limit", func(td ptrace.Traces) {
			newSpan(td)
			nestedValue(td.ResourceSpans().At(0).Resource().Attributes().PutEmpty("r"), config.MaxNestingDepth+1, true)
		}, `resource attribute "r" nests`},
		{"scope over the limit", func(td ptrace.Traces) {
			newSpan(td)
			nestedValue(td.ResourceSpans().At(0).ScopeSpans().At(0).Scope().Attributes().PutEmpty("s"), config.MaxNestingDepth+1, false)
		}, `scope attribute "s" nests`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			td := ptrace.NewTraces()
			tc.build(td)
			err := CheckNesting(td)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("CheckNesting: %v, want nil", err)
			case tc.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.err)):
				t.Fatalf("CheckNesting: %v, want %q", err, tc.err)
			}
		})
	}
}

// The wire path takes requests within the limits and declines those over
// them, leaving them to the pdata path; compareWireLimits checks that what
// it takes is what the pdata path writes.
func TestWireLimits(t *testing.T) {
	limits := AttributeLimits{MaxCount: 3, MaxValueBytes: 8}
	attrs := func(n int, value []byte) []byte {
		var b []byte
		for i := range n {
			b = tagBytes(b, spanAttributes, kv(strings.Repeat("k", i+1), value))
		}
		return b
	}
	eventWith := func(n int) []byte {
		ev := tagFixed64(nil, eventTime, 5)
		for i := range n {
			ev = tagBytes(ev, eventAttributes, kv(strings.Repeat("e", i+1), strValue("v")))
		}
		return tagBytes(nil, spanEvents, ev)
	}
	linkWith := func(n int) []byte {
		l := tagBytes(tagBytes(nil, linkTraceID, wireTraceID), linkSpanID, wireSpanID)
		for i := range n {
			l = tagBytes(l, linkAttributes, kv(strings.Repeat("l", i+1), strValue("v")))
		}
		return tagBytes(nil, spanLinks, l)
	}
	long := strings.Repeat("x", 200)
	for _, tc := range []struct {
		name string
		body []byte
		take bool
	}{
		{"attributes at the count", request(wireSpanOf(attrs(3, strValue("v")))), true},
		{"attributes over the count", request(wireSpanOf(attrs(4, strValue("v")))), false},
		{"event attributes at the count", request(wireSpanOf(eventWith(3))), true},
		{"event attributes over the count", request(wireSpanOf(eventWith(4))), false},
		{"link attributes over the count", request(wireSpanOf(linkWith(4))), false},
		{"map entries are not attributes", request(wireSpanOf(attrs(1, tagBytes(nil, anyKvlist,
			tagBytes(tagBytes(tagBytes(tagBytes(nil, listValues, kv("a", strValue("1"))), listValues, kv("b", strValue("2"))), listValues, kv("c", strValue("3"))), listValues, kv("d", strValue("4"))))))), true},
		{"string at the length", request(wireSpanOf(attrs(1, strValue("12345678")))), true},
		{"string over the length", request(wireSpanOf(attrs(1, strValue("123456789")))), false},
		{"long string over the length", request(wireSpanOf(attrs(1, strValue(long)))), false},
		{"bytes over the length", request(wireSpanOf(attrs(1, tagString(nil, anyBytes, "123456789")))), false},
		{"string in an array over the length", request(wireSpanOf(attrs(1, tagBytes(nil, anyArray, tagBytes(nil, listValues, strValue("123456789")))))), false},
		{"resource values are exempt", func() []byte {
			rs := tagBytes(nil, resourceSpansResource, tagBytes(nil, resourceAttributes, kv("r", strValue(long))))
			rs = tagBytes(rs, resourceSpansScopes, tagBytes(nil, scopeSpansSpans, wireSpanOf()))
			return tagBytes(nil, requestResourceSpans, rs)
		}(), true},
		{"arrays at the nesting limit", request(wireSpanOf(tagBytes(nil, spanAttributes, kv("d", wireNested(config.MaxNestingDepth, false))))), true},
		{"maps at the nesting limit", request(wireSpanOf(tagBytes(nil, spanAttributes, kv("d", wireNested(config.MaxNestingDepth, true))))), true},
		{"arrays over the nesting limit", request(wireSpanOf(tagBytes(nil, spanAttributes, kv("d", wireNested(config.MaxNestingDepth+1, false))))), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if took := compareWireLimits(t, tc.body, limits); took != tc.take {
				t.Fatalf("wire path took the request: %v, want %v", took, tc.take)
			}
		})
	}
}
