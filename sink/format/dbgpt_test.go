package format

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spansink/spansink/sink/config"
)

var dbgptKeys = []string{"span_type", "trace_id", "span_id", "parent_span_id", "operation_name", "start_time", "end_time", "metadata"}

// topLevelKeys returns the keys of a JSON object in the order written.
func topLevelKeys(t *testing.T, line []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("line does not start an object: %v %v", tok, err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// checkLine asserts what every dbgpt line must be and returns it decoded.
func checkLine(t *testing.T, line []byte) map[string]any {
	t.Helper()
	if !utf8.Valid(line) {
		t.Fatalf("line is not valid UTF-8: %q", line)
	}
	if bytes.ContainsAny(line, "\r\n") {
		t.Fatalf("line contains a line break: %q", line)
	}
	if got := topLevelKeys(t, line); !reflect.DeepEqual(got, dbgptKeys) {
		t.Fatalf("keys %v, want %v", got, dbgptKeys)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("line %s does not parse: %v", line, err)
	}
	return m
}

func mustEncoder(t testing.TB, f config.Format) Encoder {
	t.Helper()
	enc, err := NewEncoder(f)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func TestNewEncoderRejectsUnknownFormat(t *testing.T) {
	if _, err := NewEncoder("csv"); err == nil {
		t.Fatal("want an error for format csv")
	}
}

// goldenTraces is a request with a span that uses every part of a line and
// a child with nothing but ids, name and span type; goldenLines are its
// lines.
func goldenTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	rs.Resource().Attributes().PutStr("host.name", "node-1")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("github.com/acme/shop")
	ss.Scope().SetVersion("1.2.0")

	root := ss.Spans().AppendEmpty()
	root.SetTraceID(pcommon.TraceID{0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c})
	root.SetSpanID(pcommon.SpanID{0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31})
	root.SetName("GET /cart")
	root.SetKind(ptrace.SpanKindServer)
	root.SetStartTimestamp(pcommon.Timestamp(1_700_000_000_123_456_789))
	root.SetEndTimestamp(pcommon.Timestamp(1_700_000_000_223_456_789))
	root.Attributes().PutStr("span_type", "chat")
	root.Attributes().PutInt("http.status_code", 200)
	root.Status().SetCode(ptrace.StatusCodeError)
	root.Status().SetMessage("boom")
	root.TraceState().FromRaw("k=v")
	ev := root.Events().AppendEmpty()
	ev.SetName("retry")
	ev.SetTimestamp(pcommon.Timestamp(1_700_000_000_150_000_000))
	ev.Attributes().PutBool("final", true)
	link := root.Links().AppendEmpty()
	link.SetTraceID(pcommon.TraceID{15: 1})
	link.SetSpanID(pcommon.SpanID{7: 2})

	child := ss.Spans().AppendEmpty()
	child.SetTraceID(root.TraceID())
	child.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	child.SetParentSpanID(root.SpanID())
	child.SetName("db")
	child.Attributes().PutStr("dbgpt.span_type", "run")
	return td
}

var goldenLines = []string{
	`{"span_type":"chat","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331","parent_span_id":null,"operation_name":"GET /cart",` +
		`"start_time":"2023-11-14 22:13:20.123","end_time":"2023-11-14 22:13:20.223","metadata":{"service.name":"checkout",` +
		`"attributes":{"span_type":"chat","http.status_code":200},"resource":{"service.name":"checkout","host.name":"node-1"},` +
		`"scope":{"name":"github.com/acme/shop","version":"1.2.0"},"span_kind":"server","status":{"code":"error","message":"boom"},` +
		`"trace_state":"k=v","events":[{"name":"retry","time_unix_nano":1700000000150000000,"attributes":{"final":true}}],` +
		`"links":[{"trace_id":"00000000000000000000000000000001","span_id":"0000000000000002","trace_state":"","attributes":{}}],` +
		`"start_time_unix_nano":1700000000123456789,"end_time_unix_nano":1700000000223456789}}`,
	`{"span_type":"run","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"0102030405060708","parent_span_id":"b7ad6b7169203331","operation_name":"db",` +
		`"start_time":null,"end_time":null,"metadata":{"service.name":"checkout","attributes":{"dbgpt.span_type":"run"},` +
		`"resource":{"service.name":"checkout","host.name":"node-1"},"scope":{"name":"github.com/acme/shop","version":"1.2.0"},` +
		`"span_kind":"unspecified","status":{"code":"unset"},"start_time_unix_nano":0,"end_time_unix_nano":0}}`,
}

func TestEncodeTracesDBGPTGolden(t *testing.T) {
	records, err := mustEncoder(t, config.FormatDBGPT).EncodeTraces(goldenTraces())
	if err != nil {
		t.Fatal(err)
	}
	want := goldenLines
	if len(records) != len(want) {
		t.Fatalf("got %d records, want %d", len(records), len(want))
	}
	for i, rec := range records {
		checkLine(t, rec.Line)
		if rec.Spans != 1 {
			t.Errorf("record %d holds %d spans, want 1", i, rec.Spans)
		}
		if string(rec.Line) != want[i] {
			t.Errorf("record %d:\n got %s\nwant %s", i, rec.Line, want[i])
		}
	}
	// Lines share one buffer; appending to one must not touch the next.
	_ = append(records[0].Line, "XXXX"...)
	if string(records[1].Line) != want[1] {
		t.Errorf("appending to record 0 changed record 1: %s", records[1].Line)
	}
}

func TestEncodeTracesDBGPTSpanType(t *testing.T) {
	cases := []struct {
		name  string
		attrs map[string]any
		want  string
	}{
		{"none", nil, "base"},
		{"span_type", map[string]any{"span_type": "agent"}, "agent"},
		{"dbgpt.span_type", map[string]any{"dbgpt.span_type": "chat"}, "chat"},
		{"span_type wins", map[string]any{"span_type": "run", "dbgpt.span_type": "chat"}, "run"},
		{"not a string", map[string]any{"span_type": 3}, "base"},
		{"empty string", map[string]any{"span_type": ""}, "base"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			td := ptrace.NewTraces()
			span := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			span.SetTraceID(pcommon.TraceID{1})
			span.SetSpanID(pcommon.SpanID{1})
			if err := span.Attributes().FromRaw(tc.attrs); err != nil {
				t.Fatal(err)
			}
			records, err := mustEncoder(t, config.FormatDBGPT).EncodeTraces(td)
			if err != nil {
				t.Fatal(err)
			}
			if got := checkLine(t, records[0].Line)["span_type"]; got != tc.want {
				t.Errorf("span_type %v, want %q", got, tc.want)
			}
		})
	}
}

// TestEncodeTracesDBGPTRoundTrip checks generated spans against a reference
// built with encoding/json: every line must decode to exactly what the
// contract says, whatever the strings and values hold.
func TestEncodeTracesDBGPTRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	enc := mustEncoder(t, config.FormatDBGPT)
	for iter := 0; iter < 200; iter++ {
		td := genTraces(rng)
		want := referenceDBGPT(t, td)
		records, err := enc.EncodeTraces(td)
		if err != nil {
			t.Fatal(err)
		}
		if len(records) != len(want) {
			t.Fatalf("got %d records, want %d", len(records), len(want))
		}
		for i, rec := range records {
			got := checkLine(t, rec.Line)
			if !reflect.DeepEqual(got, want[i]) {
				t.Fatalf("iteration %d record %d:\n got %#v\nwant %#v\nline %s", iter, i, got, want[i], rec.Line)
			}
		}
	}
}

// referenceDBGPT builds the expected decoded lines independently of the
// encoder, from the contract in the package documentation.
func referenceDBGPT(t *testing.T, td ptrace.Traces) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				meta := map[string]any{
					"attributes":           refMap(span.Attributes()),
					"resource":             refMap(rs.Resource().Attributes()),
					"span_kind":            []string{"unspecified", "internal", "server", "client", "producer", "consumer"}[span.Kind()],
					"status":               map[string]any{"code": []string{"unset", "ok", "error"}[span.Status().Code()]},
					"start_time_unix_nano": json.Number(strconv.FormatUint(uint64(span.StartTimestamp()), 10)),
					"end_time_unix_nano":   json.Number(strconv.FormatUint(uint64(span.EndTimestamp()), 10)),
				}
				if v, ok := rs.Resource().Attributes().Get("service.name"); ok {
					meta["service.name"] = v.AsString()
				}
				if ss.Scope().Name() != "" || ss.Scope().Version() != "" {
					meta["scope"] = map[string]any{"name": ss.Scope().Name(), "version": ss.Scope().Version()}
				}
				if msg := span.Status().Message(); msg != "" {
					meta["status"].(map[string]any)["message"] = msg
				}
				if ts := span.TraceState().AsRaw(); ts != "" {
					meta["trace_state"] = ts
				}
				if span.Events().Len() > 0 {
					var events []any
					for _, ev := range span.Events().All() {
						events = append(events, map[string]any{
							"name":           ev.Name(),
							"time_unix_nano": json.Number(strconv.FormatUint(uint64(ev.Timestamp()), 10)),
							"attributes":     refMap(ev.Attributes()),
						})
					}
					meta["events"] = events
				}
				if span.Links().Len() > 0 {
					var links []any
					for _, l := range span.Links().All() {
						tid, sid := l.TraceID(), l.SpanID()
						links = append(links, map[string]any{
							"trace_id":    hex.EncodeToString(tid[:]),
							"span_id":     hex.EncodeToString(sid[:]),
							"trace_state": l.TraceState().AsRaw(),
							"attributes":  refMap(l.Attributes()),
						})
					}
					meta["links"] = links
				}
				spanType := "base"
				for _, k := range []string{"span_type", "dbgpt.span_type"} {
					if v, ok := span.Attributes().Get(k); ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
						spanType = v.Str()
						break
					}
				}
				tid, sid, pid := span.TraceID(), span.SpanID(), span.ParentSpanID()
				var parent any
				if !pid.IsEmpty() {
					parent = hex.EncodeToString(pid[:])
				}
				line := map[string]any{
					"span_type":      spanType,
					"trace_id":       hex.EncodeToString(tid[:]),
					"span_id":        hex.EncodeToString(sid[:]),
					"parent_span_id": parent,
					"operation_name": span.Name(),
					"start_time":     refTime(span.StartTimestamp()),
					"end_time":       refTime(span.EndTimestamp()),
					"metadata":       meta,
				}
				// Going through encoding/json gives strings the same repair
				// and numbers the same json.Number form as the decoded line.
				raw, err := json.Marshal(line)
				if err != nil {
					t.Fatal(err)
				}
				dec := json.NewDecoder(bytes.NewReader(raw))
				dec.UseNumber()
				var decoded map[string]any
				if err := dec.Decode(&decoded); err != nil {
					t.Fatal(err)
				}
				out = append(out, decoded)
			}
		}
	}
	return out
}

func refTime(ts pcommon.Timestamp) any {
	if ts == 0 {
		return nil
	}
	return ts.AsTime().UTC().Format(TimeLayout)
}

func refMap(m pcommon.Map) map[string]any {
	out := map[string]any{}
	for k, v := range m.All() {
		out[k] = refValue(v)
	}
	return out
}

func refValue(v pcommon.Value) any {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str()
	case pcommon.ValueTypeBool:
		return v.Bool()
	case pcommon.ValueTypeInt:
		return json.Number(strconv.FormatInt(v.Int(), 10))
	case pcommon.ValueTypeDouble:
		f := v.Double()
		switch {
		case math.IsNaN(f):
			return "NaN"
		case math.IsInf(f, 1):
			return "Infinity"
		case math.IsInf(f, -1):
			return "-Infinity"
		}
		return f
	case pcommon.ValueTypeMap:
		return refMap(v.Map())
	case pcommon.ValueTypeSlice:
		out := []any{}
		for _, e := range v.Slice().All() {
			out = append(out, refValue(e))
		}
		return out
	case pcommon.ValueTypeBytes:
		return base64.StdEncoding.EncodeToString(v.Bytes().AsRaw())
	}
	return nil
}

// genString returns strings that stress the escaper: control characters,
// quotes, multi-byte runes and invalid UTF-8.
func genString(rng *rand.Rand) string {
	pieces := []string{"a", "Z", "0", " ", `"`, `\`, "\n", "\t", "\x00", "\x1f", "\x7f", "é", "世", "🙂", "\u2028", "\xff", "\xe4\xb8", "<", "&", "span"}
	n := rng.IntN(8)
	var b []byte
	for range n {
		b = append(b, pieces[rng.IntN(len(pieces))]...)
	}
	return string(b)
}

func genValue(rng *rand.Rand, v pcommon.Value, depth int) {
	kinds := 8
	if depth > 2 {
		kinds = 6 // no nested maps or slices below this depth
	}
	switch rng.IntN(kinds) {
	case 0:
		v.SetStr(genString(rng))
	case 1:
		v.SetBool(rng.IntN(2) == 0)
	case 2:
		v.SetInt(int64(rng.Uint64()))
	case 3:
		floats := []float64{0, -1.5, 1e21, 1e-7, math.MaxFloat64, math.NaN(), math.Inf(1), math.Inf(-1), rng.NormFloat64() * 1e6}
		v.SetDouble(floats[rng.IntN(len(floats))])
	case 4:
		b := make([]byte, rng.IntN(10))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		v.SetEmptyBytes().FromRaw(b)
	case 5:
		// Leave empty.
	case 6:
		genMap(rng, v.SetEmptyMap(), depth+1)
	case 7:
		s := v.SetEmptySlice()
		for range rng.IntN(4) {
			genValue(rng, s.AppendEmpty(), depth+1)
		}
	}
}

func genMap(rng *rand.Rand, m pcommon.Map, depth int) {
	for range rng.IntN(5) {
		genValue(rng, m.PutEmpty(genString(rng)), depth)
	}
	if rng.IntN(4) == 0 {
		m.PutStr("span_type", genString(rng))
	}
}

func genID(rng *rand.Rand, id []byte) {
	if rng.IntN(5) == 0 {
		return // empty: a root's parent, or a zero link id
	}
	for i := range id {
		id[i] = byte(rng.Uint32())
	}
}

func genTimestamp(rng *rand.Rand) pcommon.Timestamp {
	if rng.IntN(6) == 0 {
		return 0
	}
	return pcommon.Timestamp(rng.Int64N(int64(4102444800 * time.Second)))
}

func genTraces(rng *rand.Rand) ptrace.Traces {
	td := ptrace.NewTraces()
	for range 1 + rng.IntN(2) {
		rs := td.ResourceSpans().AppendEmpty()
		genMap(rng, rs.Resource().Attributes(), 0)
		if rng.IntN(2) == 0 {
			genValue(rng, rs.Resource().Attributes().PutEmpty("service.name"), 2)
		}
		for range 1 + rng.IntN(2) {
			ss := rs.ScopeSpans().AppendEmpty()
			if rng.IntN(2) == 0 {
				ss.Scope().SetName(genString(rng))
				ss.Scope().SetVersion(genString(rng))
			}
			for range rng.IntN(4) {
				span := ss.Spans().AppendEmpty()
				var tid pcommon.TraceID
				var sid, pid pcommon.SpanID
				genID(rng, tid[:])
				genID(rng, sid[:])
				genID(rng, pid[:])
				span.SetTraceID(tid)
				span.SetSpanID(sid)
				span.SetParentSpanID(pid)
				span.SetName(genString(rng))
				span.SetKind(ptrace.SpanKind(rng.IntN(6)))
				span.SetStartTimestamp(genTimestamp(rng))
				span.SetEndTimestamp(genTimestamp(rng))
				span.Status().SetCode(ptrace.StatusCode(rng.IntN(3)))
				span.Status().SetMessage(genString(rng))
				span.TraceState().FromRaw(genString(rng))
				genMap(rng, span.Attributes(), 0)
				for range rng.IntN(3) {
					ev := span.Events().AppendEmpty()
					ev.SetName(genString(rng))
					ev.SetTimestamp(genTimestamp(rng))
					genMap(rng, ev.Attributes(), 1)
				}
				for range rng.IntN(3) {
					l := span.Links().AppendEmpty()
					var ltid pcommon.TraceID
					var lsid pcommon.SpanID
					genID(rng, ltid[:])
					genID(rng, lsid[:])
					l.SetTraceID(ltid)
					l.SetSpanID(lsid)
					l.TraceState().FromRaw(genString(rng))
					genMap(rng, l.Attributes(), 1)
				}
			}
		}
	}
	return td
}

// TestAppendOTLPMetadataMatchesEncoder checks that the exported metadata
// encoder, which the span reader uses for otlp-json files, writes exactly the
// bytes the dbgpt encoder stores.
func TestAppendOTLPMetadataMatchesEncoder(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	enc := mustEncoder(t, config.FormatDBGPT)
	for iter := 0; iter < 100; iter++ {
		td := genTraces(rng)
		records, err := enc.EncodeTraces(td)
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, span := range ss.Spans().All() {
					var line struct{ Metadata json.RawMessage }
					if err := json.Unmarshal(records[i].Line, &line); err != nil {
						t.Fatal(err)
					}
					if got := AppendOTLPMetadata(nil, rs, ss, span); string(got) != string(line.Metadata) {
						t.Fatalf("iteration %d span %d:\n got %s\nwant %s", iter, i, got, line.Metadata)
					}
					i++
				}
			}
		}
	}
}
