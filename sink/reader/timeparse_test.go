package reader

import (
	"testing"
	"time"
)

// The fast path must refuse what time.Parse, and so ingest, refuses, rather
// than carry an impossible date over to another day.
func TestParseSpanTimeAgreesWithTimeParse(t *testing.T) {
	for _, s := range []string{
		"2024-02-29 23:59:59.999", // a leap day
		"2023-02-29 10:00:00",     // not one
		"2024-02-30 10:00:00.000",
		"2024-04-31 00:00:00",
		"2024-12-31 23:59:60", // second 60
		"2024-13-01 00:00:00",
		"2024-01-01 24:00:00",
		"2024-01-00 10:00:00",
		"2024-06-15T08:30:00.123456789",
	} {
		want, wantErr := time.Parse("2006-01-02 15:04:05.999999999", stringsReplaceT(s))
		got, err := parseSpanTime([]byte(s))
		if (err != nil) != (wantErr != nil) {
			t.Errorf("parseSpanTime(%q) = %v, %v; time.Parse says %v, %v", s, got, err, want, wantErr)
			continue
		}
		if err == nil && !got.Equal(want) {
			t.Errorf("parseSpanTime(%q) = %v, want %v", s, got, want)
		}
	}
}

// stringsReplaceT turns the RFC 3339 separator into DB-GPT's, so that one
// layout judges both.
func stringsReplaceT(s string) string {
	b := []byte(s)
	if len(b) > 10 && b[10] == 'T' {
		b[10] = ' '
	}
	return string(b)
}
