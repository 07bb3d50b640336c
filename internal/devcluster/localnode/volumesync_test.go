package localnode

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

// syncedPod starts the volume refresh of a pod with a configMap volume and
// an optional secret volume, as a running pod has it, against an API server
// fake (the process boundary).
func syncedPod(t *testing.T, period time.Duration) *syncedVolumes {
	t.Helper()
	client := fake.NewClientset(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"},
		Data:       map[string]string{"collector.yaml": "batch: {size: 1}\n"},
	})
	var mu sync.Mutex
	var times []time.Time
	client.PrependReactor("get", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		return false, nil, nil
	})
	recorder := record.NewFakeRecorder(100)
	n := &Node{
		opts:     Options{StateDir: t.TempDir(), VolumeSyncPeriod: period},
		client:   client,
		recorder: recorder,
		log:      testr.New(t),
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "uid"},
		Spec: corev1.PodSpec{Volumes: []corev1.Volume{
			{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}}}},
			{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", Optional: ptr.To(true)}}},
		}},
	}
	p := newPodRunner(n, pod)
	// Not t.Context: that ends before the cleanup, and the refresh must stop
	// with the pod, not only with the node.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := n.prepareVolumes(ctx, pod, p.dir); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.syncVolumes(ctx)
	}()
	// Runs before cancel: cleanups run last registered first.
	t.Cleanup(func() {
		p.requestStop(stopShutdown, 0)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the volume refresh did not stop with the pod")
		}
	})
	return &syncedVolumes{
		dir:    filepath.Join(p.dir, "volumes"),
		client: client,
		events: recorder.Events,
		reads: func() []time.Time {
			mu.Lock()
			defer mu.Unlock()
			return append([]time.Time(nil), times...)
		},
	}
}

// syncedVolumes is a running pod's volume refresh under test.
type syncedVolumes struct {
	// dir holds the pod's volumes, one directory each.
	dir    string
	client *fake.Clientset
	// events are the events the node recorded.
	events <-chan string
	// reads are the times at which the ConfigMap was read.
	reads func() []time.Time
}

// maxSyncWait is the longest wait between two refreshes: the period plus
// its whole jitter.
func maxSyncWait(period time.Duration) time.Duration {
	return time.Duration(float64(period) * (1 + volumeSyncJitter))
}

// eventually polls check until it holds or within has passed.
func eventually(t *testing.T, within time.Duration, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A ConfigMap update reaches the running pod's file within one period plus
// its jitter, through the same directory the pod has bind-mounted; an
// optional Secret that appears and goes is projected and emptied.
func TestVolumeSyncRefreshesRunningPod(t *testing.T) {
	const period = 300 * time.Millisecond
	pod := syncedPod(t, period)
	volumes, client := pod.dir, pod.client
	config := filepath.Join(volumes, "config")
	dirInode := inode(t, config)
	readConfig := func() string {
		b, _ := os.ReadFile(filepath.Join(config, "collector.yaml"))
		return string(b)
	}
	if got := readConfig(); got != "batch: {size: 1}\n" {
		t.Fatalf("projected at start: %q", got)
	}
	if names := visibleNames(t, filepath.Join(volumes, "tls")); len(names) != 0 {
		t.Fatalf("the missing optional Secret projects %v, want nothing", names)
	}

	ctx := t.Context()
	// The bound the e2e suite relies on: the period, its jitter, and slack
	// for a loaded machine.
	within := maxSyncWait(period) + 2*time.Second
	updated := time.Now()
	if _, err := client.CoreV1().ConfigMaps("ns").Update(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"},
		Data:       map[string]string{"collector.yaml": "batch: {size: 2}\n"},
	}, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, within, "the updated ConfigMap in the pod's file", func() bool { return readConfig() == "batch: {size: 2}\n" })
	t.Logf("update projected after %s", time.Since(updated))
	if inode(t, config) != dirInode {
		t.Fatal("the refresh replaced the volume directory the pod has bind-mounted")
	}

	tls := filepath.Join(volumes, "tls")
	if _, err := client.CoreV1().Secrets("ns").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s"},
		Data:       map[string][]byte{"tls.key": []byte("key")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, within, "the created optional Secret in the pod's volume", func() bool {
		b, err := os.ReadFile(filepath.Join(tls, "tls.key"))
		return err == nil && string(b) == "key"
	})
	if err := client.CoreV1().Secrets("ns").Delete(ctx, "s", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, within, "the deleted optional Secret gone from the pod's volume", func() bool {
		_, err := os.Lstat(filepath.Join(tls, "tls.key"))
		return os.IsNotExist(err)
	})

	// A ConfigMap the pod needs that goes away leaves the files in place,
	// as on a kubelet, and says so once.
	if err := client.CoreV1().ConfigMaps("ns").Delete(ctx, "c", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case event := <-pod.events:
		if !strings.Contains(event, "FailedMount") || !strings.Contains(event, `volume "config"`) {
			t.Fatalf("event %q, want a FailedMount of volume config", event)
		}
	case <-time.After(within):
		t.Fatalf("no event within %s for a ConfigMap that is gone", within)
	}
	time.Sleep(2 * maxSyncWait(period))
	if got := readConfig(); got != "batch: {size: 2}\n" {
		t.Fatalf("after the ConfigMap was deleted the pod reads %q, want the last content", got)
	}
	select {
	case event := <-pod.events:
		t.Fatalf("the same failure reported again: %q", event)
	default:
	}
}

// Reads come no sooner than the period and no later than the period plus
// its jitter (and slack for a loaded machine), and a read that finds the
// ConfigMap unchanged rewrites nothing.
func TestVolumeSyncHonoursPeriod(t *testing.T) {
	const period = 200 * time.Millisecond
	pod := syncedPod(t, period)
	config, reads := filepath.Join(pod.dir, "config"), pod.reads
	version := dataTarget(t, config)

	eventually(t, 10*time.Second, "five refreshes", func() bool { return len(reads()) >= 6 })
	times := reads()
	// The first read is the pod's set-up; the rest are refreshes.
	for i := 1; i < len(times); i++ {
		gap := times[i].Sub(times[i-1])
		if gap < period {
			t.Errorf("refresh %d came %s after the previous read, sooner than the period %s", i, gap, period)
		}
		if limit := maxSyncWait(period) + time.Second; gap > limit {
			t.Errorf("refresh %d came %s after the previous read, later than %s", i, gap, limit)
		}
	}
	if got := dataTarget(t, config); got != version {
		t.Fatalf("refreshes of an unchanged ConfigMap switched ..data from %s to %s", version, got)
	}
}
