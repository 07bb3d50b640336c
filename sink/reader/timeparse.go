package reader

import (
	"fmt"
	"strings"
	"time"
)

// parseSpanTime reads a span time as DB-GPT and the collector write it,
// "YYYY-MM-DD HH:MM:SS.mmm" in UTC, by hand: it runs twice per line on the hot
// path, where time.Parse costs more than the rest of the decode. Other
// layouts (a 'T' separator, any number of fraction digits, a zone) fall back
// to time.Parse.
func parseSpanTime(s []byte) (time.Time, error) {
	if len(s) >= 19 && len(s) <= 29 && s[4] == '-' && s[7] == '-' && (s[10] == ' ' || s[10] == 'T') &&
		s[13] == ':' && s[16] == ':' {
		year, ok1 := digits(s[0:4])
		month, ok2 := digits(s[5:7])
		day, ok3 := digits(s[8:10])
		hour, ok4 := digits(s[11:13])
		minute, ok5 := digits(s[14:16])
		second, ok6 := digits(s[17:19])
		nanos, ok7 := 0, true
		if len(s) > 19 {
			if s[19] != '.' || len(s) == 20 {
				ok7 = false
			} else {
				frac := s[20:]
				nanos, ok7 = digits(frac)
				for i := len(frac); i < 9; i++ {
					nanos *= 10
				}
			}
		}
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && month >= 1 && month <= 12 && day >= 1 &&
			hour < 24 && minute < 60 && second < 60 {
			// time.Date would carry 2024-02-30 over to 1 March; the day must
			// exist in its month, as time.Parse (and so ingest) requires.
			t := time.Date(year, time.Month(month), day, hour, minute, second, nanos, time.UTC)
			if t.Day() == day {
				return t, nil
			}
			return time.Time{}, fmt.Errorf("unreadable time %q: %04d-%02d has no day %d", s, year, month, day)
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

// digits parses a short run of ASCII digits.
func digits(s []byte) (int, bool) {
	if len(s) == 0 || len(s) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
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
