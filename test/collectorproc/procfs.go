package collectorproc

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Status is what /proc/<pid>/status says of the collector's memory and
// threads: what an abuse test bounds, because it is what the kernel (and a
// container's memory limit) sees, not what the Go heap reports.
type Status struct {
	// RSSBytes is VmRSS, the resident set now.
	RSSBytes int64
	// HWMBytes is VmHWM, the peak resident set since the process started.
	HWMBytes int64
	// Threads is the number of OS threads.
	Threads int
}

// ProcStatus reads the collector's /proc/<pid>/status.
func (p *Proc) ProcStatus() (Status, error) {
	return ReadStatus(p.PID())
}

// MustProcStatus is ProcStatus that fails the test on error.
func (p *Proc) MustProcStatus() Status {
	p.tb.Helper()
	s, err := p.ProcStatus()
	if err != nil {
		p.tb.Fatal(err)
	}
	return s
}

// ReadStatus reads /proc/<pid>/status of any process.
func ReadStatus(pid int) (Status, error) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	raw, err := os.ReadFile(path)
	if err != nil {
		return Status{}, fmt.Errorf("read %s: %w", path, err)
	}
	return parseStatus(raw)
}

func parseStatus(raw []byte) (Status, error) {
	var s Status
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		switch key {
		case "VmRSS":
			s.RSSBytes = n << 10 // the kernel writes kB, meaning KiB
			seen++
		case "VmHWM":
			s.HWMBytes = n << 10
			seen++
		case "Threads":
			s.Threads = int(n)
			seen++
		}
	}
	if seen != 3 {
		return Status{}, fmt.Errorf("proc status lacks VmRSS, VmHWM or Threads:\n%s", raw)
	}
	return s, nil
}
