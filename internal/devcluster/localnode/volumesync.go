package localnode

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// defaultVolumeSyncPeriod is the kubelet's default sync frequency, the
// period at which it refreshes a running pod's configMap and secret volumes.
const defaultVolumeSyncPeriod = time.Minute

// volumeSyncJitter is the kubelet's pod worker resync jitter factor: each
// wait is the period plus up to half of it again, so that the pods of a
// node do not all read the API server at once.
const volumeSyncJitter = 0.5

// syncVolumes refreshes the pod's configMap, secret and projected volumes
// until the pod stops: every VolumeSyncPeriod (plus jitter) it reads each
// ConfigMap and Secret again, renders downwardAPI items from the pod as now
// seen, replaces a service-account token that is due (tokenNeedsRefresh),
// and projects a new version of the volumes whose content changed. A volume that cannot be read keeps its current files, as on a
// kubelet, and the failure is reported as a FailedMount event.
func (p *podRunner) syncVolumes(ctx context.Context) {
	pod := p.current()
	var synced []corev1.Volume
	for _, v := range pod.Spec.Volumes {
		if projectsFiles(&v) {
			synced = append(synced, v)
		}
	}
	if len(synced) == 0 {
		return
	}
	// A read under way when the pod stops need not finish.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-p.stopped:
			cancel()
		case <-ctx.Done():
		}
	}()
	log := p.node.log.WithValues("pod", pod.Namespace+"/"+pod.Name)
	lastErr := map[string]string{}
	for {
		timer := time.NewTimer(wait.Jitter(p.node.opts.VolumeSyncPeriod, volumeSyncJitter))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		// The pod as last seen: its labels and annotations feed downwardAPI
		// items. Volumes are part of the immutable spec.
		pod := p.current()
		for i := range synced {
			v := &synced[i]
			written, err := p.node.projectVolume(ctx, pod, v, volumeDir(p.dir, v.Name))
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				// Every period would repeat the same event; report changes only.
				if msg := err.Error(); lastErr[v.Name] != msg {
					lastErr[v.Name] = msg
					log.Error(err, "refresh volume", "volume", v.Name)
					p.node.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedMount", "MountVolume.SetUp failed for volume %q: %v", v.Name, err)
				}
				continue
			}
			delete(lastErr, v.Name)
			if written {
				log.Info("volume refreshed", "volume", v.Name)
			}
		}
	}
}
