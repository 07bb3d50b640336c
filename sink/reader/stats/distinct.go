package stats

import "github.com/axiomhq/hyperloglog"

// exactDistinct is how many distinct values a group counts exactly before
// switching to HyperLogLog.
const exactDistinct = 1024

// Distinct counts distinct strings (trace ids): exactly for small groups,
// then with a HyperLogLog sketch (axiomhq/hyperloglog, 2^14 registers,
// about 0.8% standard error), so memory per group is bounded. Its
// estimator has no bias where the classic one switches from linear
// counting (about 40k values), which a hand-written sketch here had: +1.7%
// on average there.
type Distinct struct {
	exact  map[string]struct{}
	sketch *hyperloglog.Sketch
}

// Add records one value.
func (d *Distinct) Add(value string) {
	if d.sketch == nil {
		if d.exact == nil {
			d.exact = map[string]struct{}{}
		}
		if _, ok := d.exact[value]; ok || len(d.exact) < exactDistinct {
			d.exact[value] = struct{}{}
			return
		}
		d.sketch = hyperloglog.New14()
		for v := range d.exact {
			d.sketch.InsertHash(hash(v))
		}
		d.exact = nil
	}
	d.sketch.InsertHash(hash(value))
}

// Count returns the number of distinct values, estimated once large.
func (d *Distinct) Count() uint64 {
	if d.sketch == nil {
		return uint64(len(d.exact))
	}
	return d.sketch.Estimate()
}

// FNV-1a constants.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// hash is FNV-1a followed by a 64-bit finalizer: deterministic across runs
// (so the same files always print the same numbers) and well mixed.
func hash(s string) uint64 {
	x := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		x ^= uint64(s[i])
		x *= fnvPrime
	}
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
