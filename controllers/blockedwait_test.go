package controllers

import (
	"testing"
	"time"
)

func TestBlockedWait(t *testing.T) {
	const base = 30 * time.Second
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	pending := func(age time.Duration) *observation {
		return &observation{claimWait: &claimWait{name: "x-data", since: now.Add(-age)}}
	}
	for _, tc := range []struct {
		name string
		obs  *observation
		want time.Duration
	}{
		{"a conflict alone", &observation{conflicts: []string{"ConfigMap x"}}, base},
		{"a claim pending for a minute", pending(time.Minute), base},
		{"a claim pending for 8 minutes", pending(8 * time.Minute), 2 * time.Minute},
		{"a claim pending for a day", pending(24 * time.Hour), pendingRetryCap * base},
		{"a claim pending for a day and a Secret missing", func() *observation {
			o := pending(24 * time.Hour)
			o.secretProblems = []secretProblem{{}}
			return o
		}(), base},
	} {
		if got := blockedWait(base, tc.obs, now); got != tc.want {
			t.Errorf("%s: wait %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestJittered(t *testing.T) {
	const d = 30 * time.Second
	if got := jittered(d, 0); got != d {
		t.Errorf("no jitter: %s", got)
	}
	if got := jittered(d, 0.999); got <= d || got > d+time.Duration(blockedJitter*float64(d)) {
		t.Errorf("most jitter: %s, want in (%s, %s]", got, d, d+time.Duration(blockedJitter*float64(d)))
	}
}
