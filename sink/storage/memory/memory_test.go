package memory

import (
	"fmt"
	"slices"
	"testing"

	"github.com/spansink/spansink/sink/record"
)

func recs(from, to int) []record.Record {
	var out []record.Record
	for i := from; i < to; i++ {
		out = append(out, record.Record{Line: fmt.Appendf(nil, `{"n":%d}`, i), Spans: 1})
	}
	return out
}

func strs(lines [][]byte) []string {
	var out []string
	for _, l := range lines {
		out = append(out, string(l))
	}
	return out
}

func TestRingKeepsTheMostRecent(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		capacity int
		batches  [][2]int
		limit    int
		want     []string
	}{
		{"empty", 3, nil, 10, nil},
		{"fewer than capacity", 3, [][2]int{{0, 2}}, 10, []string{`{"n":0}`, `{"n":1}`}},
		{"wraps", 3, [][2]int{{0, 2}, {2, 5}}, 10, []string{`{"n":2}`, `{"n":3}`, `{"n":4}`}},
		{"batch bigger than ring", 3, [][2]int{{0, 7}}, 10, []string{`{"n":4}`, `{"n":5}`, `{"n":6}`}},
		{"limit", 5, [][2]int{{0, 4}}, 2, []string{`{"n":2}`, `{"n":3}`}},
		{"zero limit", 5, [][2]int{{0, 4}}, 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := New(tc.capacity)
			for _, b := range tc.batches {
				if err := r.Write(recs(b[0], b[1])); err != nil {
					t.Fatal(err)
				}
			}
			if got := strs(r.Recent(tc.limit)); !slices.Equal(got, tc.want) {
				t.Fatalf("Recent(%d) = %v, want %v", tc.limit, got, tc.want)
			}
		})
	}
}

func TestRingCopiesLines(t *testing.T) {
	t.Parallel()
	r := New(2)
	line := []byte(`{"n":1}`)
	if err := r.Write([]record.Record{{Line: line, Spans: 1}}); err != nil {
		t.Fatal(err)
	}
	line[2] = 'X' // the request buffer is reused after the write
	got := r.Recent(1)
	if string(got[0]) != `{"n":1}` {
		t.Fatalf("ring holds %q after the caller changed its buffer", got[0])
	}
	got[0][2] = 'Y'
	if again := r.Recent(1); string(again[0]) != `{"n":1}` {
		t.Fatalf("ring holds %q after the reader changed its copy", again[0])
	}
}
