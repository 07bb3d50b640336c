// Package volume reports how full the span volume is, for the alert that
// fires before writes start failing with ENOSPC: the kubelet's volume stats
// reach Prometheus only through the kubelet's own endpoint, which many
// setups do not scrape, and never with the SpanSink's labels.
package volume

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// Metric names, the contract the PrometheusRule's SpanSinkVolumeNearlyFull
// alert reads (controllers/manifests/monitoring.go).
const (
	CapacityMetric  = "spansink_volume_capacity_bytes"
	AvailableMetric = "spansink_volume_available_bytes"
)

// Collector is a prometheus.Collector that statfs(2)s a directory at each
// scrape, so the gauges are as fresh as the scrape and cost nothing between
// scrapes. When statfs fails (the volume is gone) it reports nothing rather
// than a stale or zero value; the storage's own health metric says why.
type Collector struct {
	dir       string
	capacity  *prometheus.Desc
	available *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector reports on the file system holding dir.
func NewCollector(dir string) *Collector {
	return &Collector{
		dir: dir,
		capacity: prometheus.NewDesc(CapacityMetric,
			"Size of the file system holding the span directory (statfs at scrape time).", nil, nil),
		available: prometheus.NewDesc(AvailableMetric,
			"Bytes of the file system holding the span directory that the collector may still write (statfs f_bavail at scrape time).", nil, nil),
	}
}

// Describe sends the two gauges' descriptions.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.capacity
	ch <- c.available
}

// Collect sends the two gauges, or nothing when statfs fails.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	capacity, available, err := Usage(c.dir)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.capacity, prometheus.GaugeValue, float64(capacity))
	ch <- prometheus.MustNewConstMetric(c.available, prometheus.GaugeValue, float64(available))
}

// Usage is the capacity of the file system holding dir and the bytes an
// unprivileged writer may still use there (blocks reserved for root are
// not available to the collector, which runs as non-root).
func Usage(dir string) (capacity, available uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	// Block counts are in units of the fragment size, which Linux reports
	// as Frsize and which equals Bsize on every common file system.
	unit := uint64(st.Frsize)
	if unit == 0 {
		unit = uint64(st.Bsize)
	}
	return st.Blocks * unit, st.Bavail * unit, nil
}
