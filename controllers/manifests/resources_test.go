package manifests

import (
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// A SpanSink without resources gets requests and a memory limit from the
// config's MemoryBounds; whatever it sets wins name by name, and a default
// gives way so that no request exceeds its limit. Whatever the memory
// limit, the collector's Go soft limit (GOMEMLIMIT) stays below it.
func TestCollectorResources(t *testing.T) {
	q := resource.MustParse
	cases := []struct {
		name       string
		user       corev1.ResourceRequirements
		debug      bool
		maxQueued  int32
		want       corev1.ResourceRequirements
		wantMemLim string
	}{
		{"none set: defaults from the config", corev1.ResourceRequirements{}, false, 0,
			corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("125Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: q("354Mi")},
			}, "354Mi"},
		{"debug ring and a bigger queue raise the limit", corev1.ResourceRequirements{}, true, 1_000_000,
			corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("125Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: q("1249Mi")},
			}, "1249Mi"},
		{"user memory limit wins; the request stays within it", corev1.ResourceRequirements{
			Limits: corev1.ResourceList{corev1.ResourceMemory: q("100Mi")},
		}, false, 0, corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("100Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: q("100Mi")},
		}, "100Mi"},
		{"user memory request above the default limit raises the limit", corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceMemory: q("1Gi")},
		}, false, 0, corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("1Gi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: q("1Gi")},
		}, "1Gi"},
		{"user CPU limit below the default request caps it", corev1.ResourceRequirements{
			Limits: corev1.ResourceList{corev1.ResourceCPU: q("50m")},
		}, false, 0, corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("50m"), corev1.ResourceMemory: q("125Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: q("50m"), corev1.ResourceMemory: q("354Mi")},
		}, "354Mi"},
		{"everything set: nothing added", corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("1"), corev1.ResourceMemory: q("256Mi"), corev1.ResourceEphemeralStorage: q("1Gi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: q("2Gi")},
		}, false, 0, corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("1"), corev1.ResourceMemory: q("256Mi"), corev1.ResourceEphemeralStorage: q("1Gi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: q("2Gi")},
		}, "2Gi"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sink := defaultedSink()
			sink.Spec.Resources = tc.user
			sink.Spec.Debug.Enabled = tc.debug
			if tc.maxQueued > 0 {
				sink.Spec.Batch.MaxQueuedSpans = tc.maxQueued
			}
			desired, err := Build(Params{Sink: sink, DefaultImage: testImage})
			if err != nil {
				t.Fatal(err)
			}
			c := desired.Shards[0].Deployment.Spec.Template.Spec.Containers[0]
			if !equalResources(c.Resources, tc.want) {
				t.Errorf("resources = %v, want %v", c.Resources, tc.want)
			}
			for name, req := range c.Resources.Requests {
				if lim, ok := c.Resources.Limits[name]; ok && req.Cmp(lim) > 0 {
					t.Errorf("%s request %s exceeds its limit %s", name, req.String(), lim.String())
				}
			}
			limit := q(tc.wantMemLim)
			var soft int64 = -1
			for _, env := range c.Env {
				if env.Name == "GOMEMLIMIT" {
					if soft, err = strconv.ParseInt(env.Value, 10, 64); err != nil {
						t.Fatalf("GOMEMLIMIT %q is not a byte count: %v", env.Value, err)
					}
				}
			}
			if soft <= 0 || soft >= limit.Value() {
				t.Errorf("GOMEMLIMIT = %d, want positive and below the pod's memory limit %d", soft, limit.Value())
			}
			if tc.user.Limits == nil && soft < limit.Value()-32<<20 {
				t.Errorf("GOMEMLIMIT = %d leaves more than the 32 MiB outside the Go runtime below the limit %d", soft, limit.Value())
			}
		})
	}
}

func equalResources(a, b corev1.ResourceRequirements) bool {
	equal := func(x, y corev1.ResourceList) bool {
		if len(x) != len(y) {
			return false
		}
		for name, qx := range x {
			qy, ok := y[name]
			if !ok || qx.Cmp(qy) != 0 {
				return false
			}
		}
		return true
	}
	return equal(a.Requests, b.Requests) && equal(a.Limits, b.Limits)
}
