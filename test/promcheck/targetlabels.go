package promcheck

import "github.com/spansink/spansink/controllers/manifests"

// TargetLabels are the labels Prometheus adds to every series when it
// scrapes a target found through a ServiceMonitor or PodMonitor, so an
// expression may select or group by them although no process exports them.
// This list is the one place that says which; anything else an expression
// names must come from the scraped process.
var TargetLabels = []string{
	"job",       // the Service (ServiceMonitor) or the monitor's jobLabel; a SpanSink's PodMonitor sets it to manifests.JobName
	"instance",  // the pod's address:port
	"namespace", // the target's namespace
	"pod",
	"service",
	"container",
	"endpoint", // the Service port's or the PodMonitor's podMetricsEndpoint's name
	// A SpanSink's PodMonitor relabels each pod's shard label into it.
	manifests.MetricsLabelShard,
}

// ScrapeSeries are the series Prometheus itself records for every target it
// scrapes, with the target's labels only: an expression may read them
// although no process exports them.
var ScrapeSeries = []string{
	"up",
	"scrape_duration_seconds",
	"scrape_samples_scraped",
	"scrape_samples_post_metric_relabeling",
	"scrape_series_added",
}

func isTargetLabel(name string) bool {
	for _, l := range TargetLabels {
		if l == name {
			return true
		}
	}
	return false
}
