package replay

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spansink/spansink/sink/format"
	"github.com/spansink/spansink/test/collectorproc"
)

// TestReplayIntoACollector replays the fixture into a second spansink
// collector, writing either format, and reads what it stored back with the
// reader: span for span the source, with ids, parents, names, times and
// attributes. A span that came in over OTLP is stored as it was (its line
// is the source's, byte for byte); a DB-GPT record comes back as the OTLP
// span it was converted to.
func TestReplayIntoACollector(t *testing.T) {
	f := sharedFixture(t)
	source := listJSON(t, f.allFiles()...)
	if len(source) != f.spanCount() {
		t.Fatalf("the source lists %d spans, the fixture has %d", len(source), f.spanCount())
	}
	for _, storedAs := range []string{"dbgpt", "otlp-json"} {
		t.Run(storedAs, func(t *testing.T) {
			dir := t.TempDir()
			p := collectorproc.Start(t, filepath.Join(dir, "collector.log"),
				"--path", filepath.Join(dir, "spans.jsonl"), "--format", storedAs, "--flush-interval", "50ms")
			res := spansink(t, nil, append([]string{"spans", "replay", "--otlp-endpoint", p.GRPCAddr, "--insecure"}, f.allFiles()...)...).mustSucceed(t, "replay")
			checkReplayed(t, f, res)
			if code := p.Terminate(30 * time.Second); code != 0 {
				t.Fatalf("the collector exited %d", code)
			}
			stored := listJSON(t, dir)
			if len(stored) != len(source) {
				t.Fatalf("the collector stored %d spans, the source has %d", len(stored), len(source))
			}
			otlp, dbgpt := 0, 0
			for key, src := range source {
				dst, ok := stored[key]
				if !ok {
					t.Fatalf("span %v was not stored", key)
				}
				if src.fromDBGPT() {
					compareConvertedDBGPT(t, src, dst, f)
					dbgpt++
				} else {
					if src.raw != dst.raw {
						t.Fatalf("span %v stored differently:\n got %s\nwant %s", key, dst.raw, src.raw)
					}
					otlp++
				}
			}
			t.Logf("%d OTLP spans stored as they were, %d DB-GPT spans as their OTLP conversions", otlp, dbgpt)
		})
	}
}

// spanKey identifies a span across formats: the trace id and the span id's
// hex (a DB-GPT record writes "<trace>:<span>").
type spanKey struct{ trace, span string }

// listedSpan is one line of `spans list -o json`.
type listedSpan struct {
	raw  string
	line struct {
		SpanType  string         `json:"span_type"`
		TraceID   string         `json:"trace_id"`
		SpanID    string         `json:"span_id"`
		Parent    *string        `json:"parent_span_id"`
		Operation string         `json:"operation_name"`
		Start     *string        `json:"start_time"`
		End       *string        `json:"end_time"`
		Metadata  map[string]any `json:"metadata"`
	}
}

// fromDBGPT tells a DB-GPT record from a span that came in over OTLP: the
// latter's metadata is in the OTLP layout, of another scope.
func (s listedSpan) fromDBGPT() bool {
	scope, _ := s.line.Metadata["scope"].(map[string]any)
	_, otlpLayout := s.line.Metadata["span_kind"]
	return !otlpLayout || scope["name"] == format.DBGPTScopeName
}

// listJSON lists every span of the inputs with `spans list -o json`.
func listJSON(t *testing.T, inputs ...string) map[spanKey]listedSpan {
	t.Helper()
	res := spansink(t, nil, append([]string{"spans", "list", "--limit", "0", "-o", "json"}, inputs...)...).mustSucceed(t, "list")
	spans := map[spanKey]listedSpan{}
	for _, line := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
		s := listedSpan{raw: line}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber() // nanosecond times are beyond a float's precision
		if err := dec.Decode(&s.line); err != nil {
			t.Fatalf("list printed %q: %v", line, err)
		}
		key := spanKey{s.line.TraceID, hexPart(s.line.SpanID)}
		if _, dup := spans[key]; dup {
			t.Fatalf("span %v listed twice", key)
		}
		spans[key] = s
	}
	return spans
}

func hexPart(id string) string {
	if i := strings.LastIndexByte(id, ':'); i >= 0 {
		return id[i+1:]
	}
	return id
}

// compareConvertedDBGPT checks a DB-GPT span against what the collector
// stored of its replay: the OTLP span the documented mapping makes of it.
func compareConvertedDBGPT(t *testing.T, src, dst listedSpan, f *fixture) {
	t.Helper()
	key := spanKey{src.line.TraceID, hexPart(src.line.SpanID)}
	var want wantSpan
	for _, w := range f.traces[key.trace] {
		if w.spanID == key.span {
			want = w
		}
	}
	d := dst.line
	parent := ""
	if d.Parent != nil {
		parent = *d.Parent
	}
	srcParent := ""
	if src.line.Parent != nil {
		srcParent = hexPart(*src.line.Parent)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"span id", d.SpanID, key.span},
		{"parent", parent, srcParent},
		{"name", d.Operation, src.line.Operation},
		{"span type", d.SpanType, src.line.SpanType},
		{"start", *d.Start, *src.line.Start},
		{"end", *d.End, *src.line.End},
		{"exact start", d.Metadata["start_time_unix_nano"], json.Number(itoa(want.start.UnixNano()))},
		{"exact end", d.Metadata["end_time_unix_nano"], json.Number(itoa(want.end.UnixNano()))},
		{"service", d.Metadata["service.name"], want.service},
		{"resource", d.Metadata["resource"], map[string]any{"service.name": want.service}},
		{"scope", d.Metadata["scope"], map[string]any{"name": format.DBGPTScopeName, "version": ""}},
		{"attributes", normalized(d.Metadata["attributes"]), normalized(sourceAttributes(src))},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Fatalf("DB-GPT span %v: %s stored as %#v, want %#v\n stored %s\n source %s", key, c.what, c.got, c.want, dst.raw, src.raw)
		}
	}
}

// sourceAttributes are the attributes a DB-GPT span of the source becomes:
// its metadata's keys and its span type, from a dbgpt line; the attributes
// as stored, from an otlp-json line.
func sourceAttributes(src listedSpan) any {
	if attrs, ok := src.line.Metadata["attributes"]; ok {
		return attrs
	}
	attrs := map[string]any{format.DBGPTSpanTypeAttribute: src.line.SpanType}
	for k, v := range src.line.Metadata {
		attrs[k] = v
	}
	return attrs
}

// normalized reads numbers alike whichever path decoded them.
func normalized(v any) any {
	b, _ := json.Marshal(v)
	var out any
	json.Unmarshal(b, &out)
	return out
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
