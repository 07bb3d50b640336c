package manager

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"
)

// "0" turns the endpoint off, secure or not; cmd/manager checks the flags'
// defaults.
func TestMetricsOffAtZero(t *testing.T) {
	for _, secure := range []bool{true, false} {
		server, err := metricsserver.NewServer(metricsOptions("0", secure), nil, nil)
		if err != nil || server != nil {
			t.Errorf("metricsOptions(\"0\", %v) makes a server (%v, %v)", secure, server, err)
		}
	}
}

// The manager's metrics endpoint, run as `spansink manager` runs it, against
// a real API server: no token is 401, a token of an identity without get on
// /metrics is 403, a token of a ServiceAccount bound to the metrics-reader
// ClusterRole of config/rbac gets the metrics. The same manager run serves
// Go's profiles on --pprof-bind-address (a subtest: starting a manager is
// the costly part).
func TestMetricsEndpointAuthenticatesAndAuthorises(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip(`KUBEBUILDER_ASSETS is not set: export KUBEBUILDER_ASSETS="$(hack/control-plane.sh | tail -n1)"`)
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	admin, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The manager runs as a user of its own, through the kubeconfig it is
	// given, with only the ClusterRoles config/rbac binds to it: the
	// controller's and the metrics authentication's.
	user, err := env.AddUser(envtest.User{Name: "spansink-manager"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"role.yaml", "metrics_auth_role.yaml"} {
		role := createClusterRole(t, ctx, admin, file)
		bind(t, ctx, admin, role, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "spansink-manager"})
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfigFile := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfigFile, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfigFile)

	addr, pprofAddr := freeAddress(t), freeAddress(t)
	// The flags' defaults but for the addresses and the image.
	opts := Options{
		MetricsAddr: addr, MetricsSecure: true, ProbeAddr: "127.0.0.1:0", PprofAddr: pprofAddr, CollectorImage: "spansink:test",
		MaxConcurrentReconciles: 2, KubeAPIQPS: DefaultKubeAPIQPS, KubeAPIBurst: DefaultKubeAPIBurst,
	}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	const ns = "default"
	readerToken := serviceAccountToken(t, ctx, admin, ns, "scraper")
	bindMetricsReader(t, ctx, admin, ns, "scraper")
	strangerToken := serviceAccountToken(t, ctx, admin, ns, "stranger")

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		// The manager's certificate is self-signed.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the test checks authentication, not the certificate
	}}
	get := func(token string) (int, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/metrics", nil)
		if err != nil {
			return 0, "", err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}

	// The server starts with the manager; wait for it to answer at all.
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, _, err := get("")
		if err == nil {
			if status != http.StatusUnauthorized {
				t.Fatalf("no token: status %d, want 401", status)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics endpoint never answered: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A token the API server rejects is refused too; controller-runtime's
	// filter (v0.25.2) answers it 500 "Authentication failed", because the
	// TokenReview authenticator reports a rejected token as an error.
	if status, body, err := get("not-a-token"); err != nil || status == http.StatusOK || strings.Contains(body, "controller_runtime") {
		t.Errorf("a bad token: status %d (%v) %q, want it refused", status, err, body)
	}
	if status, body, err := get(strangerToken); err != nil || status != http.StatusForbidden {
		t.Errorf("a ServiceAccount without get on /metrics: status %d (%v) %q, want 403", status, err, body)
	}
	// RBAC takes a moment to see the new binding.
	deadline = time.Now().Add(20 * time.Second)
	for {
		status, body, err := get(readerToken)
		if err == nil && status == http.StatusOK {
			if !strings.Contains(body, "controller_runtime_reconcile_total") {
				t.Errorf("the metrics lack the controller's reconcile counter:\n%.500s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a ServiceAccount bound to metrics-reader: status %d (%v) %q, want 200", status, err, body)
		}
		time.Sleep(200 * time.Millisecond)
	}

	t.Run("pprof", func(t *testing.T) {
		resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/heap?debug=1")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "heap profile:") {
			t.Fatalf("GET /debug/pprof/heap: status %d (%v) %.200q, want 200 and a heap profile", resp.StatusCode, err, body)
		}
	})
}

// freeAddress is a loopback address with a port nothing listens on.
func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// serviceAccountToken makes a ServiceAccount and returns a token for it.
func serviceAccountToken(t *testing.T, ctx context.Context, admin kubernetes.Interface, ns, name string) string {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	tok, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, req, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("request a token for %s: %v", name, err)
	}
	return tok.Status.Token
}

// bindMetricsReader binds config/rbac's metrics-reader ClusterRole to the
// ServiceAccount.
func bindMetricsReader(t *testing.T, ctx context.Context, admin kubernetes.Interface, ns, name string) {
	t.Helper()
	role := createClusterRole(t, ctx, admin, "metrics_reader_role.yaml")
	bind(t, ctx, admin, role, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name})
}

// createClusterRole creates the ClusterRole of a config/rbac file as the
// file has it.
func createClusterRole(t *testing.T, ctx context.Context, admin kubernetes.Interface, file string) *rbacv1.ClusterRole {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", file))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(data, role); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ClusterRole of %s: %v", file, err)
	}
	return role
}

func bind(t *testing.T, ctx context.Context, admin kubernetes.Interface, role *rbacv1.ClusterRole, subject rbacv1.Subject) {
	t.Helper()
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%s", role.Name, strings.ToLower(subject.Name))},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{subject},
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
