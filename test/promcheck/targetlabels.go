package promcheck

// TargetLabels are the labels Prometheus adds to every series when it
// scrapes a target found through a ServiceMonitor or PodMonitor, so an
// expression may select or group by them although no process exports them.
// This list is the one place that says which; anything else an expression
// names must come from the scraped process.
var TargetLabels = []string{
	"job",       // the Service (ServiceMonitor) or the monitor's jobLabel
	"instance",  // the pod's address:port
	"namespace", // the target's namespace
	"pod",
	"service",
	"container",
	"endpoint", // the Service port's or the PodMonitor's podMetricsEndpoint's name
}

func isTargetLabel(name string) bool {
	for _, l := range TargetLabels {
		if l == name {
			return true
		}
	}
	return false
}
