package spans

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/format"
	"github.com/spansink/spansink/sink/reader"
	"github.com/spansink/spansink/sink/record"
	"github.com/spansink/spansink/sink/storage/rollingfile"
)

// Traces of the sharded fixture.
const (
	shardTraceDBGPT = "d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1" // DB-GPT records on all three shards
	shardTraceOTLP  = "07070707070707070707070707070707" // OTLP spans on shards 1 and 2
	shardCount      = 3
)

// shardStart is the first moment of the fixture: shortly before midnight, so
// every shard rolls over to a new day on the way.
var shardStart = time.Date(2024, 5, 1, 23, 58, 30, 0, time.UTC)

// shardEvent is one record a shard's collector writes at a moment: a DB-GPT
// record or an OTLP request.
type shardEvent struct {
	at    time.Time
	shard int
	dbgpt *format.DBGPTSpan
	otlp  ptrace.Traces
}

// shardSpan is a span the fixture writes, as the reader should list it.
type shardSpan struct {
	operation  string
	start, end time.Time
}

// shardFixture lays out the spans of a sharded SpanSink: the DB-GPT trace's
// root starts on shard 0 and ends on shard 2 (a client that reconnected),
// its twelve steps go to the shards in turn, one of them starting on shard 1
// and ending on shard 0, and the OTLP trace's spans are on shards 1 and 2.
// It returns what each shard writes, in time order, and every span once.
func shardFixture() ([]shardEvent, []shardSpan) {
	var events []shardEvent
	var spans []shardSpan
	dbgpt := func(id int, parent, op string, start, end time.Time, startShard, endShard int) {
		spanID := fmt.Sprintf("%s:%016x", shardTraceDBGPT, id)
		startRecord := dbgptRecord(spanID, parent, op, start, time.Time{}, `{"phase":"start","user":"alice"}`)
		endRecord := dbgptRecord(spanID, parent, op, start, end, fmt.Sprintf(`{"phase":"end","tokens":%d}`, 10*id))
		events = append(events, shardEvent{at: start, shard: startShard, dbgpt: &startRecord}, shardEvent{at: end, shard: endShard, dbgpt: &endRecord})
		spans = append(spans, shardSpan{operation: op, start: start, end: end})
	}
	rootID := fmt.Sprintf("%s:%016x", shardTraceDBGPT, 1)
	rootEnd := shardStart.Add(120 * time.Second)
	dbgpt(1, "", "root", shardStart, rootEnd, 0, 2)
	for k := 1; k <= 12; k++ {
		start := shardStart.Add(time.Duration(9*k) * time.Second)
		shard := (2 * k) % shardCount
		endShard := shard
		if k == 5 {
			shard, endShard = 1, 0
		}
		dbgpt(k+1, rootID, fmt.Sprintf("step-%02d", k), start, start.Add(3*time.Second), shard, endShard)
	}
	otlpRootStart, otlpRootEnd := shardStart.Add(35500*time.Millisecond), shardStart.Add(100500*time.Millisecond)
	for k := 1; k <= 4; k++ {
		start := shardStart.Add(time.Duration(35500+10000*k) * time.Millisecond)
		end := start.Add(2 * time.Second)
		events = append(events, shardEvent{at: end, shard: 1 + k%2, otlp: otlpRequest(byte(k+1), 1, fmt.Sprintf("otlp-child-%d", k), start, end)})
		spans = append(spans, shardSpan{operation: fmt.Sprintf("otlp-child-%d", k), start: start, end: end})
	}
	events = append(events, shardEvent{at: otlpRootEnd, shard: 1, otlp: otlpRequest(1, 0, "otlp-root", otlpRootStart, otlpRootEnd)})
	spans = append(spans, shardSpan{operation: "otlp-root", start: otlpRootStart, end: otlpRootEnd})
	sort.SliceStable(events, func(i, j int) bool { return events[i].at.Before(events[j].at) })
	return events, spans
}

// dbgptRecord is a DB-GPT record; a zero end makes it a start record.
func dbgptRecord(spanID, parent, op string, start, end time.Time, metadata string) format.DBGPTSpan {
	r := format.DBGPTSpan{SpanType: "base", TraceID: shardTraceDBGPT, SpanID: spanID, OperationName: op, Metadata: json.RawMessage(metadata)}
	if parent != "" {
		r.ParentSpanID = &parent
	}
	startText := start.Format(reader.TimeLayout)
	r.StartTime = &startText
	if !end.IsZero() {
		endText := end.Format(reader.TimeLayout)
		r.EndTime = &endText
	}
	return r
}

// otlpRequest is one OTLP span of the OTLP trace; parent 0 makes a root.
func otlpRequest(id, parent byte, name string, start, end time.Time) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "shop")
	span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	var trace pcommon.TraceID
	for i := range trace {
		trace[i] = 0x07
	}
	span.SetTraceID(trace)
	span.SetSpanID(pcommon.SpanID{0x07, 0, 0, 0, 0, 0, 0, id})
	if parent != 0 {
		span.SetParentSpanID(pcommon.SpanID{0x07, 0, 0, 0, 0, 0, 0, parent})
	}
	span.SetName(name)
	span.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	span.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
	return td
}

// shardCompression is how each shard's rotated files are compressed, so the
// fixture has gzip, zstd and plain rotated files.
var shardCompression = [shardCount]config.Compression{config.CompressionGzip, config.CompressionZstd, config.CompressionNone}

// writeShards writes the fixture's events with the collector's own encoder
// and rolling file, one writer per shard directory (root/shard-<i>), with
// daily rotation, size rotation every few records and compression, each
// writer's clock at the moment of the record it writes. It fails the test
// unless the shards hold daily, size-rotated and compressed files, so the
// test reads what it claims to.
func writeShards(t *testing.T, f config.Format, events []shardEvent) (root string) {
	t.Helper()
	root = t.TempDir()
	enc, err := format.NewEncoder(f)
	if err != nil {
		t.Fatal(err)
	}
	var writers [shardCount]*rollingfile.RollingFile
	var clocks [shardCount]atomic.Int64 // read by the writers' background compression too
	for i := range writers {
		clock := &clocks[i]
		clock.Store(shardStart.UnixNano())
		writers[i] = &rollingfile.RollingFile{
			Filename:    filepath.Join(root, fmt.Sprintf("shard-%d", i), config.DefaultPath),
			Daily:       true,
			MaxSize:     1200,
			Compression: shardCompression[i],
			Now:         func() time.Time { return time.Unix(0, clock.Load()).UTC() },
		}
	}
	for _, e := range events {
		var records []record.Record
		if e.dbgpt != nil {
			var rejections []format.Rejection
			records, rejections, err = enc.EncodeDBGPT([]format.DBGPTSpan{*e.dbgpt})
			if len(rejections) > 0 {
				t.Fatalf("encode %s: %v", e.dbgpt.OperationName, rejections)
			}
		} else {
			records, err = enc.EncodeTraces(e.otlp)
		}
		if err != nil {
			t.Fatal(err)
		}
		clocks[e.shard].Store(e.at.UnixNano())
		if err := writers[e.shard].Write(records); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for i, w := range writers {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(filepath.Join(root, fmt.Sprintf("shard-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			names = append(names, fmt.Sprintf("shard-%d/%s", i, e.Name()))
		}
	}
	all := strings.Join(names, " ")
	for _, want := range []string{"shard-0/spans.jsonl", "_2024-05-01.jsonl", "_2024-05-01.1.jsonl", ".jsonl.gz", ".jsonl.zst"} {
		if !strings.Contains(all, want) {
			t.Fatalf("the writers made no file like %q: %s", want, all)
		}
	}
	return root
}

// shardInputs are the three ways to name the shards: their directories, a
// glob matching them, and --path once per shard's active file.
func shardInputs(root string) (names []string, inputs [][]string) {
	var dirs, paths []string
	for i := range shardCount {
		dir := filepath.Join(root, fmt.Sprintf("shard-%d", i))
		dirs = append(dirs, dir)
		paths = append(paths, "--path", filepath.Join(dir, config.DefaultPath))
	}
	return []string{"directories", "glob", "--path per shard"}, [][]string{dirs, {filepath.Join(root, "shard-*")}, paths}
}

// listedSpan is a line of `list -o json`.
type listedSpan struct {
	TraceID   string          `json:"trace_id"`
	SpanID    string          `json:"span_id"`
	Operation string          `json:"operation_name"`
	Start     string          `json:"start_time"`
	End       *string         `json:"end_time"`
	Metadata  json.RawMessage `json:"metadata"`
}

func decodeListed(t *testing.T, stdout string) []listedSpan {
	t.Helper()
	var spans []listedSpan
	dec := json.NewDecoder(strings.NewReader(stdout))
	for dec.More() {
		var s listedSpan
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("list printed a line that is not JSON: %v\n%s", err, stdout)
		}
		spans = append(spans, s)
	}
	return spans
}

// byEnd is the fixture's spans in the order they ended, the order the
// reader lists them in, shard or no shard.
func byEnd(spans []shardSpan) []string {
	sorted := slices.Clone(spans)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].end.Before(sorted[j].end) })
	ops := make([]string, len(sorted))
	for i, s := range sorted {
		ops[i] = s.operation
	}
	return ops
}

// TestShardsReadAsOneSet writes three shards' files with the collector's
// writer, in both formats, and reads them as one set, named as directories,
// as a glob and as --path per shard: every span is listed once, in time
// order across the shards; the DB-GPT spans whose start and end records are
// on two shards are joined; tree, show, tail and stats agree.
func TestShardsReadAsOneSet(t *testing.T) {
	events, spans := shardFixture()
	want := byEnd(spans)
	for _, f := range []config.Format{config.FormatDBGPT, config.FormatOTLPJSON} {
		t.Run(string(f), func(t *testing.T) {
			root := writeShards(t, f, events)
			var first string
			names, inputs := shardInputs(root)
			for i, name := range names {
				inputs := inputs[i]
				stdout, stderr, err := run(t, "", append([]string{"list", "--limit", "0", "-o", "json"}, inputs...)...)
				if err != nil || stderr != "" {
					t.Fatalf("list %s: %v\n%s", name, err, stderr)
				}
				if first == "" {
					first = stdout
				} else if stdout != first {
					t.Errorf("list %s printed another list than the other inputs:\n%s\nwant:\n%s", name, stdout, first)
				}
			}
			listed := decodeListed(t, first)
			var got []string
			for _, s := range listed {
				got = append(got, s.Operation)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("listed, in this order:\n%q\nwant each span once, by time across shards:\n%q", got, want)
			}
			// Listed once, the start record was paired (else it would be
			// listed too, at the end); the joined span has the end's time
			// and the union of both records' metadata. In the otlp-json
			// layout DB-GPT's metadata is under "attributes", which the
			// end record's replaces whole, shards or not.
			root0 := listed[slices.Index(got, "root")]
			if root0.End == nil || *root0.End != shardStart.Add(120*time.Second).Format(reader.TimeLayout) || root0.Start != shardStart.Format(reader.TimeLayout) ||
				!bytes.Contains(root0.Metadata, []byte(`"tokens":10`)) {
				t.Errorf("the root, started on shard 0 and ended on shard 2, was not joined: %+v %s", root0, root0.Metadata)
			}
			if f == config.FormatDBGPT && !bytes.Contains(root0.Metadata, []byte(`"user":"alice"`)) {
				t.Errorf("the root, started on shard 0 and ended on shard 2, lost its start record's metadata: %s", root0.Metadata)
			}

			checkShardTree(t, root, listed[slices.Index(got, "step-05")].SpanID)
			checkShardShow(t, root, root0.SpanID, f)
			checkShardStats(t, root, len(spans))

			stdout, _, err := run(t, "", "tail", "-n", "3", "-o", "csv", filepath.Join(root, "shard-*"))
			if lines := strings.Split(strings.TrimSpace(stdout), "\n"); err != nil || len(lines) != 4 ||
				!strings.Contains(lines[1], want[len(want)-3]) || !strings.Contains(lines[3], want[len(want)-1]) {
				t.Errorf("tail -n 3 over the shards printed (err %v):\n%s\nwant the last three of %q", err, stdout, want)
			}
			stdout, _, err = run(t, "", "list", "--desc", "--limit", "2", "-o", "csv", filepath.Join(root, "shard-*"))
			if lines := strings.Split(strings.TrimSpace(stdout), "\n"); err != nil || len(lines) != 3 ||
				!strings.Contains(lines[1], want[len(want)-1]) || !strings.Contains(lines[2], want[len(want)-2]) {
				t.Errorf("list --desc --limit 2 over the shards printed (err %v):\n%s", err, stdout)
			}
		})
	}
}

// checkShardTree checks the DB-GPT trace's tree over all shards: the root
// with its twelve steps, each once, none an orphan, and the step that
// started on shard 1 and ended on shard 0 with its whole duration.
func checkShardTree(t *testing.T, root, splitStepID string) {
	t.Helper()
	stdout, stderr, err := run(t, "", "tree", "--trace-id", shardTraceDBGPT, filepath.Join(root, "shard-*"))
	if err != nil {
		t.Fatalf("tree: %v\n%s", err, stderr)
	}
	if strings.Contains(stdout, "orphans") || strings.Count(stdout, "root") != 1 {
		t.Errorf("tree over the shards is not one tree under one root:\n%s", stdout)
	}
	for k := 1; k <= 12; k++ {
		if n := strings.Count(stdout, fmt.Sprintf("step-%02d", k)); n != 1 {
			t.Errorf("tree shows step-%02d %d times, want once:\n%s", k, n, stdout)
		}
	}
	for _, line := range strings.Split(stdout, "\n") {
		if strings.Contains(line, "step-05") && !strings.Contains(line, "3s") {
			t.Errorf("step-05, started on shard 1 and ended on shard 0, is not one 3s span: %s", line)
		}
	}
	stdout, _, err = run(t, "", "list", "--span-id", splitStepID, "-o", "csv", filepath.Join(root, "shard-*"))
	if err != nil || strings.Count(stdout, "\n") != 2 || !strings.Contains(stdout, ",3000,") {
		t.Errorf("list --span-id of the split step printed (err %v):\n%s", err, stdout)
	}
}

// checkShardShow checks that show prints the split root once, joined.
func checkShardShow(t *testing.T, root, rootID string, f config.Format) {
	t.Helper()
	stdout, stderr, err := run(t, "", "show", rootID, filepath.Join(root, "shard-0"), filepath.Join(root, "shard-1"), filepath.Join(root, "shard-2"))
	if err != nil {
		t.Fatalf("show: %v\n%s", err, stderr)
	}
	if f == config.FormatDBGPT && !strings.Contains(stdout, `"user": "alice"`) {
		t.Errorf("show of the root split across shards lost the start record's metadata:\n%s", stdout)
	}
	if strings.Count(stdout, `"span_id"`) != 1 || !strings.Contains(stdout, `"tokens": 10`) ||
		!strings.Contains(stdout, shardStart.Add(120*time.Second).Format(reader.TimeLayout)) {
		t.Errorf("show of the root split across shards printed:\n%s", stdout)
	}
}

// statsTotal is the total of `stats -o json`.
type statsTotal struct {
	Total struct {
		Spans  int `json:"spans"`
		Traces int `json:"traces"`
	} `json:"total"`
}

func runStats(t *testing.T, inputs ...string) statsTotal {
	t.Helper()
	stdout, stderr, err := run(t, "", append([]string{"stats", "-o", "json"}, inputs...)...)
	if err != nil {
		t.Fatalf("stats %q: %v\n%s", inputs, err, stderr)
	}
	var got statsTotal
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("stats -o json: %v\n%s", err, stdout)
	}
	return got
}

// checkShardStats checks that stats over all shards counts every span once:
// the sum of the shards' own counts, less one for each span that two shards
// each count half of (the two DB-GPT spans whose records are split).
func checkShardStats(t *testing.T, root string, spans int) {
	t.Helper()
	all := runStats(t, filepath.Join(root, "shard-*"))
	sum := 0
	for i := range shardCount {
		sum += runStats(t, filepath.Join(root, fmt.Sprintf("shard-%d", i))).Total.Spans
	}
	const splitSpans = 2
	if all.Total.Spans != spans || all.Total.Spans != sum-splitSpans || all.Total.Traces != 2 {
		t.Errorf("stats over the shards: %d spans in %d traces; want %d spans (the shards' own counts add up to %d, %d spans split over two) in 2 traces",
			all.Total.Spans, all.Total.Traces, spans, sum, splitSpans)
	}
}

// TestTailFollowsOneShard checks that tail -f over several shards is a
// usage error that says what to do, however the shards are named.
func TestTailFollowsOneShard(t *testing.T) {
	root := t.TempDir()
	var paths []string
	for i := range shardCount {
		dir := filepath.Join(root, fmt.Sprintf("shard-%d", i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "spans.jsonl"), []byte(dbgptLine(shardTraceDBGPT, "s", "op", "2024-05-02 10:00:00.000", "2024-05-02 10:00:00.100")))
		paths = append(paths, "--path", filepath.Join(dir, "spans.jsonl"))
	}
	for name, args := range map[string][]string{
		"files":         {filepath.Join(root, "shard-0", "spans.jsonl"), filepath.Join(root, "shard-1", "spans.jsonl")},
		"glob":          {filepath.Join(root, "shard-*", "spans.jsonl")},
		"paths":         paths,
		"one directory": {filepath.Join(root, "shard-0")},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := run(t, "", append([]string{"tail", "-f"}, args...)...)
			if ExitCode(err) != 2 || !strings.Contains(err.Error(), "tail -f follows one") {
				t.Errorf("tail -f %q: exit code %d, error %v; want a usage error", args, ExitCode(err), err)
			}
		})
	}
}
