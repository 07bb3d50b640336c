//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/spansink/spansink/internal/devcluster/controlplane"
)

// inClusterReport is the line test/incluster prints.
type inClusterReport struct {
	Host          string              `json:"host"`
	User          string              `json:"user"`
	Extra         map[string][]string `json:"extra"`
	ServerVersion string              `json:"serverVersion"`
}

// serviceAccountMountPath is where the ServiceAccount admission plugin
// mounts the kube-api-access volume, and where rest.InClusterConfig reads.
const serviceAccountMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

var _ = Describe("a pod under its own service account", func() {
	It("gets the admission plugin's token volume, bound to the pod, and reaches the API server with rest.InClusterConfig", func(ctx SpecContext) {
		ns := newNamespace(ctx, nil)
		Expect(suite.k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe"}})).To(Succeed())
		// Secured as config/manager's pod is: its user set at the pod
		// level (so the token is that user's, 0600), a read-only root.
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "incluster"},
			Spec: corev1.PodSpec{
				ServiceAccountName: "probe",
				SecurityContext:    &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532)},
				Containers: []corev1.Container{{Name: "client", Image: inClusterImage, SecurityContext: &corev1.SecurityContext{
					ReadOnlyRootFilesystem:   ptr.To(true),
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				}}},
			},
		}
		Expect(suite.k8s.Create(ctx, pod)).To(Succeed())

		// Nothing in the pod asked for a token: the API server added it.
		var access string
		for _, v := range pod.Spec.Volumes {
			if strings.HasPrefix(v.Name, "kube-api-access-") && v.Projected != nil {
				access = v.Name
			}
		}
		Expect(access).NotTo(BeEmpty(), "the ServiceAccount admission plugin adds a kube-api-access volume; volumes: %+v", pod.Spec.Volumes)
		Expect(pod.Spec.Containers[0].VolumeMounts).To(ContainElement(HaveField("MountPath", serviceAccountMountPath)))

		var report inClusterReport
		Eventually(func(g Gomega) {
			g.Expect(suite.k8s.Get(ctx, client.ObjectKeyFromObject(pod), pod)).To(Succeed())
			logPath := suite.local.Node.LogPath(pod.UID, "client")
			g.Expect(logPath).NotTo(BeEmpty(), "pod not started; status: %+v", pod.Status)
			out, err := os.ReadFile(logPath)
			g.Expect(err).NotTo(HaveOccurred())
			line, _, _ := bytes.Cut(out, []byte("\n"))
			g.Expect(json.Unmarshal(line, &report)).To(Succeed(), "client output: %s", out)
		}).WithContext(ctx).WithTimeout(2*time.Minute).WithPolling(500*time.Millisecond).Should(Succeed(),
			func() string { return describe(ctx, ns) })
		Expect(pod.Status.Phase).To(Equal(corev1.PodRunning))

		// The in-cluster config dialled the kubernetes Service's cluster IP,
		// verified the API server against the mounted ca.crt, and the
		// token authenticated as the pod's account, bound to the pod.
		Expect(report.Host).To(Equal("https://" + net.JoinHostPort(controlplane.KubernetesServiceIP.String(), "443")))
		Expect(report.ServerVersion).NotTo(BeEmpty())
		Expect(report.User).To(Equal("system:serviceaccount:" + ns + ":probe"))
		Expect(report.Extra).To(HaveKeyWithValue("authentication.kubernetes.io/pod-name", []string{pod.Name}))
		Expect(report.Extra).To(HaveKeyWithValue("authentication.kubernetes.io/pod-uid", []string{string(pod.UID)}))

		// The files the node projected, as the pod reads them.
		dir := suite.local.Node.VolumePath(pod.UID, access)
		Expect(dir).NotTo(BeEmpty())
		read := func(name string) string {
			GinkgoHelper()
			data, err := os.ReadFile(filepath.Join(dir, name))
			Expect(err).NotTo(HaveOccurred())
			return string(data)
		}
		info, err := os.Stat(filepath.Join(dir, "token"))
		Expect(err).NotTo(HaveOccurred())
		Expect(info.Mode().Perm()).To(Equal(os.FileMode(0o600)))
		Expect(info.Sys().(*syscall.Stat_t).Uid).To(BeEquivalentTo(65532), "the token belongs to the pod's runAsUser")
		clientset, err := kubernetes.NewForConfig(suite.local.Config)
		Expect(err).NotTo(HaveOccurred())
		review, err := clientset.AuthenticationV1().TokenReviews().Create(ctx,
			&authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: read("token")}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(review.Status.Authenticated).To(BeTrue(), "token review: %s", review.Status.Error)
		Expect(review.Status.User.Username).To(Equal("system:serviceaccount:" + ns + ":probe"))
		Expect(review.Status.User.Extra).To(HaveKeyWithValue("authentication.kubernetes.io/pod-uid", authenticationv1.ExtraValue{string(pod.UID)}))

		rootCA := &corev1.ConfigMap{}
		Expect(suite.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "kube-root-ca.crt"}, rootCA)).To(Succeed())
		Expect(read("ca.crt")).To(Equal(rootCA.Data["ca.crt"]))
		Expect(read("ca.crt")).To(Equal(string(suite.local.Config.CAData)), "kube-root-ca.crt is the API server's serving CA")
		Expect(read("namespace")).To(Equal(ns))
	})
})
