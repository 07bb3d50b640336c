package manifests

import (
	"strconv"

	"github.com/spansink/spansink/sink/config"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// defaultCPURequest is the collector's CPU request when the SpanSink sets
// none: about 1.5 µs of CPU per span (docs/benchmarks.md) makes it room
// for some 60k spans a second. There is no default CPU limit: the collector
// runs on one processor unless given more, and a limit would only add
// throttling latency to a process that cannot use a second core anyway.
var defaultCPURequest = resource.MustParse("100m")

// collectorResources are the SpanSink's resources with defaults filled in
// for every resource name it leaves out: a CPU request, and a memory
// request and limit from config.Config.MemoryBounds, so that the pod limit
// holds all the config lets the collector hold. A user's value always wins;
// a default is only moved so that the request stays within the limit, as
// the API server requires.
func collectorResources(user corev1.ResourceRequirements, cfg config.Config) corev1.ResourceRequirements {
	out := *user.DeepCopy()
	if out.Requests == nil {
		out.Requests = corev1.ResourceList{}
	}
	if out.Limits == nil {
		out.Limits = corev1.ResourceList{}
	}
	memRequest, memLimit := cfg.MemoryBounds()
	userMemRequest, hasMemRequest := user.Requests[corev1.ResourceMemory]
	userMemLimit, hasMemLimit := user.Limits[corev1.ResourceMemory]
	if !hasMemRequest {
		if hasMemLimit {
			memRequest = min(memRequest, userMemLimit.Value())
		}
		out.Requests[corev1.ResourceMemory] = *resource.NewQuantity(memRequest, resource.BinarySI)
	}
	if !hasMemLimit {
		if hasMemRequest {
			memLimit = max(memLimit, userMemRequest.Value())
		}
		out.Limits[corev1.ResourceMemory] = *resource.NewQuantity(memLimit, resource.BinarySI)
	}
	if _, ok := user.Requests[corev1.ResourceCPU]; !ok {
		cpu := defaultCPURequest
		if userCPULimit, ok := user.Limits[corev1.ResourceCPU]; ok && userCPULimit.Cmp(cpu) < 0 {
			cpu = userCPULimit
		}
		out.Requests[corev1.ResourceCPU] = cpu
	}
	return out
}

// runtimeEnv tunes the collector's Go runtime to its pod's resources.
//
// GOMAXPROCS: on its own the collector runs on one processor, the most
// efficient per span (sink/collector); a SpanSink that gives it a CPU limit
// of two or more cores asks for more throughput than that, so GOMAXPROCS
// follows the limit's whole cores.
//
// GOMEMLIMIT: the Go soft memory limit stays below the pod's memory limit
// (config.SoftMemoryLimit), so the garbage collector works harder before
// the kernel kills the pod rather than after.
func runtimeEnv(resources corev1.ResourceRequirements) []corev1.EnvVar {
	var env []corev1.EnvVar
	if limit, ok := resources.Limits[corev1.ResourceCPU]; ok {
		if cores := limit.MilliValue() / 1000; cores >= 2 {
			env = append(env, corev1.EnvVar{Name: "GOMAXPROCS", Value: strconv.FormatInt(cores, 10)})
		}
	}
	if limit, ok := resources.Limits[corev1.ResourceMemory]; ok {
		env = append(env, corev1.EnvVar{Name: "GOMEMLIMIT", Value: strconv.FormatInt(config.SoftMemoryLimit(limit.Value()), 10)})
	}
	return env
}
