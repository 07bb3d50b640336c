package controllers

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/controllers/manifests"
	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/configstatus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var _ = Describe("A SpanSink with an object store", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
	})

	It("mounts the credentials Secret, renders the store into the config, and says Uploaded as the collector reports", func() {
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "s3"},
			Data:       map[string][]byte{"AWS_ACCESS_KEY_ID": []byte("id"), "AWS_SECRET_ACCESS_KEY": []byte("secret")},
		}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
		sink := newSink(ns, "shipped")
		sink.Spec.Storage.ObjectStore = &v1alpha1.ObjectStoreSpec{
			Endpoint: "http://seaweedfs.storage:8333", Bucket: "traces", ForcePathStyle: true,
			CredentialsSecretRef: &v1alpha1.ObjectStoreCredentialsRef{Name: "s3"},
		}
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())

		var deploy *appsv1.Deployment
		var data string
		Eventually(func(g Gomega) {
			deploy = &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, key(ns, "shipped-collector"), deploy)).To(Succeed())
			pod := deploy.Spec.Template.Spec
			g.Expect(pod.Volumes).To(ContainElement(And(
				HaveField("Name", "object-store"),
				HaveField("VolumeSource.Secret.SecretName", "s3"),
				HaveField("VolumeSource.Secret.Items", ConsistOf(
					corev1.KeyToPath{Key: "AWS_ACCESS_KEY_ID", Path: manifests.AccessKeyIDFile},
					corev1.KeyToPath{Key: "AWS_SECRET_ACCESS_KEY", Path: manifests.SecretAccessKeyFile})))))
			g.Expect(pod.Containers[0].Env).To(ContainElement(corev1.EnvVar{Name: config.ShardEnv, Value: "0"}))
			cm := &corev1.ConfigMap{}
			g.Expect(k8sClient.Get(ctx, key(ns, "shipped-collector"), cm)).To(Succeed())
			data = cm.Data[config.FileName]
			cfg, err := config.Parse([]byte(data))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(cfg.ObjectStore).To(Equal(config.ObjectStore{
				Endpoint: "http://seaweedfs.storage:8333", Bucket: "traces", PathStyle: true,
				AccessKeyIDFile:     manifests.ObjectStoreCredentialsMountPath + "/" + manifests.AccessKeyIDFile,
				SecretAccessKeyFile: manifests.ObjectStoreCredentialsMountPath + "/" + manifests.SecretAccessKeyFile,
				Namespace:           ns, Sink: "shipped",
			}))
		}).Should(Succeed())
		markAvailable(ctx, ns, "shipped-collector")
		Expect(k8sClient.Get(ctx, key(ns, "shipped-collector"), deploy)).To(Succeed())

		failing := configstatus.Status{AppliedHash: sha256Hex(data), Generation: 1, AppliedAt: time.Now().UTC(),
			Upload: &configstatus.Upload{Bucket: "traces", PendingFiles: 3, LastError: "upload spans_2031-03-14.jsonl: the store answered 403 AccessDenied: Access Denied", FailingSince: time.Now()}}
		fake := startFakeCollector(failing)
		runCollectorPod(ctx, sink, deploy, "shipped-collector-abc", fake.ip)
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "shipped")
			g.Expect(condition(got, v1alpha1.ConditionUploaded)).To(And(
				HaveField("Status", metav1.ConditionFalse),
				HaveField("Reason", v1alpha1.ReasonUploadFailing),
				HaveField("Message", And(ContainSubstring("bucket traces"), ContainSubstring("403 AccessDenied"), ContainSubstring("shipped-collector-abc")))))
		}).Should(Succeed())

		// The store comes back; nothing the operator watches changes, it
		// finds out by asking again.
		recovered := failing
		recovered.Upload = &configstatus.Upload{Bucket: "traces", LastUpload: time.Now()}
		fake.set(recovered)
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "shipped")
			g.Expect(condition(got, v1alpha1.ConditionUploaded)).To(And(
				HaveField("Status", metav1.ConditionTrue), HaveField("Reason", v1alpha1.ReasonUploading)))
		}).Should(Succeed())

		By("removing the object store drops the condition and the mount")
		updateSink(ctx, ns, "shipped", func(s *v1alpha1.SpanSink) { s.Spec.Storage.ObjectStore = nil })
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "shipped")
			g.Expect(condition(got, v1alpha1.ConditionUploaded)).To(BeNil())
			d := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, key(ns, "shipped-collector"), d)).To(Succeed())
			g.Expect(d.Spec.Template.Spec.Volumes).NotTo(ContainElement(HaveField("Name", "object-store")))
		}).Should(Succeed())
	})

	DescribeTable("refuses an invalid object store with a message that says why",
		func(store v1alpha1.ObjectStoreSpec, want string) {
			sink := newSink(ns, "bad")
			sink.Spec.Storage.ObjectStore = &store
			err := k8sClient.Create(ctx, sink)
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
			Expect(err.Error()).To(ContainSubstring(want))
		},
		Entry("a bucket name S3 refuses", v1alpha1.ObjectStoreSpec{Bucket: "Traces_1"}, "spec.storage.objectStore.bucket"),
		Entry("an endpoint that is no URL", v1alpha1.ObjectStoreSpec{Bucket: "traces", Endpoint: "s3.local:9000"}, "spec.storage.objectStore.endpoint"),
		Entry("a CA bundle on plain HTTP", v1alpha1.ObjectStoreSpec{Bucket: "traces", Endpoint: "http://s3.local", CASecretRef: &v1alpha1.ObjectStoreCARef{Name: "ca"}},
			"caSecretRef needs an https:// endpoint"),
		Entry("a prefix with ..", v1alpha1.ObjectStoreSpec{Bucket: "traces", Prefix: "a/../b"}, "must not contain '.' or '..' segments"),
		Entry("a maxDelay below a second", v1alpha1.ObjectStoreSpec{Bucket: "traces", MaxDelay: &metav1.Duration{Duration: time.Millisecond}},
			"storage.objectStore.maxDelay must be a duration such as 15m, from 1s to 24h"),
	)
})
