package volume

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// gather scrapes a registry holding only a Collector of dir.
func gather(t *testing.T, dir string) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(dir))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetType() != dto.MetricType_GAUGE || len(f.GetMetric()) != 1 {
			t.Fatalf("%s: want one gauge, got %v", f.GetName(), f)
		}
		out[f.GetName()] = f.GetMetric()[0].GetGauge().GetValue()
	}
	return out
}

// df is what coreutils' df says of dir: size and available bytes.
func df(t *testing.T, dir string) (size, avail float64) {
	t.Helper()
	out, err := exec.Command("df", "-B1", "--output=size,avail", dir).Output()
	if err != nil {
		t.Skipf("df: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	fields := strings.Fields(lines[len(lines)-1])
	s, err1 := strconv.ParseFloat(fields[0], 64)
	a, err2 := strconv.ParseFloat(fields[1], 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("df output %q", out)
	}
	return s, a
}

// The gauges agree with df on a real directory, and follow what is written.
func TestGaugesMatchDFAndFollowWrites(t *testing.T) {
	dir := t.TempDir()
	got := gather(t, dir)
	size, avail := df(t, dir)
	if got[CapacityMetric] != size {
		t.Errorf("%s = %.0f, df says %.0f", CapacityMetric, got[CapacityMetric], size)
	}
	// Other writers share the file system; allow 64 MiB of drift.
	const drift = 32 << 20
	if d := got[AvailableMetric] - avail; d > drift || d < -drift {
		t.Errorf("%s = %.0f, df says %.0f", AvailableMetric, got[AvailableMetric], avail)
	}

	// 128 MiB written and fsynced leaves at least 64 MiB less available.
	const written = 128 << 20
	if avail < 2*written {
		t.Skipf("only %.0f bytes available", avail)
	}
	before := gather(t, dir)[AvailableMetric]
	f, err := os.Create(filepath.Join(dir, "spans.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	for range written / len(chunk) {
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	after := gather(t, dir)[AvailableMetric]
	if before-after < written-drift {
		t.Errorf("writing %d bytes moved %s from %.0f to %.0f", written, AvailableMetric, before, after)
	}
}

// A directory that is gone reports no gauges, rather than a zero that
// would read as a full volume.
func TestMissingDirectoryReportsNothing(t *testing.T) {
	if got := gather(t, filepath.Join(t.TempDir(), "gone")); len(got) != 0 {
		t.Errorf("got %v, want no gauges", got)
	}
}
