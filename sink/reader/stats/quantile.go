// Package stats aggregates spans into per-group counts and duration
// percentiles with bounded memory per group, so `spansink spans stats` over
// millions of spans keeps a flat footprint.
package stats

import (
	"math"
	"slices"
	"sort"
	"time"
)

// exactSamples is how many durations a group keeps exactly; small inputs get
// exact percentiles, larger ones switch to the sketch.
const exactSamples = 2048

// relativeAccuracy is the sketch's guarantee: a reported percentile is within
// 1% of a duration that really is at that rank.
const relativeAccuracy = 0.01

// Quantiles estimates duration percentiles. Up to exactSamples values it
// keeps them all; beyond that it folds them into a log-bucketed histogram
// (the DDSketch idea): bucket i holds values in (γ^(i-1), γ^i], so any
// value is reported within relativeAccuracy, and the bucket count is bounded
// by the log of the value range (about 1,700 buckets from 1ns to 10 days).
type Quantiles struct {
	exact   []time.Duration
	buckets map[int32]uint64
	zeros   uint64
	count   uint64
}

var (
	gamma    = (1 + relativeAccuracy) / (1 - relativeAccuracy)
	logGamma = math.Log(gamma)
)

// Add records one duration.
func (q *Quantiles) Add(d time.Duration) {
	q.count++
	if q.buckets == nil {
		if len(q.exact) < exactSamples {
			q.exact = append(q.exact, d)
			return
		}
		q.buckets = map[int32]uint64{}
		for _, v := range q.exact {
			q.addBucket(v)
		}
		q.exact = nil
	}
	q.addBucket(d)
}

func (q *Quantiles) addBucket(d time.Duration) {
	if d <= 0 {
		q.zeros++
		return
	}
	q.buckets[int32(math.Ceil(math.Log(float64(d))/logGamma))]++
}

// Count is the number of durations added.
func (q *Quantiles) Count() uint64 { return q.count }

// Quantile returns the duration at quantile p (0 < p <= 1) by nearest rank:
// the smallest value with at least p of all values at or below it. It is
// exact while the group is small.
func (q *Quantiles) Quantile(p float64) (time.Duration, bool) {
	if q.count == 0 {
		return 0, false
	}
	rank := uint64(math.Ceil(p * float64(q.count)))
	if rank < 1 {
		rank = 1
	}
	if q.buckets == nil {
		sorted := slices.Clone(q.exact)
		slices.Sort(sorted)
		return sorted[rank-1], true
	}
	if rank <= q.zeros {
		return 0, true
	}
	seen := q.zeros
	keys := make([]int32, 0, len(q.buckets))
	for k := range q.buckets {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, k := range keys {
		seen += q.buckets[k]
		if seen >= rank {
			// The bucket's midpoint in relative terms: 2γ^i/(γ+1).
			return time.Duration(2 * math.Pow(gamma, float64(k)) / (gamma + 1)), true
		}
	}
	return 0, false
}
