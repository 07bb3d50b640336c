package config

import "testing"

func TestMemoryBounds(t *testing.T) {
	const mi = 1 << 20
	cases := []struct {
		name                   string
		change                 func(*Config)
		wantRequest, wantLimit int64
	}{
		// 64 MiB base + 1,000 spans of 1 KiB + 3 × 20 MiB, rounded up;
		// 64 MiB base + 100,000 spans of 1 KiB + 3 × 64 MiB, rounded up.
		{"defaults", func(*Config) {}, 125 * mi, 354 * mi},
		{"debug ring counts when enabled", func(c *Config) { c.Debug.Enabled = true }, 125 * mi, 370 * mi},
		{"small queue and requests", func(c *Config) {
			c.Batch.Size, c.Batch.MaxQueuedSpans = 10, 1000
			c.Limits.MaxRequestBytes, c.Limits.MaxInflightBytes = 1*mi, 4*mi
		}, 68 * mi, 77 * mi},
		{"large queue", func(c *Config) { c.Batch.MaxQueuedSpans = 10_000_000 }, 125 * mi, 10022 * mi},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			tc.change(&cfg)
			if err := cfg.Validate(); err != nil {
				t.Fatalf("test config is invalid: %v", err)
			}
			request, limit := cfg.MemoryBounds()
			if request != tc.wantRequest || limit != tc.wantLimit {
				t.Errorf("MemoryBounds() = %d MiB, %d MiB; want %d MiB, %d MiB", request/mi, limit/mi, tc.wantRequest/mi, tc.wantLimit/mi)
			}
			if request > limit {
				t.Errorf("request %d exceeds limit %d", request, limit)
			}
			// The soft limit stays below the pod limit, and above all the Go
			// memory the config lets the collector hold, so a full queue with
			// every in-flight body decoded does not make the GC thrash.
			soft := SoftMemoryLimit(limit)
			held := int64(goRuntimeBytes) + int64(cfg.Batch.MaxQueuedSpans)*QueuedSpanBytes + inflightFactor*cfg.Limits.MaxInflightBytes
			if cfg.Debug.Enabled {
				held += cfg.Debug.RecentSpansBytes
			}
			if soft >= limit {
				t.Errorf("soft memory limit %d is not below the pod limit %d", soft, limit)
			}
			if soft < held {
				t.Errorf("soft memory limit %d is below the %d bytes the collector may hold", soft, held)
			}
		})
	}
}

func TestSoftMemoryLimit(t *testing.T) {
	const mi = 1 << 20
	cases := []struct {
		podLimit, want int64
	}{
		{512 * mi, 480 * mi},
		{64 * mi, 32 * mi},
		// Too small for the 32 MiB margin: half of it.
		{40 * mi, 20 * mi},
		{1 * mi, mi / 2},
	}
	for _, tc := range cases {
		if got := SoftMemoryLimit(tc.podLimit); got != tc.want {
			t.Errorf("SoftMemoryLimit(%d MiB) = %d, want %d", tc.podLimit/mi, got, tc.want)
		}
		if got := SoftMemoryLimit(tc.podLimit); got >= tc.podLimit {
			t.Errorf("SoftMemoryLimit(%d) = %d, not below the pod limit", tc.podLimit, got)
		}
	}
}
