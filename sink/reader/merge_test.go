package reader

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mergeStart is when the spans of the merge tests begin.
var mergeStart = time.Date(2024, 5, 2, 10, 0, 0, 0, time.UTC)

// mergeLine is a DB-GPT record of span i: it starts at 2i ms and ends 1 ms
// later, so the spans end in the order of i; end false makes a start
// record. The padding makes the streams several blocks long.
func mergeLine(i int, end bool, metadata string) string {
	start := mergeStart.Add(time.Duration(2*i) * time.Millisecond)
	endValue := "null"
	if end {
		endValue = `"` + start.Add(time.Millisecond).Format(TimeLayout) + `"`
	}
	return fmt.Sprintf(`{"span_type":"base","trace_id":"t%d","span_id":"%08d","parent_span_id":null,"operation_name":"op","start_time":"%s","end_time":%s,"metadata":{%s"pad":"%s"}}`+"\n",
		i/8, i, start.Format(TimeLayout), endValue, metadata, strings.Repeat("x", 400))
}

// writeShardStreams spreads n spans over three shards in runs of varying
// length, each shard's lines in time order across a rotated and an active
// file, as three collectors would write them. Span split's start record is
// in shard 0 and its end record in shard 2. It returns the streams.
func writeShardStreams(t testing.TB, n, split int) [][]string {
	t.Helper()
	var shards [3]bytes.Buffer
	shard, run := 0, 0
	for i := range n {
		if run == 0 {
			shard, run = (shard+1+i%2)%3, 1+(i*7919)%23
		}
		run--
		if i == split {
			shards[0].WriteString(mergeLine(i, false, `"from":"start",`))
			shards[2].WriteString(mergeLine(i, true, `"from":"end",`))
			continue
		}
		shards[shard].WriteString(mergeLine(i, true, ""))
	}
	root := t.TempDir()
	streams := make([][]string, len(shards))
	for i := range shards {
		dir := filepath.Join(root, fmt.Sprintf("shard-%d", i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		data := shards[i].Bytes()
		half := bytes.IndexByte(data[len(data)/2:], '\n') + len(data)/2 + 1
		rotated, active := filepath.Join(dir, "spans_2024-05-02.jsonl"), filepath.Join(dir, "spans.jsonl")
		if err := os.WriteFile(rotated, data[:half], 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(active, data[half:], 0o644); err != nil {
			t.Fatal(err)
		}
		streams[i] = []string{rotated, active}
	}
	return streams
}

// TestScanStreamsMergesByTime reads three shards' streams of several blocks
// each, with 1 and 3 workers: every span comes out once and in time order
// across the shards, and the span whose start record is in shard 0 and end
// record in shard 2 comes out once, joined, where it ended.
func TestScanStreamsMergesByTime(t *testing.T) {
	const n, split = 15000, 4321 // about 8 MB: two files of two blocks per shard
	streams := writeShardStreams(t, n, split)
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			next := 0
			scanner := &Scanner{Workers: workers, NeedMetadata: true, Warn: func(w Warning) { t.Errorf("unexpected warning %s", w) }}
			summary, err := scanner.ScanStreams(context.Background(), streams, func(s *Span) error {
				if want := fmt.Sprintf("%08d", next); s.SpanID != want {
					return fmt.Errorf("span %s came out where %s should, after %d in time order", s.SpanID, want, next)
				}
				if next == split && (!bytes.Contains(s.Metadata, []byte(`"from":"end"`)) || s.Start.IsZero() || s.End.IsZero()) {
					return fmt.Errorf("the split span came out as %+v, %s", s, s.Metadata)
				}
				next++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if next != n {
				t.Errorf("emitted %d spans, want %d", next, n)
			}
			if summary.Files != 6 || summary.Lines != n+1 || summary.Corrupt != 0 {
				t.Errorf("summary = %+v", summary)
			}
		})
	}
}

// TestScanStreamsEndBeforeStart checks a span whose end record, in shard 2,
// is merged before its start record, in shard 0 (which wrote a later
// client's batch first): it comes out once, from its end record, not a
// second time without an end.
func TestScanStreamsEndBeforeStart(t *testing.T) {
	dir := t.TempDir()
	late := filepath.Join(dir, "shard-0.jsonl")
	early := filepath.Join(dir, "shard-2.jsonl")
	if err := os.WriteFile(late, []byte(mergeLine(900, true, "")+mergeLine(1, false, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(early, []byte(mergeLine(1, true, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []string
	if _, err := (&Scanner{}).ScanStreams(context.Background(), [][]string{{late}, {early}}, func(s *Span) error {
		got = append(got, fmt.Sprintf("%s ended:%v", s.SpanID, !s.End.IsZero()))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := "00000001 ended:true,00000900 ended:true"; strings.Join(got, ",") != want {
		t.Errorf("emitted %v, want %s", got, want)
	}
}

// TestPairerRemembersEndedBoundedly checks that RememberEnded drops a start
// record whose span was passed on, and forgets the oldest ids beyond its
// bound: a start record that late is held and emitted alone.
func TestPairerRemembersEndedBoundedly(t *testing.T) {
	var got []string
	pairer := NewPairer(nil, false, func(s *Span) error {
		got = append(got, fmt.Sprintf("%s:%v", s.SpanID, !s.End.IsZero()))
		return nil
	})
	pairer.RememberEnded = 2
	for _, id := range []string{"a", "b", "c"} {
		if err := pairer.Add(&Span{TraceID: "t", SpanID: id, Start: mergeStart, End: mergeStart.Add(1)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"a", "c"} {
		if err := pairer.Add(&Span{TraceID: "t", SpanID: id, Start: mergeStart}); err != nil {
			t.Fatal(err)
		}
	}
	if err := pairer.Flush(); err != nil {
		t.Fatal(err)
	}
	if want := "a:true,b:true,c:true,a:false"; strings.Join(got, ",") != want {
		t.Errorf("emitted %v, want %s: c's start dropped, a forgotten", got, want)
	}
	if len(pairer.ended.ring) != 2 || len(pairer.ended.count) != 2 {
		t.Errorf("remembers %d ids (%d distinct), want at most 2", len(pairer.ended.ring), len(pairer.ended.count))
	}
}

// TestPairerMergesMetadata checks how a start record's metadata joins its
// end record's: the end's values win and the start fills the keys the end
// left out, in the start's order; when the end holds every key of the
// start (as a collector's startEnd pair of an OTLP span does), the end
// record is kept as it is, in its own order.
func TestPairerMergesMetadata(t *testing.T) {
	cases := []struct{ name, start, end, want string }{
		{"end adds keys", `{"a":1,"b":2}`, `{"c":3,"b":4}`, `{"a":1,"b":4,"c":3}`},
		{"end replaces", `{"user":"alice"}`, `{"tokens":7}`, `{"user":"alice","tokens":7}`},
		{"end covers start", `{"kind":"server","attrs":{"k":"v"},"start_ns":1}`, `{"kind":"server","attrs":{"k":"v"},"status":{"code":"ok"},"start_ns":1,"end_ns":2}`,
			`{"kind":"server","attrs":{"k":"v"},"status":{"code":"ok"},"start_ns":1,"end_ns":2}`},
		{"end covers start, reordered", `{"a":1,"b":2}`, `{"b":3,"a":4}`, `{"b":3,"a":4}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			pairer := NewPairer(nil, true, func(s *Span) error {
				got = append(got, string(s.Metadata))
				return nil
			})
			start := &Span{TraceID: "t", SpanID: "s", Start: mergeStart, Metadata: []byte(tc.start)}
			end := &Span{TraceID: "t", SpanID: "s", Start: mergeStart, End: mergeStart.Add(time.Millisecond), Metadata: []byte(tc.end)}
			for _, s := range []*Span{start, end} {
				if err := pairer.Add(s); err != nil {
					t.Fatal(err)
				}
			}
			if err := pairer.Flush(); err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("emitted metadata %q, want one span with %s", got, tc.want)
			}
		})
	}
}

// TestScanStreamsStopsEarly checks that ErrStop ends a scan of several
// streams without error and without reading them all.
func TestScanStreamsStopsEarly(t *testing.T) {
	const n = 15000
	streams := writeShardStreams(t, n, -1)
	count := 0
	summary, err := (&Scanner{Workers: 2}).ScanStreams(context.Background(), streams, func(*Span) error {
		count++
		if count == 5 {
			return ErrStop
		}
		return nil
	})
	if err != nil || count != 5 {
		t.Fatalf("count %d, err %v", count, err)
	}
	if summary.Lines >= n {
		t.Errorf("read %d lines after a stop at 5", summary.Lines)
	}
}

// TestScanStreamsStartFirstOnTie checks that a start record and its end
// record of the same millisecond, in two streams, are joined whichever
// stream comes first.
func TestScanStreamsStartFirstOnTie(t *testing.T) {
	dir := t.TempDir()
	at := mergeStart.Format(TimeLayout)
	endFile, startFile := filepath.Join(dir, "shard-0.jsonl"), filepath.Join(dir, "shard-1.jsonl")
	record := `{"span_type":"base","trace_id":"t","span_id":"s","operation_name":"instant","start_time":"` + at + `","end_time":%s,"metadata":{"from":"%s"}}` + "\n"
	if err := os.WriteFile(endFile, []byte(fmt.Sprintf(record, `"`+at+`"`, "end")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(startFile, []byte(`{"span_type":"base","trace_id":"t","span_id":"s","operation_name":"instant","start_time":"`+at+`","end_time":null,"metadata":{"user":"alice"}}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []string
	if _, err := (&Scanner{NeedMetadata: true}).ScanStreams(context.Background(), [][]string{{endFile}, {startFile}}, func(s *Span) error {
		got = append(got, string(s.Metadata))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !strings.Contains(got[0], `"user":"alice"`) || !strings.Contains(got[0], `"from":"end"`) {
		t.Errorf("emitted spans with metadata %q, want one with both records' metadata", got)
	}
}
