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

	// 128 MiB written and fsynced leave at least 96 MiB less available.
	// Other writers on a shared file system move the figure too, so a few
	// tries are allowed; a gauge that does not follow writes fails them all.
	const written = 128 << 20
	if avail < 2*written {
		t.Skipf("only %.0f bytes available", avail)
	}
	var moves []float64
	for try := range 3 {
		before := gather(t, dir)[AvailableMetric]
		writeFile(t, filepath.Join(dir, "spans-"+strconv.Itoa(try)+".jsonl"), written)
		after := gather(t, dir)[AvailableMetric]
		if before-after >= written-drift {
			return
		}
		moves = append(moves, before-after)
	}
	t.Errorf("writing %d bytes moved %s by %v", written, AvailableMetric, moves)
}

// writeFile writes size bytes to a new file and fsyncs it.
func writeFile(t *testing.T, name string, size int) {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	for range size / len(chunk) {
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
}

// A directory that is gone reports no gauges, rather than a zero that
// would read as a full volume.
func TestMissingDirectoryReportsNothing(t *testing.T) {
	if got := gather(t, filepath.Join(t.TempDir(), "gone")); len(got) != 0 {
		t.Errorf("got %v, want no gauges", got)
	}
}
