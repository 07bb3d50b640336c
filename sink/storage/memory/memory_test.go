package memory

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
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

func line(size int, fill byte) record.Record {
	return record.Record{Line: bytes.Repeat([]byte{fill}, size), Spans: 1}
}

func TestRingKeepsWithinItsByteBudget(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		maxRecords int
		maxBytes   int64
		sizes      []int
		wantSizes  []int // of Recent(all), oldest first
		tooLarge   uint64
	}{
		{"fits", 10, 100, []int{10, 20, 30}, []int{10, 20, 30}, 0},
		{"evicts the oldest for bytes", 10, 100, []int{40, 40, 40}, []int{40, 40}, 0},
		{"evicts for records", 2, 100, []int{1, 2, 3}, []int{2, 3}, 0},
		{"exactly the budget", 10, 100, []int{30, 100}, []int{100}, 0},
		{"too large is skipped and counted", 10, 100, []int{10, 101, 20}, []int{10, 20}, 1},
		{"wraps around the arena end", 10, 100, []int{30, 30, 30, 30, 30, 30, 30}, []int{30, 30, 30}, 0},
		{"empty lines", 3, 10, []int{0, 10, 0, 0}, []int{10, 0, 0}, 0},
		{"mixed sizes wrap", 100, 100, []int{60, 10, 35, 50, 5, 45, 1}, []int{5, 45, 1}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := NewBounded(tc.maxRecords, tc.maxBytes)
			for i, size := range tc.sizes {
				if err := r.Write([]record.Record{line(size, byte('a'+i))}); err != nil {
					t.Fatal(err)
				}
			}
			got := r.Recent(1000)
			var sizes []int
			for _, l := range got {
				sizes = append(sizes, len(l))
			}
			if !slices.Equal(sizes, tc.wantSizes) {
				t.Fatalf("kept sizes %v, want %v", sizes, tc.wantSizes)
			}
			// Each kept line is whole and the one written last with that size.
			for i, l := range got {
				idx := len(tc.sizes) - len(got) + i
				if tc.tooLarge > 0 {
					break // indexes shift around the skipped line
				}
				if want := bytes.Repeat([]byte{byte('a' + idx)}, tc.sizes[idx]); !bytes.Equal(l, want) {
					t.Fatalf("line %d = %q, want %q", i, l, want)
				}
			}
			st := r.Stats()
			if st.ArenaBytes > int(tc.maxBytes) || st.LineBytes > int(tc.maxBytes) {
				t.Fatalf("stats %+v exceed the budget %d", st, tc.maxBytes)
			}
			if st.TooLarge != tc.tooLarge {
				t.Fatalf("TooLarge = %d, want %d", st.TooLarge, tc.tooLarge)
			}
		})
	}
}

// TestRingStaysWithinBudgetUnderRandomSizes checks every kept line against
// a model of the ring after each write.
func TestRingStaysWithinBudgetUnderRandomSizes(t *testing.T) {
	t.Parallel()
	const maxRecords, maxBytes = 50, 4096
	r := NewBounded(maxRecords, maxBytes)
	rng := rand.New(rand.NewPCG(1, 2))
	var model [][]byte
	for i := range 20000 {
		size := rng.IntN(600)
		if rng.IntN(50) == 0 {
			size = rng.IntN(maxBytes + 1)
		}
		l := fmt.Appendf(nil, "%d:", i)
		l = append(l, bytes.Repeat([]byte{'x'}, max(size-len(l), 0))...)
		if err := r.Write([]record.Record{{Line: l, Spans: 1}}); err != nil {
			t.Fatal(err)
		}
		model = append(model, l)
		total := 0
		keep := 0
		for j := len(model) - 1; j >= 0 && keep < maxRecords && total+len(model[j]) <= maxBytes; j-- {
			total += len(model[j])
			keep++
		}
		got := r.Recent(maxRecords)
		// The ring may keep fewer than the model when the arena is
		// fragmented, never more, and always the newest ones intact.
		if len(got) > keep || len(got) == 0 {
			t.Fatalf("write %d: ring keeps %d lines, model at most %d", i, len(got), keep)
		}
		for j, g := range got {
			if want := model[len(model)-len(got)+j]; !bytes.Equal(g, want) {
				t.Fatalf("write %d: line %d = %.20q, want %.20q", i, j, g, want)
			}
		}
		if st := r.Stats(); st.ArenaBytes > maxBytes {
			t.Fatalf("arena %d over budget %d", st.ArenaBytes, maxBytes)
		}
	}
}

// TestRingGivesMemoryBack writes what once made the ring keep 686 MiB (40
// spans with a 15 MiB attribute, then 1,000 small ones) and measures what it
// keeps: in its own accounting and in the Go heap after a collection.
func TestRingGivesMemoryBack(t *testing.T) {
	const budget = 16 << 20
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	r := NewBounded(1000, budget)
	big := line(15<<20, 'B')
	for range 40 {
		if err := r.Write([]record.Record{big}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 1000 {
		if err := r.Write([]record.Record{{Line: fmt.Appendf(nil, `{"span":%d,"pad":"%0400d"}`, i, 0), Spans: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	big = record.Record{}
	st := r.Stats()
	if st.ArenaBytes > budget || st.Records != 1000 {
		t.Fatalf("after big then small writes the ring holds %+v, want 1000 records within %d bytes", st, budget)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	// The arena (at most the budget) plus the entries; some slack for the
	// test's own garbage.
	if limit := int64(budget + 4<<20); grown > limit {
		t.Fatalf("heap grew by %d MiB keeping the ring, want at most %d MiB", grown>>20, limit>>20)
	}
	t.Logf("ring stats %+v; heap grew %.1f MiB", st, float64(grown)/(1<<20))
	runtime.KeepAlive(r)
}

func TestRingWriteAllocatesNothingAfterWarmUp(t *testing.T) {
	r := NewBounded(100, 1<<20)
	batch := recs(0, 10)
	for range 20 {
		r.Write(batch)
	}
	if allocs := testing.AllocsPerRun(100, func() { r.Write(batch) }); allocs != 0 {
		t.Fatalf("Write allocates %v times per batch after warm-up", allocs)
	}
}

func TestRingSwitchedOffKeepsNothing(t *testing.T) {
	t.Parallel()
	r := NewBounded(10, 1<<20)
	if err := r.Write(recs(0, 3)); err != nil {
		t.Fatal(err)
	}
	r.SetKeeping(false)
	if s := r.Stats(); s.Records != 0 || s.LineBytes != 0 || s.ArenaBytes != 0 {
		t.Fatalf("switched off, the ring holds %+v; want nothing, not even its arena", s)
	}
	if err := r.Write(recs(3, 6)); err != nil {
		t.Fatal(err)
	}
	if got := r.Recent(10); len(got) != 0 {
		t.Fatalf("switched off, the ring kept %q", strs(got))
	}
	r.SetKeeping(true)
	r.SetKeeping(true) // switching on twice changes nothing
	if err := r.Write(recs(6, 8)); err != nil {
		t.Fatal(err)
	}
	if got, want := strs(r.Recent(10)), []string{`{"n":6}`, `{"n":7}`}; !slices.Equal(got, want) {
		t.Fatalf("switched on again, Recent = %v, want only what came after: %v", got, want)
	}
	if s := r.Stats(); s.ArenaBytes != initialArenaBytes {
		t.Fatalf("switched on again, the arena is %d bytes, want the initial %d", s.ArenaBytes, initialArenaBytes)
	}
}
