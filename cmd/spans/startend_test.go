package spans

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/reader/render"
)

// fileRecord is a line of a dbgpt file as DB-GPT's own tools read it.
type fileRecord struct {
	SpanType      string         `json:"span_type"`
	TraceID       string         `json:"trace_id"`
	SpanID        string         `json:"span_id"`
	ParentSpanID  *string        `json:"parent_span_id"`
	OperationName string         `json:"operation_name"`
	StartTime     *string        `json:"start_time"`
	EndTime       *string        `json:"end_time"`
	Metadata      map[string]any `json:"metadata"`
}

func readDBGPTFile(t *testing.T, path string) []fileRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var records []fileRecord
	lines := bufio.NewScanner(f)
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		var r fileRecord
		if err := json.Unmarshal(lines.Bytes(), &r); err != nil {
			t.Fatalf("line %d is no dbgpt record: %v\n%s", len(records)+1, err, lines.Bytes())
		}
		records = append(records, r)
	}
	if err := lines.Err(); err != nil {
		t.Fatal(err)
	}
	return records
}

// dbgptTreeNode is a span as DB-GPT's `dbgpt trace tree` finds it.
type dbgptTreeNode struct {
	operation string
	start     fileRecord
	end       *fileRecord
	children  []dbgptTreeNode
}

// dbgptTraceTree follows the rule by which DB-GPT's trace CLI
// (dbgpt/util/tracer/tracer_cli.py, _build_trace_hierarchy) builds a tree:
// the spans of a level are the start records (end_time null) whose
// parent_span_id is the level's parent, each joined with the record of the
// same span_id that has an end_time. A span without a start record is not
// in the tree at all.
func dbgptTraceTree(records []fileRecord, traceID string, parent *string) []dbgptTreeNode {
	var level []dbgptTreeNode
	for _, r := range records {
		if r.TraceID != traceID || r.EndTime != nil || !sameParent(r.ParentSpanID, parent) {
			continue
		}
		node := dbgptTreeNode{operation: r.OperationName, start: r}
		for _, e := range records {
			if e.SpanID == r.SpanID && e.EndTime != nil {
				node.end = &e
				break
			}
		}
		id := r.SpanID
		node.children = dbgptTraceTree(records, traceID, &id)
		level = append(level, node)
	}
	return level
}

func sameParent(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// TestStartEndRecordsThroughCollector sends spans over OTLP/gRPC with the
// OpenTelemetry SDK to a collector storing dbgpt start and end records and
// checks the file three ways: line by line (a start record before each end
// record), as DB-GPT's CLI reads it (every span in the tree), and with
// `spansink spans` (every span once, with its duration).
func TestStartEndRecordsThroughCollector(t *testing.T) {
	dir, sent := sendThroughCollector(t, storageVariant{format: config.FormatDBGPT, records: config.DBGPTRecordsStartEnd})
	root := rootSpan(t, sent)
	path := filepath.Join(dir, config.DefaultPath)
	records := readDBGPTFile(t, path)

	// On disk: each span (the SDK's and the raw one sendInvalidUTF8 sends)
	// as its start record followed by its end record.
	if want := 2 * (len(sent) + 1); len(records) != want {
		t.Fatalf("%d lines on disk, want %d (two per span)", len(records), want)
	}
	for i := 0; i < len(records); i += 2 {
		start, end := records[i], records[i+1]
		if start.SpanID != end.SpanID || start.TraceID != end.TraceID {
			t.Fatalf("line %d (span %s) is not followed by its end record but by span %s", i+1, start.SpanID, end.SpanID)
		}
		if start.EndTime != nil || end.EndTime == nil || start.StartTime == nil || *start.StartTime != *end.StartTime {
			t.Errorf("span %s: start record times %v..%v, end record %v..%v; want the start's end_time null", start.SpanID, start.StartTime, start.EndTime, end.StartTime, end.EndTime)
		}
		if start.SpanType != end.SpanType || start.OperationName != end.OperationName || !sameParent(start.ParentSpanID, end.ParentSpanID) {
			t.Errorf("span %s: start record %+v disagrees with end record %+v", start.SpanID, start, end)
		}
		// The start record's metadata is what is known at the start: the
		// end record's less status, events and end_time_unix_nano.
		known := map[string]any{}
		for key, value := range end.Metadata {
			known[key] = value
		}
		for _, key := range []string{"status", "events", "end_time_unix_nano"} {
			delete(known, key)
		}
		if _, ok := end.Metadata["status"]; !ok || !reflect.DeepEqual(start.Metadata, known) {
			t.Errorf("span %s: start record metadata\n%v\nend record metadata\n%v", start.SpanID, start.Metadata, end.Metadata)
		}
	}

	// As DB-GPT's `dbgpt trace tree` reads it: the root and its two
	// children, each joined with its end record.
	traceID := root.SpanContext().TraceID().String()
	tree := dbgptTraceTree(records, traceID, nil)
	if len(tree) != 1 || tree[0].operation != root.Name() || tree[0].end == nil {
		t.Fatalf("DB-GPT's tree has roots %+v, want %q with its end record", tree, root.Name())
	}
	children := map[string]bool{}
	for _, c := range tree[0].children {
		if c.end == nil {
			t.Errorf("DB-GPT's tree: %q has no end record", c.operation)
		}
		children[c.operation] = true
	}
	if len(children) != 2 || !children["charge card"] || !children["edge values"] {
		t.Errorf("DB-GPT's tree: the root's children are %v, want charge card and edge values", children)
	}

	// `spansink spans`: each span once, paired, with the duration sent.
	list, stderr, err := run(t, "", "list", "--limit", "0", "--path", path)
	if err != nil || stderr != "" {
		t.Fatalf("list: %v\n%s", err, stderr)
	}
	if lines := strings.Count(list, "\n"); lines != len(sent)+2 { // a header, the sent spans, the raw one
		t.Errorf("list printed %d lines, want a header and %d spans:\n%s", lines, len(sent)+1, list)
	}
	for _, s := range sent {
		if n := strings.Count(list, s.SpanContext().SpanID().String()); n != 1 {
			t.Errorf("list shows span %q %d times, want once:\n%s", s.Name(), n, list)
		}
	}
	out, stderr, err := run(t, "", "tree", "--trace-id", traceID, "-o", "json", "--path", path)
	if err != nil || stderr != "" {
		t.Fatalf("tree: %v\n%s", err, stderr)
	}
	var doc struct {
		Roots   []render.TreeJSON `json:"roots"`
		Orphans []render.TreeJSON `json:"orphans"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("tree -o json: %v\n%s", err, out)
	}
	if len(doc.Roots) != 1 || len(doc.Orphans) != 0 || len(doc.Roots[0].Children) != 2 {
		t.Fatalf("tree: want one root with two children and no orphans:\n%s", out)
	}
	durations := map[string]float64{}
	var walk func(n render.TreeJSON)
	walk = func(n render.TreeJSON) {
		var span fileRecord
		if err := json.Unmarshal(n.Span, &span); err != nil {
			t.Fatal(err)
		}
		if _, seen := durations[span.SpanID]; seen || n.DurationMS == nil {
			t.Errorf("tree: span %s shown twice or without a duration:\n%s", span.SpanID, out)
		}
		if n.DurationMS != nil {
			durations[span.SpanID] = *n.DurationMS
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(doc.Roots[0])
	for _, s := range sent {
		want := float64(s.EndTime().Sub(s.StartTime())) / float64(time.Millisecond)
		if got := durations[s.SpanContext().SpanID().String()]; got != want {
			t.Errorf("tree: span %q lasted %vms, sent %vms", s.Name(), got, want)
		}
	}
}

// rootSpan returns the root of the spans sendThroughCollector sent, and
// guards the test's premise: three spans under one root.
func rootSpan(t *testing.T, sent []sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
	t.Helper()
	var roots []sdktrace.ReadOnlySpan
	for _, s := range sent {
		if !s.Parent().IsValid() {
			roots = append(roots, s)
		}
	}
	if len(sent) != 3 || len(roots) != 1 {
		t.Fatalf("sent %d spans with %d roots; the test expects three spans under one root", len(sent), len(roots))
	}
	return roots[0]
}
