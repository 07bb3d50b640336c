package reader

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spansink/spansink/sink/reader/readertest"
)

// writeGeneratedFile writes n generated spans with corrupt lines inserted
// before the spans at the given indexes, and returns the path.
func writeGeneratedFile(t testing.TB, n int, corruptBefore map[int]bool) string {
	t.Helper()
	var all bytes.Buffer
	if err := readertest.Write(&all, n); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for i, line := range bytes.SplitAfter(all.Bytes(), []byte("\n")) {
		if corruptBefore[i] {
			out.WriteString(`{"span_type":"base","trace_id":` + "\n")
		}
		out.Write(line)
	}
	path := filepath.Join(t.TempDir(), "spans.jsonl")
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestScanOrderAndLineNumbers scans a file of several blocks with 1 and 3
// workers: every span comes out once, in file order, and corrupt lines are
// reported with their true line numbers.
func TestScanOrderAndLineNumbers(t *testing.T) {
	const n = 6000 // about 3 MB: several blocks
	corrupt := map[int]bool{0: true, 2500: true, 5999: true}
	path := writeGeneratedFile(t, n, corrupt)
	wantLines := []int{1, 2502, 6002} // each corrupt line shifts the later ones by one
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			var warnings []Warning
			scanner := &Scanner{Workers: workers, Warn: func(w Warning) { warnings = append(warnings, w) }}
			next := 1
			summary, err := scanner.Scan(context.Background(), []string{path}, func(s *Span) error {
				if want := fmt.Sprintf("%016x", next); s.SpanID != want {
					return fmt.Errorf("span %d has id %s, want %s", next, s.SpanID, want)
				}
				next++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if next-1 != n {
				t.Errorf("emitted %d spans, want %d", next-1, n)
			}
			if summary.Lines != n+len(corrupt) || summary.Corrupt != len(corrupt) || summary.Files != 1 {
				t.Errorf("summary = %+v", summary)
			}
			if len(warnings) != len(wantLines) {
				t.Fatalf("warnings = %v", warnings)
			}
			for i, w := range warnings {
				if w.Line != wantLines[i] || w.File != path {
					t.Errorf("warning %d at %s:%d, want line %d", i, w.File, w.Line, wantLines[i])
				}
			}
		})
	}
}

// TestScanLongLine reads a line larger than a block, and an unterminated
// last line.
func TestScanLongLine(t *testing.T) {
	big := strings.Repeat("x", 3*blockSize)
	content := `{"span_type":"base","trace_id":"t","span_id":"a","operation_name":"small"}` + "\n" +
		`{"span_type":"base","trace_id":"t","span_id":"b","operation_name":"big","metadata":{"blob":"` + big + `"}}` + "\n" +
		`{"span_type":"base","trace_id":"t","span_id":"c","operation_name":"unterminated"}`
	path := filepath.Join(t.TempDir(), "spans.jsonl")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []string
	scanner := &Scanner{NeedMetadata: true, Warn: func(w Warning) { t.Errorf("unexpected warning %s", w) }}
	if _, err := scanner.Scan(context.Background(), []string{path}, func(s *Span) error {
		got = append(got, fmt.Sprintf("%s:%d", s.Operation, len(s.Metadata)))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("small:0 big:%d unterminated:0", len(big)+len(`{"blob":""}`))
	if strings.Join(got, " ") != want {
		t.Errorf("got %s, want %s", strings.Join(got, " "), want)
	}
}

// TestScanStopsEarly checks that ErrStop ends a scan without error and
// without reading the rest.
func TestScanStopsEarly(t *testing.T) {
	path := writeGeneratedFile(t, 20000, nil)
	count := 0
	summary, err := (&Scanner{}).Scan(context.Background(), []string{path}, func(*Span) error {
		count++
		if count == 5 {
			return ErrStop
		}
		return nil
	})
	if err != nil || count != 5 {
		t.Fatalf("count %d, err %v", count, err)
	}
	if summary.Lines >= 20000 {
		t.Errorf("read %d lines after a stop at 5", summary.Lines)
	}
}

// TestFilterPrefilterIsExact checks that the raw-byte prefilter never drops
// a span that the decoded comparison keeps, for values JSON may escape.
func TestFilterPrefilterIsExact(t *testing.T) {
	line := []byte(`{"span_type":"base","trace_id":"t\u0031","span_id":"a<b","operation_name":"caf\u00e9","metadata":{"q":"say \"hi\""}}`)
	cases := []Filter{{TraceID: "t1"}, {SpanID: "a<b"}, {Operation: "café"}, {Search: `"hi"`}, {Search: "café"}}
	for _, filter := range cases {
		dec := &decoder{filter: &filter}
		spans, err := dec.decodeLine(line, "f", 1, nil)
		if err != nil || len(spans) != 1 {
			t.Errorf("filter %+v: spans %d, err %v", filter, len(spans), err)
		}
	}
	// Without optional escapes on the line, a missing id skips the decode.
	plain := []byte(`{"span_type":"base","trace_id":"t1","span_id":"a","operation_name":"op","metadata":{"q":"say \"hi\""}}`)
	miss := Filter{TraceID: "t2"}
	if spans, err := (&decoder{filter: &miss}).decodeLine(plain, "f", 1, nil); len(spans) != 0 || err != errSkipped {
		t.Errorf("a non-matching id was not prefiltered: %d spans, %v", len(spans), err)
	}
}

// TestPairerEvictsBeyondBound checks that start records without ends do not
// pile up: beyond MaxPending the oldest is emitted alone.
func TestPairerEvictsBeyondBound(t *testing.T) {
	var got []string
	pairer := NewPairer(nil, false, func(s *Span) error {
		got = append(got, s.SpanID)
		return nil
	})
	pairer.MaxPending = 2
	start := readertest.Start
	for _, id := range []string{"a", "b", "c"} {
		if err := pairer.Add(&Span{TraceID: "t", SpanID: id, Start: start}); err != nil {
			t.Fatal(err)
		}
	}
	if err := pairer.Add(&Span{TraceID: "t", SpanID: "c", Start: start, End: start.Add(1)}); err != nil {
		t.Fatal(err)
	}
	if err := pairer.Flush(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "a,c,b" {
		t.Errorf("emitted %v, want a (evicted), c (paired), b (flushed)", got)
	}
}

// BenchmarkScanFullDecode measures the decode path that filters needing the
// whole record (service, time, duration) take: no line is prefiltered away.
func BenchmarkScanFullDecode(b *testing.B) {
	path := writeGeneratedFile(b, 200000, nil)
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(info.Size())
	filter := &Filter{Service: "payments", ErrorsOnly: true}
	for range b.N {
		if _, err := (&Scanner{Filter: filter}).Scan(context.Background(), []string{path}, func(*Span) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
