package localnode

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// conditionsOwned are the pod conditions the node sets; any other (the
// scheduler's PodScheduled, DisruptionTarget) is kept as found.
var conditionsOwned = map[corev1.PodConditionType]bool{
	corev1.PodReadyToStartContainers: true,
	corev1.PodInitialized:            true,
	corev1.ContainersReady:           true,
	corev1.PodReady:                  true,
}

// computeStatus derives the pod's status from what runs, keeping transition
// times of conditions that did not change.
func (p *podRunner) computeStatus(old corev1.PodStatus) corev1.PodStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	pod := p.pod
	hostIP := p.node.network.gateway.String()
	status := corev1.PodStatus{
		HostIP:    hostIP,
		HostIPs:   []corev1.HostIP{{IP: hostIP}},
		StartTime: &p.startTime,
		QOSClass:  old.QOSClass,
	}
	sandbox := p.net != nil
	if sandbox {
		status.PodIP = p.net.ip.String()
		status.PodIPs = []corev1.PodIP{{IP: status.PodIP}}
	}

	allReady := len(p.containers) > 0
	anyRunning, anyRan, allDone, allSucceeded := false, false, len(p.containers) > 0, true
	for i := range pod.Spec.Containers {
		spec := &pod.Spec.Containers[i]
		cs := corev1.ContainerStatus{Name: spec.Name, Image: spec.Image, ImageID: p.node.imageIDs[spec.Image]}
		if i < len(p.containers) {
			c := p.containers[i]
			c.mu.Lock()
			cs.State, cs.LastTerminationState = c.state, c.lastState
			cs.Ready, cs.RestartCount = c.ready, c.restarts
			cs.Started = ptrTo(c.started && c.state.Running != nil)
			if c.runID != "" {
				cs.ContainerID = "localnode://" + c.runID
			}
			c.mu.Unlock()
		} else {
			reason, msg := p.waiting, p.waitingMsg
			if p.refused != "" {
				reason, msg = ReasonUnsupported, p.refused
			}
			cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
			cs.Started = ptrTo(false)
		}
		allReady = allReady && cs.Ready
		anyRunning = anyRunning || cs.State.Running != nil
		anyRan = anyRan || cs.State.Running != nil || cs.State.Terminated != nil || cs.RestartCount > 0 || cs.LastTerminationState.Terminated != nil
		if t := cs.State.Terminated; t != nil {
			allSucceeded = allSucceeded && t.ExitCode == 0
		} else {
			allDone = false
		}
		status.ContainerStatuses = append(status.ContainerStatuses, cs)
	}

	restartsAfterExit := pod.Spec.RestartPolicy == corev1.RestartPolicyAlways ||
		(pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure && !allSucceeded)
	switch {
	case p.refused != "":
		status.Phase = corev1.PodPending
		status.Reason, status.Message = ReasonUnsupported, "the local node cannot run this pod faithfully: "+p.refused
	case allDone && !restartsAfterExit && p.stop == stopNone:
		status.Phase = corev1.PodFailed
		if allSucceeded {
			status.Phase = corev1.PodSucceeded
		}
	case anyRunning || anyRan:
		status.Phase = corev1.PodRunning
	default:
		status.Phase = corev1.PodPending
	}

	now := metav1.Now()
	condition := func(t corev1.PodConditionType, ok bool, reason string) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s, reason = corev1.ConditionTrue, ""
		}
		c := corev1.PodCondition{Type: t, Status: s, Reason: reason, LastTransitionTime: now}
		for _, o := range old.Conditions {
			if o.Type == t && o.Status == s {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
		return c
	}
	for _, c := range old.Conditions {
		if !conditionsOwned[c.Type] {
			status.Conditions = append(status.Conditions, c)
		}
	}
	status.Conditions = append(status.Conditions,
		condition(corev1.PodReadyToStartContainers, sandbox && p.stop == stopNone, ""),
		condition(corev1.PodInitialized, true, ""),
		condition(corev1.ContainersReady, allReady, "ContainersNotReady"),
		condition(corev1.PodReady, allReady, "ContainersNotReady"),
	)
	return status
}
