package s3read

import (
	"strconv"
	"strings"
	"time"
)

// PartitionSlack is how many days before --since and after --until are
// still read. A file's day is the day its lines were written, in the
// collector's time zone (UTC unless it runs with --utc=false), while
// --since and --until bound a span's start: a span is written after it
// starts, by up to its duration and a client's batching delay, and a zone
// shifts the day by up to 14 hours. A day either side covers all of that
// but spans that ended more than a day after they started.
const PartitionSlack = 1

// dayRange is the days whose partitions are read, both ends inclusive, as
// UTC midnights; a zero end is open.
type dayRange struct{ first, last time.Time }

// newDayRange is the partitions that can hold spans that started between
// since and until (either may be zero: open).
func newDayRange(since, until time.Time) dayRange {
	var r dayRange
	if !since.IsZero() {
		r.first = midnight(since).AddDate(0, 0, -PartitionSlack)
	}
	if !until.IsZero() {
		r.last = midnight(until).AddDate(0, 0, PartitionSlack)
	}
	return r
}

func midnight(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// bounded tells whether any partition can be outside the range.
func (r dayRange) bounded() bool { return !r.first.IsZero() || !r.last.IsZero() }

// overlap tells how the days first..last (inclusive) lie in the range:
// none of them in it, or all of them.
func (r dayRange) overlap(first, last time.Time) (none, all bool) {
	before := !r.first.IsZero() && last.Before(r.first)
	after := !r.last.IsZero() && first.After(r.last)
	if before || after {
		return true, false
	}
	startsIn := r.first.IsZero() || !first.Before(r.first)
	endsIn := r.last.IsZero() || !last.After(r.last)
	return false, startsIn && endsIn
}

// contains tells whether a day is in the range.
func (r dayRange) contains(day time.Time) bool {
	none, _ := r.overlap(day, day)
	return !none
}

// partitionOf reads the days a key prefix ending in a partition segment
// covers: ".../year=2026/" the year, ".../year=2026/month=12/" the month,
// ".../year=2026/month=12/day=01/" the day. ok is false for any other
// prefix, whose objects may be of any day.
func partitionOf(prefix string) (first, last time.Time, ok bool) {
	segments := strings.Split(strings.TrimSuffix(prefix, "/"), "/")
	n := len(segments)
	value := func(i int, name string, digits int) (int, bool) {
		if i < 0 {
			return 0, false
		}
		v, ok := strings.CutPrefix(segments[i], name+"=")
		if !ok || len(v) != digits {
			return 0, false
		}
		number, err := strconv.Atoi(v)
		return number, err == nil
	}
	if day, ok := value(n-1, "day", 2); ok {
		month, okM := value(n-2, "month", 2)
		year, okY := value(n-3, "year", 4)
		if !okM || !okY {
			return time.Time{}, time.Time{}, false
		}
		first = time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
		if first.Day() != day || int(first.Month()) != month {
			return time.Time{}, time.Time{}, false // day=31 in a 30-day month: not the layout
		}
		return first, first, true
	}
	if month, ok := value(n-1, "month", 2); ok {
		year, okY := value(n-2, "year", 4)
		if !okY || month < 1 || month > 12 {
			return time.Time{}, time.Time{}, false
		}
		first = time.Date(year, time.Month(month), 1, 0, 0, 0, 0, time.UTC)
		return first, first.AddDate(0, 1, -1), true
	}
	if year, ok := value(n-1, "year", 4); ok {
		first = time.Date(year, time.January, 1, 0, 0, 0, 0, time.UTC)
		return first, first.AddDate(1, 0, -1), true
	}
	return time.Time{}, time.Time{}, false
}
