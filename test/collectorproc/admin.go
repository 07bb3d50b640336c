package collectorproc

import (
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Admin GETs path from the admin server and returns the status and body.
func (p *Proc) Admin(path string) (int, string, error) {
	resp, err := http.Get("http://" + p.AdminAddr + path)
	if err != nil {
		return 0, "", fmt.Errorf("get admin %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, "", fmt.Errorf("read admin %s: %w", path, err)
	}
	return resp.StatusCode, string(body), nil
}

// Metric returns the value of the sample of name whose labels contain every
// one of labels (`key="value"`), from /metrics, and whether it was there. It
// fails the test when /metrics cannot be read.
func (p *Proc) Metric(name string, labels ...string) (float64, bool) {
	p.tb.Helper()
	code, body, err := p.Admin("/metrics")
	if err != nil || code != http.StatusOK {
		p.tb.Fatalf("GET /metrics: %d %v", code, err)
	}
	return sample(body, name, labels...)
}

// MetricSum returns the sum of every sample of name whose labels contain
// every one of labels, for counters split by a label the caller does not
// care about.
func (p *Proc) MetricSum(name string, labels ...string) float64 {
	p.tb.Helper()
	code, body, err := p.Admin("/metrics")
	if err != nil || code != http.StatusOK {
		p.tb.Fatalf("GET /metrics: %d %v", code, err)
	}
	var sum float64
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := sampleLine(line, name, labels...); ok {
			sum += v
		}
	}
	return sum
}

// Goroutines is the collector's go_goroutines gauge.
func (p *Proc) Goroutines() float64 {
	p.tb.Helper()
	v, ok := p.Metric("go_goroutines")
	if !ok {
		p.tb.Fatal("/metrics has no go_goroutines")
	}
	return v
}

func sample(body, name string, labels ...string) (float64, bool) {
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := sampleLine(line, name, labels...); ok {
			return v, true
		}
	}
	return 0, false
}

func sampleLine(line, name string, labels ...string) (float64, bool) {
	if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
		return 0, false
	}
	series, value, ok := strings.Cut(line, " ")
	if !ok {
		return 0, false
	}
	for _, l := range labels {
		if !strings.Contains(series, l) {
			return 0, false
		}
	}
	var v float64
	if _, err := fmt.Sscan(value, &v); err != nil {
		return 0, false
	}
	return v, true
}
