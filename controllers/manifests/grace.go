package manifests

import (
	"time"

	"github.com/spansink/spansink/api/v1alpha1"
)

// Grace-period settings.
const (
	// DefaultGracePeriodSeconds is the pod's grace period when the spec sets
	// none. A stopping collector flushes what it holds at once, whatever
	// its flush interval, so the drain takes only the time to write and
	// fsync it; the default does not follow the flush interval, because
	// that is a live setting and a pod's grace period can only change by
	// rolling the pod.
	DefaultGracePeriodSeconds = 60
	// shutdownMargin is kept between the collector's own shutdown deadline and
	// the kubelet's SIGKILL, so the collector finishes (and logs) first.
	shutdownMargin = 5 * time.Second
)

// TerminationGracePeriodSeconds is the pod's grace period: the spec's value,
// or else DefaultGracePeriodSeconds.
func TerminationGracePeriodSeconds(sink *v1alpha1.SpanSink) int64 {
	if g := sink.Spec.TerminationGracePeriodSeconds; g != nil {
		return *g
	}
	return DefaultGracePeriodSeconds
}

// shutdownTimeout is the collector's own drain deadline, inside the grace
// period: 5 seconds less, or half of it when the period is 10 seconds or less.
func shutdownTimeout(graceSeconds int64) time.Duration {
	grace := time.Duration(graceSeconds) * time.Second
	if grace > 2*shutdownMargin {
		return grace - shutdownMargin
	}
	return grace / 2
}
