//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/zstd"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tracingv1alpha1 "github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/sink/objectstore"
	"github.com/spansink/spansink/test/s3server"
)

var _ = Describe("a SpanSink with an object store", func() {
	It("ships its rotated files to the S3 server on the node under the documented keys, and says Uploaded", func(ctx SpecContext) {
		// The S3 server listens on the node's address, which the pods
		// reach through their default route, as they would reach a store
		// outside the cluster.
		nodes := &corev1.NodeList{}
		Expect(suite.k8s.List(ctx, nodes)).To(Succeed())
		Expect(nodes.Items).To(HaveLen(1))
		var nodeIP string
		for _, a := range nodes.Items[0].Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				nodeIP = a.Address
			}
		}
		Expect(nodeIP).NotTo(BeEmpty())
		// Every address: the node's gateway address exists only while a
		// pod runs, and the rollout to the object store settings replaces
		// the only one.
		store, err := s3server.Start(ctx, s3server.Options{BindAddress: "0.0.0.0"})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(store.Close)
		Expect(store.CreateBucket(ctx, "traces")).To(Succeed())

		ns := newNamespace(ctx, nil)
		Expect(suite.k8s.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "s3"},
			StringData: map[string]string{"AWS_ACCESS_KEY_ID": store.AccessKey, "AWS_SECRET_ACCESS_KEY": store.SecretKey},
		})).To(Succeed())
		applySample(ns)
		patch := fmt.Sprintf(`{"spec":{"storage":{"objectStore":{"endpoint":%q,"bucket":"traces","prefix":"e2e","forcePathStyle":true,`+
			`"credentialsSecretRef":{"name":"s3"},"maxDelay":"2s","localRetention":"DeleteAfterUpload"}}}}`, fmt.Sprintf("http://%s:%d", nodeIP, store.Port()))
		kubectl("patch", "spansink", sampleName, "-n", ns, "--type=merge", "-p", patch)
		sink := waitShardsServing(ctx, ns, 1)
		addr := serviceAddress(ctx, sink, "otlp-grpc")

		sent := map[spanKey]bool{}
		for i := range 3 {
			for k := range sendWithSDK(ctx, "grpc", addr, "e2e-objectstore", 50) {
				sent[k] = true
			}
			if i < 2 {
				time.Sleep(3 * time.Second) // past maxDelay: each batch is a file of its own
			}
		}

		loc := objectstore.Location{Prefix: "e2e", Namespace: ns, Sink: sampleName, Shard: 0}
		Eventually(func(g Gomega) {
			stored := map[spanKey]bool{}
			keys := 0
			paginator := s3.NewListObjectsV2Paginator(store.Client(), &s3.ListObjectsV2Input{Bucket: aws.String("traces"), Prefix: aws.String(loc.Dir())})
			for paginator.HasMorePages() {
				page, err := paginator.NextPage(ctx)
				g.Expect(err).NotTo(HaveOccurred())
				for _, obj := range page.Contents {
					key := aws.ToString(obj.Key)
					parsed, ok := objectstore.ParseKey(key)
					g.Expect(ok).To(BeTrue(), "key %s does not follow the layout", key)
					g.Expect(parsed.Name).To(HaveSuffix(".jsonl.zst"), "the sample compresses with zstd")
					want, err := loc.Key(parsed.Name)
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(key).To(Equal(want))
					out, err := store.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("traces"), Key: obj.Key})
					g.Expect(err).NotTo(HaveOccurred())
					data, err := io.ReadAll(out.Body)
					out.Body.Close()
					g.Expect(err).NotTo(HaveOccurred())
					for _, s := range parseZstdDBGPT(g, data) {
						if s.Service == "e2e-objectstore" {
							stored[s.spanKey] = true
						}
					}
					keys++
				}
			}
			g.Expect(keys).To(BeNumerically(">=", 2), "maxDelay rotated the file at least twice")
			for k := range sent {
				g.Expect(stored).To(HaveKey(k), "a sent span is not in the bucket")
			}
		}).WithContext(ctx).WithTimeout(2*time.Minute).WithPolling(time.Second).Should(Succeed(), func() string { return describe(ctx, ns) })

		Eventually(func(g Gomega) {
			got := getSink(ctx, ns, sampleName)
			uploaded := apimeta.FindStatusCondition(got.Status.Conditions, tracingv1alpha1.ConditionUploaded)
			g.Expect(uploaded).NotTo(BeNil())
			g.Expect(uploaded.Status).To(Equal(metav1.ConditionTrue), "%s: %s", uploaded.Reason, uploaded.Message)
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
		// DeleteAfterUpload: nothing rotated is left on the volume.
		dir := volumeDir(ctx, sink)
		Eventually(func() []string { return rotatedFiles(dir) }).WithContext(ctx).WithTimeout(30 * time.Second).Should(BeEmpty())
	})
})

// parseZstdDBGPT reads the spans of a zstd-compressed dbgpt file.
func parseZstdDBGPT(g Gomega, data []byte) []storedSpan {
	dec, err := zstd.NewReader(bytes.NewReader(data))
	g.Expect(err).NotTo(HaveOccurred())
	defer dec.Close()
	plain, err := io.ReadAll(dec)
	g.Expect(err).NotTo(HaveOccurred())
	var out []storedSpan
	for _, line := range strings.Split(strings.TrimSpace(string(plain)), "\n") {
		if line == "" {
			continue
		}
		spans, err := parseLine([]byte(line), "dbgpt")
		g.Expect(err).NotTo(HaveOccurred())
		out = append(out, spans...)
	}
	return out
}

// rotatedFiles lists the rotated span files under the sample's directory.
func rotatedFiles(volume string) []string {
	entries, _ := os.ReadDir(volume + "/dbgpt")
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "spans_") {
			names = append(names, e.Name())
		}
	}
	return names
}
