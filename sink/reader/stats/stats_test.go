package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// nearestRank is the reference percentile over all values.
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	return sorted[int(math.Ceil(p*float64(len(sorted))))-1]
}

// TestQuantiles checks exact percentiles for small groups and the sketch's
// 1% relative accuracy for large ones, on skewed (log-normal) durations.
func TestQuantiles(t *testing.T) {
	for _, n := range []int{1, 10, exactSamples, 200000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(n)))
			var q Quantiles
			values := make([]time.Duration, n)
			for i := range values {
				values[i] = time.Duration(math.Exp(rng.NormFloat64()*2+14)) + 1
				q.Add(values[i])
			}
			slices.Sort(values)
			for _, p := range []float64{0.5, 0.9, 0.99} {
				got, ok := q.Quantile(p)
				want := nearestRank(values, p)
				if !ok {
					t.Fatalf("p%v: no value", p*100)
				}
				if n <= exactSamples && got != want {
					t.Errorf("p%v = %v, want exactly %v", p*100, got, want)
				}
				if rel := math.Abs(float64(got-want)) / float64(want); rel > relativeAccuracy {
					t.Errorf("p%v = %v, want %v within 1%% (off by %.2f%%)", p*100, got, want, rel*100)
				}
			}
		})
	}
	var empty Quantiles
	if _, ok := empty.Quantile(0.5); ok {
		t.Error("an empty group reported a percentile")
	}
}

func TestDistinct(t *testing.T) {
	for _, n := range []int{0, 5, exactDistinct, 100000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var d Distinct
			for i := range n {
				d.Add(fmt.Sprintf("%032x", i))
				d.Add(fmt.Sprintf("%032x", i)) // repeats do not count
			}
			got := d.Count()
			if n <= exactDistinct && got != uint64(n) {
				t.Errorf("Count = %d, want exactly %d", got, n)
			}
			if rel := math.Abs(float64(got)-float64(n)) / math.Max(1, float64(n)); rel > 0.03 {
				t.Errorf("Count = %d, want %d within 3%%", got, n)
			}
		})
	}
}
