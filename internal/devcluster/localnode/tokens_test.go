package localnode

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

// kubeAPIAccessVolume is the volume the API server's ServiceAccount
// admission plugin adds to a pod that does not opt out of a token.
func kubeAPIAccessVolume() corev1.Volume {
	return corev1.Volume{Name: "kube-api-access-x7k2p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: ptr.To[int32](0o644),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr.To[int64](3607), Path: "token"}},
			{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
			}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}},
			}}},
		},
	}}}
}

func TestTokenNeedsRefresh(t *testing.T) {
	issued := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		ttl  time.Duration
		age  time.Duration
		want bool
	}{
		{"fresh", time.Hour, 0, false},
		{"just before 80%", time.Hour, 48*time.Minute - time.Second, false},
		{"at 80%", time.Hour, 48 * time.Minute, true},
		{"expired", time.Hour, 2 * time.Hour, true},
		{"ten-minute token at 7m59s", 10 * time.Minute, 8*time.Minute - time.Second, false},
		{"ten-minute token at 8m", 10 * time.Minute, 8 * time.Minute, true},
		{"two-day token before a day", 48 * time.Hour, 24*time.Hour - time.Second, false},
		{"two-day token at a day", 48 * time.Hour, 24 * time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tokenNeedsRefresh(issued, tc.ttl, issued.Add(tc.age)); got != tc.want {
				t.Fatalf("tokenNeedsRefresh(ttl %s, age %s) = %v, want %v", tc.ttl, tc.age, got, tc.want)
			}
		})
	}
}

// tokenServer stands in for the TokenRequest API at the process boundary:
// each request gets a new token, valid as asked from the fake clock's now.
type tokenServer struct {
	clock *clocktesting.FakeClock

	mu       sync.Mutex
	requests []*authenticationv1.TokenRequest
	accounts []string
}

func (s *tokenServer) react(action k8stesting.Action) (bool, runtime.Object, error) {
	create, ok := action.(k8stesting.CreateAction)
	if !ok || action.GetSubresource() != "token" {
		return false, nil, nil
	}
	req := create.GetObject().(*authenticationv1.TokenRequest).DeepCopy()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	s.accounts = append(s.accounts, action.GetNamespace()+"/"+create.(k8stesting.CreateActionImpl).Name)
	resp := req.DeepCopy()
	resp.Status.Token = fmt.Sprintf("token-%d", len(s.requests))
	resp.Status.ExpirationTimestamp = metav1.NewTime(s.clock.Now().Add(time.Duration(*req.Spec.ExpirationSeconds) * time.Second))
	return true, resp, nil
}

func (s *tokenServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// tokenNode is a node whose API server is a fake with kube-root-ca.crt in
// namespace ns and a TokenRequest API, and whose clock is clk.
func tokenNode(t *testing.T, clk *clocktesting.FakeClock) (*Node, *tokenServer) {
	t.Helper()
	client := fake.NewClientset(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "kube-root-ca.crt"},
		Data:       map[string]string{"ca.crt": "-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n"},
	})
	server := &tokenServer{clock: clk}
	client.PrependReactor("create", "serviceaccounts", server.react)
	n := &Node{
		opts:     Options{StateDir: t.TempDir(), VolumeSyncPeriod: time.Minute},
		client:   client,
		recorder: record.NewFakeRecorder(100),
		log:      testr.New(t),
	}
	n.tokens = newTokenManager(clk, n.tokenRequester)
	return n, server
}

func tokenPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "manager-7d9f", UID: "0b5c-uid", Labels: map[string]string{"app": "spansink", "tier": "control"}},
		Spec: corev1.PodSpec{
			ServiceAccountName: "spansink",
			Volumes:            []corev1.Volume{kubeAPIAccessVolume()},
			Containers:         []corev1.Container{{Name: "manager", Image: "img"}},
		},
	}
}

// The node asks the TokenRequest API for a token bound to the pod, keeps it
// while it is fresh and asks again once 80% of its lifetime has passed.
func TestTokenManagerBindsAndRefreshes(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC))
	n, server := tokenNode(t, clk)
	pod := tokenPod()
	src := &corev1.ServiceAccountTokenProjection{Audience: "vault", ExpirationSeconds: ptr.To[int64](600), Path: "token"}
	ctx := context.Background()

	first, err := n.tokens.token(ctx, pod, src)
	if err != nil {
		t.Fatal(err)
	}
	req := server.requests[0]
	if got := server.accounts[0]; got != "ns/spansink" {
		t.Errorf("token asked for %s, want the pod's account ns/spansink", got)
	}
	if ref := req.Spec.BoundObjectRef; ref == nil || ref.Kind != "Pod" || ref.APIVersion != "v1" || ref.Name != pod.Name || ref.UID != pod.UID {
		t.Errorf("token bound to %+v, want the pod %s (%s)", ref, pod.Name, pod.UID)
	}
	if len(req.Spec.Audiences) != 1 || req.Spec.Audiences[0] != "vault" || ptr.Deref(req.Spec.ExpirationSeconds, 0) != 600 {
		t.Errorf("token asked with audiences %v and expiration %v, want [vault] and 600", req.Spec.Audiences, req.Spec.ExpirationSeconds)
	}

	clk.Step(8*time.Minute - time.Second)
	if again, err := n.tokens.token(ctx, pod, src); err != nil || again != first || server.count() != 1 {
		t.Fatalf("at 7m59s of 10m: token %q (%v) after %d requests, want the cached %q", again, err, server.count(), first)
	}
	clk.Step(time.Second)
	refreshed, err := n.tokens.token(ctx, pod, src)
	if err != nil {
		t.Fatal(err)
	}
	if refreshed == first || server.count() != 2 {
		t.Fatalf("at 8m of 10m: token %q after %d requests, want a new one", refreshed, server.count())
	}

	n.tokens.forget(pod.UID)
	if _, err := n.tokens.token(ctx, pod, src); err != nil || server.count() != 3 {
		t.Fatalf("after the pod stopped: %d requests (%v), want a new request", server.count(), err)
	}
}

func TestTokenDefaultsAndRefusals(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	n, server := tokenNode(t, clk)
	pod := tokenPod()
	pod.Spec.ServiceAccountName = ""
	if _, err := n.tokens.token(context.Background(), pod, &corev1.ServiceAccountTokenProjection{Path: "token"}); err != nil {
		t.Fatal(err)
	}
	req := server.requests[0]
	if server.accounts[0] != "ns/default" || len(req.Spec.Audiences) != 0 || ptr.Deref(req.Spec.ExpirationSeconds, 0) != 3600 {
		t.Errorf("asked %s with audiences %v, expiration %v; want ns/default, the API server's audiences, 3600", server.accounts[0], req.Spec.Audiences, req.Spec.ExpirationSeconds)
	}
	_, err := n.tokens.token(context.Background(), pod, &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](60)})
	if err == nil || err.Error() != "service-account token token: expirationSeconds 60 is below the minimum of 600: cannot be run by the local node" {
		t.Fatalf("a 60 s token: %v, want the minimum named", err)
	}
}

// The kube-api-access volume holds the token, kube-root-ca.crt's ca.crt and
// the namespace in the atomic-writer layout; a sync before the refresh is
// due writes nothing, one after it writes a new version with a new token.
func TestKubeAPIAccessVolume(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	n, server := tokenNode(t, clk)
	pod := tokenPod()
	dir := filepath.Join(n.opts.StateDir, "pod")
	if _, err := n.prepareVolumes(context.Background(), pod, dir); err != nil {
		t.Fatal(err)
	}
	vol := volumeDir(dir, pod.Spec.Volumes[0].Name)
	read := func(name string) string {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(vol, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	if got := read("token"); got != "token-1" {
		t.Errorf("token file holds %q, want token-1", got)
	}
	if got := read("ca.crt"); got != "-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n" {
		t.Errorf("ca.crt holds %q", got)
	}
	if got := read("namespace"); got != "ns" {
		t.Errorf("namespace holds %q", got)
	}
	for _, name := range []string{"token", "ca.crt", "namespace"} {
		if target, err := os.Readlink(filepath.Join(vol, name)); err != nil || target != filepath.Join(dataDirName, name) {
			t.Errorf("%s links to %q (%v), want %s", name, target, err, filepath.Join(dataDirName, name))
		}
		// No user or group set: the volume's defaultMode, as on a kubelet.
		if info, err := os.Stat(filepath.Join(vol, name)); err != nil || info.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v (%v), want 0644", name, info.Mode().Perm(), err)
		}
	}
	version := dataTarget(t, vol)

	clk.Step(40 * time.Minute)
	if written, err := n.projectVolume(context.Background(), pod, &pod.Spec.Volumes[0], vol); err != nil || written {
		t.Fatalf("sync at 40m of a 3607 s token: written %v (%v), want nothing written", written, err)
	}
	clk.Step(9 * time.Minute)
	if written, err := n.projectVolume(context.Background(), pod, &pod.Spec.Volumes[0], vol); err != nil || !written {
		t.Fatalf("sync at 49m: written %v (%v), want a new version", written, err)
	}
	if got := read("token"); got != "token-2" || server.count() != 2 {
		t.Errorf("token after the refresh: %q after %d requests, want token-2", got, server.count())
	}
	if dataTarget(t, vol) == version {
		t.Error("the refresh did not switch ..data to a new version")
	}
}

// With an fsGroup and one user for every container, the token is that
// user's, 0600 plus the group's read bit, and the other files are the
// group's: what a kubelet gives them.
func TestTokenOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving files to another user and group needs root")
	}
	n, _ := tokenNode(t, clocktesting.NewFakeClock(time.Now()))
	pod := tokenPod()
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](65532), FSGroup: ptr.To[int64](2000)}
	dir := filepath.Join(n.opts.StateDir, "pod")
	if _, err := n.prepareVolumes(context.Background(), pod, dir); err != nil {
		t.Fatal(err)
	}
	vol := volumeDir(dir, pod.Spec.Volumes[0].Name)
	for _, tc := range []struct {
		name     string
		mode     os.FileMode
		uid, gid uint32
	}{
		{"token", 0o640, 65532, 2000},
		{"ca.crt", 0o644, 0, 2000},
		{"namespace", 0o644, 0, 2000},
	} {
		info, err := os.Stat(filepath.Join(vol, tc.name))
		if err != nil {
			t.Fatal(err)
		}
		st := info.Sys().(*syscall.Stat_t)
		if info.Mode().Perm() != tc.mode || st.Uid != tc.uid || st.Gid != tc.gid {
			t.Errorf("%s: mode %v, owner %d:%d; want %v, %d:%d", tc.name, info.Mode().Perm(), st.Uid, st.Gid, tc.mode, tc.uid, tc.gid)
		}
	}
	// Unchanged ownership reads back as the same version.
	if written, err := n.projectVolume(context.Background(), pod, &pod.Spec.Volumes[0], vol); err != nil || written {
		t.Fatalf("second sync: written %v (%v), want nothing written", written, err)
	}
}

func TestFSUser(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pod     *corev1.PodSecurityContext
		users   []*int64
		want    int64
		wantSet bool
	}{
		{"none set", nil, []*int64{nil}, 0, false},
		{"pod sets it", &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000)}, []*int64{nil, nil}, 1000, true},
		{"containers agree", nil, []*int64{ptr.To[int64](7), ptr.To[int64](7)}, 7, true},
		{"containers differ", nil, []*int64{ptr.To[int64](7), ptr.To[int64](8)}, 0, false},
		{"one container unset", nil, []*int64{ptr.To[int64](7), nil}, 0, false},
		{"container overrides pod", &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000)}, []*int64{ptr.To[int64](7)}, 7, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: tc.pod}}
			for i, u := range tc.users {
				c := corev1.Container{Name: fmt.Sprint(i)}
				if u != nil {
					c.SecurityContext = &corev1.SecurityContext{RunAsUser: u}
				}
				pod.Spec.Containers = append(pod.Spec.Containers, c)
			}
			if got, ok := fsUser(pod); got != tc.want || ok != tc.wantSet {
				t.Fatalf("fsUser = %d, %v; want %d, %v", got, ok, tc.want, tc.wantSet)
			}
		})
	}
}
