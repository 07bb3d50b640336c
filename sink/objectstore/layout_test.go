package objectstore

import (
	"testing"
	"time"
)

func TestKeyLayout(t *testing.T) {
	cases := []struct {
		loc  Location
		name string
		want string
	}{
		{Location{Prefix: "traces", Namespace: "team-a", Sink: "dbgpt", Shard: 2}, "spans_2026-12-01.3.jsonl.zst", "traces/team-a/dbgpt/2/year=2026/month=12/day=01/spans_2026-12-01.3.jsonl.zst"},
		{Location{Prefix: "/a/b/", Namespace: "ns", Sink: "x", Shard: 0}, "spans_2024-02-29.log", "a/b/ns/x/0/year=2024/month=02/day=29/spans_2024-02-29.log"},
		{Location{Namespace: "ns", Sink: "x"}, "app_2025-01-09.jsonl.gz", "ns/x/0/year=2025/month=01/day=09/app_2025-01-09.jsonl.gz"},
	}
	for _, tc := range cases {
		got, err := tc.loc.Key(tc.name)
		if err != nil || got != tc.want {
			t.Errorf("Key(%q) = %q, %v; want %q", tc.name, got, err, tc.want)
			continue
		}
		parsed, ok := ParseKey(got)
		if !ok || parsed.Name != tc.name || parsed.Shard != tc.loc.Dir() || !parsed.Day.Equal(mustDay(t, got)) {
			t.Errorf("ParseKey(%q) = %+v, %v; want name %q under %q", got, parsed, ok, tc.name, tc.loc.Dir())
		}
	}
	if _, err := (Location{Namespace: "ns", Sink: "x"}).Key("spans.jsonl"); err == nil {
		t.Error("the active file got a key: it has no day and is never sealed")
	}
}

func mustDay(t *testing.T, key string) time.Time {
	t.Helper()
	parsed, _ := ParseKey(key)
	return parsed.Day
}

func TestParseKeyRefusesOtherKeys(t *testing.T) {
	for _, key := range []string{
		"",
		"spans_2026-12-01.jsonl",
		"ns/x/0/year=2026/month=12/spans_2026-12-01.jsonl",
		"ns/x/0/year=2026/month=12/day=02/spans_2026-12-01.jsonl", // the day disagrees with the name
		"ns/x/0/year=2026/month=13/day=01/spans_2026-13-01.jsonl",
		"ns/x/0/year=2026/month=12/day=01/notes.txt",
		"ns/x/0/year=26/month=12/day=01/spans_2026-12-01.jsonl",
	} {
		if parsed, ok := ParseKey(key); ok {
			t.Errorf("ParseKey(%q) = %+v, want refused", key, parsed)
		}
	}
}
