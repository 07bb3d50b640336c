package reader

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spansink/spansink/sink/format"
)

// parseSpanTime reads a span time as DB-GPT and the collector write it,
// "YYYY-MM-DD HH:MM:SS.mmm" in UTC, by ingest's own rule
// (format.ParseDBGPTTimeBytes, fast for that shape), and also with a 'T'
// separator, or as RFC 3339 with a zone.
func parseSpanTime(s []byte) (time.Time, error) {
	if t, err := format.ParseDBGPTTimeBytes(s); err == nil {
		return t, nil
	}
	if len(s) > 10 && s[10] == 'T' {
		spaced := slices.Clone(s)
		spaced[10] = ' '
		if t, err := format.ParseDBGPTTimeBytes(spaced); err == nil {
			return t, nil
		}
	}
	text := string(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00"} {
		if t, err := time.Parse(layout, text); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unreadable time %q", text)
}

// ParseTimeFlag reads a --since/--until value: an RFC 3339 time, a
// "YYYY-MM-DD HH:MM:SS" time in UTC (DB-GPT's notation), a bare date, or a
// duration such as "15m" meaning that long before now.
func ParseTimeFlag(value string, now time.Time) (time.Time, error) {
	value = strings.TrimSpace(value)
	if d, err := time.ParseDuration(value); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("time %q: a duration means that long ago and must not be negative", value)
		}
		return now.Add(-d), nil
	}
	if t, err := parseSpanTime([]byte(value)); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", value); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2024-05-01T10:00:00Z), \"2024-05-01 10:00:00\" (UTC), a date or a duration such as 15m", value)
}
