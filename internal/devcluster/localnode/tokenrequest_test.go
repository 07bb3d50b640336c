package localnode

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// The node's tokens come from a real API server's TokenRequest API: the
// token file of a pod's kube-api-access volume authenticates (TokenReview)
// as the pod's service account, bound to that pod, and a sync after 80% of
// a ten-minute token's lifetime (on the node's clock) replaces it with a
// new token that authenticates too.
func TestTokenRequestAgainstAPIServer(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("needs a kube-apiserver: KUBEBUILDER_ASSETS=$(hack/control-plane.sh etcd kube-apiserver | tail -n1)")
	}
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tokens"}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// envtest runs no controllers: the account and kube-root-ca.crt are
	// made here, as the controller manager would.
	if _, err := client.CoreV1().ServiceAccounts("tokens").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "spansink"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().ConfigMaps("tokens").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt"}, Data: map[string]string{"ca.crt": string(cfg.CAData)},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The short lifetime the API server allows, so that the refresh is
	// due after eight minutes.
	volume := kubeAPIAccessVolume()
	volume.Projected.Sources[0].ServiceAccountToken.ExpirationSeconds = ptr.To[int64](minTokenExpirationSeconds)
	pod, err := client.CoreV1().Pods("tokens").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "manager"},
		Spec: corev1.PodSpec{
			ServiceAccountName: "spansink",
			Volumes:            []corev1.Volume{volume},
			Containers:         []corev1.Container{{Name: "manager", Image: "img"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	clk := clocktesting.NewFakeClock(time.Now())
	n := &Node{
		opts:     Options{StateDir: t.TempDir()},
		client:   client,
		recorder: record.NewFakeRecorder(100),
		log:      testr.New(t),
	}
	n.tokens = newTokenManager(clk, n.tokenRequester)
	dir := filepath.Join(n.opts.StateDir, "pod")
	if _, err := n.prepareVolumes(ctx, pod, dir); err != nil {
		t.Fatal(err)
	}
	vol := volumeDir(dir, volume.Name)
	readFile := func(name string) string {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(vol, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	review := func(token string) {
		t.Helper()
		r, err := client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Status.Authenticated {
			t.Fatalf("token not authenticated: %s", r.Status.Error)
		}
		if r.Status.User.Username != "system:serviceaccount:tokens:spansink" {
			t.Errorf("token authenticates as %s, want system:serviceaccount:tokens:spansink", r.Status.User.Username)
		}
		extra := r.Status.User.Extra
		if got := extra["authentication.kubernetes.io/pod-name"]; len(got) != 1 || got[0] != "manager" {
			t.Errorf("token bound to pod %v, want manager", got)
		}
		if got := extra["authentication.kubernetes.io/pod-uid"]; len(got) != 1 || got[0] != string(pod.UID) {
			t.Errorf("token bound to pod uid %v, want %s", got, pod.UID)
		}
	}
	first := readFile("token")
	review(first)
	if got := readFile("ca.crt"); got != string(cfg.CAData) {
		t.Errorf("ca.crt is not kube-root-ca.crt's: %q", got)
	}
	if got := readFile("namespace"); got != "tokens" {
		t.Errorf("namespace file holds %q, want tokens", got)
	}

	clk.Step(7 * time.Minute)
	if written, err := n.projectVolume(ctx, pod, &volume, vol); err != nil || written {
		t.Fatalf("sync at 7m of 10m: written %v (%v), want the token kept", written, err)
	}
	clk.Step(time.Minute + time.Second)
	if written, err := n.projectVolume(ctx, pod, &volume, vol); err != nil || !written {
		t.Fatalf("sync at 8m1s of 10m: written %v (%v), want a new token", written, err)
	}
	second := readFile("token")
	if second == first {
		t.Fatal("the refreshed token file holds the old token")
	}
	review(second)
}
