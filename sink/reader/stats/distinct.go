package stats

import (
	"math"
	"math/bits"
)

// exactDistinct is how many distinct values a group counts exactly before
// switching to HyperLogLog.
const exactDistinct = 1024

// hllPrecision gives 2^14 registers: 16 KiB per group, about 0.8% error.
const hllPrecision = 14

// Distinct counts distinct strings (trace ids): exactly for small groups,
// then with a HyperLogLog sketch, so memory per group is bounded.
type Distinct struct {
	exact     map[string]struct{}
	registers []uint8
}

// Add records one value.
func (d *Distinct) Add(value string) {
	if d.registers == nil {
		if d.exact == nil {
			d.exact = map[string]struct{}{}
		}
		if _, ok := d.exact[value]; ok || len(d.exact) < exactDistinct {
			d.exact[value] = struct{}{}
			return
		}
		d.registers = make([]uint8, 1<<hllPrecision)
		for v := range d.exact {
			d.addHash(hash(v))
		}
		d.exact = nil
	}
	d.addHash(hash(value))
}

func (d *Distinct) addHash(h uint64) {
	index := h >> (64 - hllPrecision)
	rank := uint8(bits.LeadingZeros64(h<<hllPrecision|1<<(hllPrecision-1))) + 1
	if rank > d.registers[index] {
		d.registers[index] = rank
	}
}

// Count returns the number of distinct values, estimated once large.
func (d *Distinct) Count() uint64 {
	if d.registers == nil {
		return uint64(len(d.exact))
	}
	m := float64(len(d.registers))
	sum, zeros := 0.0, 0
	for _, r := range d.registers {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	estimate := 0.7213 / (1 + 1.079/m) * m * m / sum
	if estimate <= 2.5*m && zeros > 0 {
		// Linear counting is more accurate for small cardinalities.
		estimate = m * math.Log(m/float64(zeros))
	}
	return uint64(estimate + 0.5)
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
