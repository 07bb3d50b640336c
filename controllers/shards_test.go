package controllers

import (
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// rolloutPlan is what keeps a sharded SpanSink serving through a spec
// change: every way it can answer is pinned here.
func TestRolloutPlan(t *testing.T) {
	serving := shardRollout{exists: true, serving: true}
	outdated := shardRollout{exists: true, outdated: true, serving: true}
	restarting := shardRollout{exists: true} // updated, its new pod not serving yet
	brokenOutdated := shardRollout{exists: true, outdated: true}
	missing := shardRollout{}
	cases := []struct {
		name   string
		shards []shardRollout
		want   []bool
	}{
		{"one shard rolls at once", []shardRollout{outdated}, []bool{true}},
		{"nothing to do", []shardRollout{serving, serving, serving}, []bool{false, false, false}},
		{"the lowest outdated shard moves first", []shardRollout{outdated, outdated, outdated}, []bool{true, false, false}},
		{"the next waits while the previous restarts", []shardRollout{restarting, outdated, outdated}, []bool{false, false, false}},
		{"the next moves once the previous serves", []shardRollout{serving, outdated, outdated}, []bool{false, true, false}},
		{"new shards are created at once, outdated ones wait for them", []shardRollout{outdated, missing, missing}, []bool{false, true, true}},
		{"a down outdated shard is replaced at once", []shardRollout{outdated, brokenOutdated, outdated}, []bool{false, true, false}},
		{"every down outdated shard is replaced at once", []shardRollout{brokenOutdated, serving, brokenOutdated}, []bool{true, false, true}},
		{"a down shard on the current spec holds the others", []shardRollout{outdated, restarting, outdated}, []bool{false, false, false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := rolloutPlan(tc.shards); !slices.Equal(got, tc.want) {
				t.Errorf("rolloutPlan = %v, want %v", got, tc.want)
			}
		})
	}
}

// Whatever the states, a plan never takes down a second serving shard.
func TestRolloutPlanKeepsAllButOneServing(t *testing.T) {
	states := []shardRollout{{}, {exists: true}, {exists: true, serving: true}, {exists: true, outdated: true}, {exists: true, outdated: true, serving: true}}
	var walk func(prefix []shardRollout)
	walk = func(prefix []shardRollout) {
		if len(prefix) == 3 {
			plan := rolloutPlan(prefix)
			down, stops := 0, 0
			for i, s := range prefix {
				if !s.serving {
					down++
				}
				if plan[i] && s.exists && s.outdated && s.serving {
					stops++
				}
			}
			if stops > 1 || (stops == 1 && down > 0) {
				t.Errorf("plan %v for %+v stops %d serving shards while %d are down", plan, prefix, stops, down)
			}
			return
		}
		for _, s := range states {
			walk(append(slices.Clone(prefix), s))
		}
	}
	walk(nil)
}

func TestShardDown(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	deploy := func(generation, observed int64, available int32, since time.Duration, cond corev1.ConditionStatus) *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: generation}}
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: observed, AvailableReplicas: available}
		if cond != "" {
			d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: cond, LastTransitionTime: metav1.NewTime(now.Add(-since))}}
		}
		return d
	}
	cases := []struct {
		name    string
		deploy  *appsv1.Deployment
		down    bool
		recheck time.Duration
	}{
		{"no Deployment", nil, false, 0},
		{"available", deploy(2, 2, 1, time.Hour, corev1.ConditionTrue), false, 0},
		{"unavailable for long", deploy(2, 2, 0, 2*ShardDownGrace, corev1.ConditionFalse), true, 0},
		{"unavailable briefly", deploy(2, 2, 0, 10*time.Second, corev1.ConditionFalse), false, ShardDownGrace - 10*time.Second},
		{"not yet seen by its controller", deploy(3, 2, 0, time.Hour, corev1.ConditionFalse), false, 0},
		{"no condition yet", deploy(1, 1, 0, 0, ""), false, 0},
	}
	for _, tc := range cases {
		down, recheck := shardDown(tc.deploy, now)
		if down != tc.down || recheck != tc.recheck {
			t.Errorf("%s: shardDown = %v, %v; want %v, %v", tc.name, down, recheck, tc.down, tc.recheck)
		}
	}
}
