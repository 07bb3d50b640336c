package replay

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/format"
	"github.com/spansink/spansink/sink/record"
	"github.com/spansink/spansink/sink/spanfile"
	"github.com/spansink/spansink/sink/storage/rollingfile"
)

// The fixture is two shards' span directories as two collectors leave
// them after five days, the files rotated by day and by size by the
// collector's own rollingfile and written through its own encoders. For
// the first three days the collectors write the dbgpt format and gzip
// rotated files; then their config changes to otlp-json and zstd. Both
// hold OTLP traces and DB-GPT traces written as start and end records,
// some of whose start and end records went to different shards.

// fixtureDays are the days of the fixture's files.
var fixtureDays = []time.Time{
	time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC),
	time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC),
	time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC),
	time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
	time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC),
}

const (
	otlpTracesPerDay  = 30 // of three spans each
	dbgptTracesPerDay = 15 // of three spans each, six records
	spansPerDay       = 3*otlpTracesPerDay + 3*dbgptTracesPerDay
)

// wantSpan is what a span of the fixture is, as a receiver should see it.
type wantSpan struct {
	traceID, spanID, parentID string
	name, service, kind       string
	start, end                time.Time
	statusCode                string
	attrs                     map[string]any // attributes the receiver must have, with their values
	dbgpt                     bool           // written as DB-GPT records
}

// fixture is the written files and the spans they hold.
type fixture struct {
	dir    string
	shards [2][]string // each shard's rotated files, oldest first
	traces map[string][]wantSpan
}

// allFiles is every rotated file of both shards.
func (f *fixture) allFiles() []string { return append(slices.Clone(f.shards[0]), f.shards[1]...) }

// spanCount is the number of spans of the fixture.
func (f *fixture) spanCount() int {
	n := 0
	for _, spans := range f.traces {
		n += len(spans)
	}
	return n
}

var (
	fixtureOnce sync.Once
	shared      *fixture
	fixtureErr  error
)

// sharedFixture writes the fixture once per test process; tests only read it.
func sharedFixture(t *testing.T) *fixture {
	t.Helper()
	fixtureOnce.Do(func() {
		dir, err := os.MkdirTemp("", "spansink-replay-fixture-")
		if err != nil {
			fixtureErr = err
			return
		}
		shared, fixtureErr = writeFixture(dir)
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return shared
}

// shardWriter is one shard's writer: the collector's encoder for its
// format and its rolling file, on a clock the fixture moves.
type shardWriter struct {
	enc  format.Encoder
	file *rollingfile.RollingFile
}

// formatChangeDay is the index of the first day written as otlp-json
// and compressed with zstd.
const formatChangeDay = 3

// changeFormat switches a shard to otlp-json and zstd, as a config reload
// does.
func (s *shardWriter) changeFormat() error {
	enc, err := format.NewEncoder(config.FormatOTLPJSON)
	if err != nil {
		return err
	}
	s.enc = enc
	rot := s.file.Rotation()
	rot.Compression = config.CompressionZstd
	s.file.SetRotation(rot)
	return nil
}

func writeFixture(dir string) (*fixture, error) {
	f := &fixture{dir: dir, traces: map[string][]wantSpan{}}
	var now time.Time
	clock := func() time.Time { return now }
	shards := [2]*shardWriter{}
	for i := range shards {
		enc, err := format.NewEncoder(config.FormatDBGPT)
		if err != nil {
			return nil, err
		}
		shards[i] = &shardWriter{enc: enc, file: &rollingfile.RollingFile{
			Filename:    filepath.Join(dir, fmt.Sprintf("shard-%d", i), "spans.jsonl"),
			Daily:       true,
			MaxSize:     20 << 10,
			Compression: config.CompressionGzip,
			Now:         clock,
			Logger:      logr.Discard(),
		}}
	}
	seq := 0
	for d, day := range fixtureDays {
		if d == formatChangeDay {
			for _, s := range shards {
				if err := s.changeFormat(); err != nil {
					return nil, err
				}
			}
		}
		for i := range otlpTracesPerDay + dbgptTracesPerDay {
			now = day.Add(10*time.Minute + time.Duration(i)*17*time.Minute)
			seq++
			var err error
			if i < otlpTracesPerDay {
				err = f.writeOTLPTrace(shards[seq%2], seq, now)
			} else {
				err = f.writeDBGPTTrace(shards, seq, now)
			}
			if err != nil {
				return nil, err
			}
		}
	}
	// A record on the next day rotates the last day's file; it stays in
	// the active file, which is neither uploaded nor read by the tests.
	now = fixtureDays[len(fixtureDays)-1].AddDate(0, 0, 1).Add(time.Minute)
	for _, s := range shards {
		if err := s.file.Write([]record.Record{{Line: []byte(`{"span_type":"base","trace_id":"ffffffffffffffffffffffffffffffff","span_id":"ffffffffffffffff","parent_span_id":null,"operation_name":"marker","start_time":"2026-12-03 00:01:00.000","end_time":"2026-12-03 00:01:00.001","metadata":null}`), Spans: 1}}); err != nil {
			return nil, err
		}
		if err := s.file.Close(); err != nil {
			return nil, err
		}
	}
	for i := range shards {
		files, err := rotatedFiles(filepath.Join(dir, fmt.Sprintf("shard-%d", i)))
		if err != nil {
			return nil, err
		}
		f.shards[i] = files
	}
	return f, nil
}

// rotatedFiles lists a shard directory's rotated files, oldest first.
func rotatedFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type named struct {
		path    string
		rotated spanfile.Rotated
	}
	var files []named
	for _, e := range entries {
		if r, ok := spanfile.ParseRotated("spans", ".jsonl", e.Name()); ok {
			files = append(files, named{filepath.Join(dir, e.Name()), r})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].rotated.Before(files[j].rotated) })
	var paths []string
	for _, f := range files {
		paths = append(paths, f.path)
	}
	return paths, nil
}

// ids are a trace's ids, derived from its sequence number.
func traceIDOf(seq int) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], 0x5eed0000+uint64(seq))
	binary.BigEndian.PutUint64(id[8:], uint64(seq)*0x9e3779b97f4a7c15)
	return id
}

func spanIDOf(seq, n int) pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], uint64(seq)<<8|uint64(n))
	return id
}

// writeOTLPTrace writes a trace of three OTLP spans as a collector stores
// what it received over OTLP: a server root, a client child with an event
// and an error, an internal grandchild.
func (f *fixture) writeOTLPTrace(s *shardWriter, seq int, now time.Time) error {
	service := []string{"checkout", "payments", "search"}[seq%3]
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	rs.Resource().Attributes().PutStr("host.name", "node-7")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("io.opentelemetry.http")
	ss.Scope().SetVersion("1.2.0")
	traceID := traceIDOf(seq)
	start := now.Add(-time.Second)
	shapes := []struct {
		name           string
		kind           ptrace.SpanKind
		parent         int // index of the parent, -1 for the root
		offset, length time.Duration
	}{
		{"POST /pay", ptrace.SpanKindServer, -1, 0, 900 * time.Millisecond},
		{"charge card", ptrace.SpanKindClient, 0, 100 * time.Millisecond, 500*time.Millisecond + 123456},
		{"score risk", ptrace.SpanKindInternal, 1, 150 * time.Millisecond, 40 * time.Millisecond},
	}
	for n, shape := range shapes {
		span := ss.Spans().AppendEmpty()
		span.SetTraceID(traceID)
		span.SetSpanID(spanIDOf(seq, n+1))
		want := wantSpan{
			traceID: traceID.String(), spanID: spanIDOf(seq, n+1).String(), name: shape.name, service: service,
			kind: shape.kind.String(), start: start.Add(shape.offset), end: start.Add(shape.offset + shape.length),
			statusCode: "Unset",
			attrs:      map[string]any{"seq": int64(seq), "ratio": 0.25 + float64(n), "retry": n%2 == 0, "route": "/pay/" + fmt.Sprint(n)},
		}
		if shape.parent >= 0 {
			span.SetParentSpanID(spanIDOf(seq, shape.parent+1))
			want.parentID = spanIDOf(seq, shape.parent+1).String()
		}
		span.SetName(shape.name)
		span.SetKind(shape.kind)
		span.SetStartTimestamp(pcommon.NewTimestampFromTime(want.start))
		span.SetEndTimestamp(pcommon.NewTimestampFromTime(want.end))
		span.Attributes().PutInt("seq", int64(seq))
		span.Attributes().PutDouble("ratio", 0.25+float64(n))
		span.Attributes().PutBool("retry", n%2 == 0)
		span.Attributes().PutStr("route", "/pay/"+fmt.Sprint(n))
		span.Attributes().PutEmptySlice("tags").FromRaw([]any{"a", "b"})
		if shape.kind == ptrace.SpanKindClient {
			ev := span.Events().AppendEmpty()
			ev.SetName("declined")
			ev.SetTimestamp(pcommon.NewTimestampFromTime(want.start.Add(10 * time.Millisecond)))
			ev.Attributes().PutStr("reason", "insufficient funds")
			span.Status().SetCode(ptrace.StatusCodeError)
			span.Status().SetMessage("card declined")
			want.statusCode = "Error"
		}
		f.traces[want.traceID] = append(f.traces[want.traceID], want)
	}
	records, err := s.enc.EncodeTraces(td)
	if err != nil {
		return err
	}
	return s.file.Write(records)
}

// writeDBGPTTrace writes a DB-GPT trace as DB-GPT's tracer sends it: a
// start record for each span when it starts and an end record when it
// ends, ids "<trace>:<span>". Every other trace's root starts in one shard
// and ends in the other, as when a client reconnected to another shard.
func (f *fixture) writeDBGPTTrace(shards [2]*shardWriter, seq int, now time.Time) error {
	traceID := traceIDOf(seq).String()
	id := func(n int) string { return traceID + ":" + spanIDOf(seq, n).String() }
	ts := func(t time.Time) *string { s := t.Format("2006-01-02 15:04:05.000000"); return &s }
	start := now.Add(-3 * time.Second).Truncate(time.Microsecond)
	service := ""
	if seq%2 == 0 {
		service = "webserver"
	}
	meta := func(extra string) []byte {
		if service == "" {
			return []byte("{" + extra + "}")
		}
		return []byte(`{"service.name":"` + service + `",` + extra + "}")
	}
	rootParent := (*string)(nil)
	root := format.DBGPTSpan{SpanType: "chat", TraceID: traceID, SpanID: id(1), ParentSpanID: rootParent, OperationName: "chat_completion",
		StartTime: ts(start), Metadata: meta(`"user":"alice","model":"vicuna"`)}
	parent := id(1)
	child := format.DBGPTSpan{SpanType: "run", TraceID: traceID, SpanID: id(2), ParentSpanID: &parent, OperationName: "llm_generate",
		StartTime: ts(start.Add(100 * time.Millisecond)), Metadata: meta(`"model":"vicuna"`)}
	childEnd := child
	childEnd.EndTime = ts(start.Add(1600*time.Millisecond + 250*time.Microsecond))
	childEnd.Metadata = meta(`"model":"vicuna","tokens":120`)
	grandParent := id(2)
	leaf := format.DBGPTSpan{SpanType: "base", TraceID: traceID, SpanID: id(3), ParentSpanID: &grandParent, OperationName: "retrieve",
		StartTime: ts(start.Add(200 * time.Millisecond)), EndTime: ts(start.Add(300 * time.Millisecond)), Metadata: meta(`"k":3,"error":"index offline"`)}
	leafStart := leaf
	leafStart.EndTime = nil
	rootEnd := root
	rootEnd.EndTime = ts(start.Add(2 * time.Second))
	rootEnd.Metadata = meta(`"model":"vicuna","tokens":120`)

	first, second := shards[seq%2], shards[(seq/2)%2]
	for _, batch := range []struct {
		to      *shardWriter
		records []format.DBGPTSpan
	}{{first, []format.DBGPTSpan{root, child, leafStart}}, {first, []format.DBGPTSpan{leaf, childEnd}}, {second, []format.DBGPTSpan{rootEnd}}} {
		records, rejected, err := batch.to.enc.EncodeDBGPT(batch.records)
		if err != nil || len(rejected) > 0 {
			return fmt.Errorf("encode DB-GPT records: %v %v", err, rejected)
		}
		if err := batch.to.file.Write(records); err != nil {
			return err
		}
	}
	wantService := service
	if wantService == "" {
		wantService = format.DefaultDBGPTService
	}
	parse := func(s *string) time.Time {
		t, err := format.ParseDBGPTTime(*s)
		if err != nil {
			panic(err)
		}
		return t
	}
	for _, r := range []struct {
		rec    format.DBGPTSpan
		attrs  map[string]any
		status string
	}{
		{rootEnd, map[string]any{"user": "alice", "model": "vicuna", "tokens": int64(120), format.DBGPTSpanTypeAttribute: "chat"}, "Unset"},
		{childEnd, map[string]any{"model": "vicuna", "tokens": int64(120), format.DBGPTSpanTypeAttribute: "run"}, "Unset"},
		{leaf, map[string]any{"k": int64(3), "error": "index offline", format.DBGPTSpanTypeAttribute: "base"}, "Error"},
	} {
		want := wantSpan{
			traceID: traceID, spanID: strings.TrimPrefix(r.rec.SpanID, traceID+":"), name: r.rec.OperationName, service: wantService,
			kind: "Unspecified", start: parse(r.rec.StartTime), end: parse(r.rec.EndTime), statusCode: r.status, attrs: r.attrs, dbgpt: true,
		}
		if r.rec.ParentSpanID != nil {
			want.parentID = strings.TrimPrefix(*r.rec.ParentSpanID, traceID+":")
		}
		f.traces[traceID] = append(f.traces[traceID], want)
	}
	return nil
}
