package controllers

import (
	"context"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/spansink/spansink/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// envtest runs no PersistentVolume controller: every claim stays Pending,
// and the tests play that controller by recording its events on the claim
// (recordClaimEvent) and by setting the claim's phase.
var _ = Describe("A SpanSink whose claim does not bind", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
	})

	getClaim := func(name string) *corev1.PersistentVolumeClaim {
		claim := &corev1.PersistentVolumeClaim{}
		Eventually(func() error { return k8sClient.Get(ctx, key(ns, name), claim) }).Should(Succeed())
		return claim
	}
	expectDegraded := func(name string, parts ...string) {
		GinkgoHelper()
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, name)
			degraded := condition(got, v1alpha1.ConditionDegraded)
			g.Expect(degraded).To(And(
				HaveField("Status", metav1.ConditionTrue), HaveField("Reason", v1alpha1.ReasonClaimUnbindable)))
			for _, part := range parts {
				g.Expect(degraded.Message).To(ContainSubstring(part))
			}
			g.Expect(condition(got, v1alpha1.ConditionProgressing)).To(And(
				HaveField("Status", metav1.ConditionTrue), HaveField("Reason", v1alpha1.ReasonClaimPending)))
			g.Expect(condition(got, v1alpha1.ConditionReady)).To(HaveField("Status", metav1.ConditionFalse))
		}).Should(Succeed())
	}
	expectPendingOnly := func(name string, parts ...string) {
		GinkgoHelper()
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, name)
			g.Expect(condition(got, v1alpha1.ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))
			progressing := condition(got, v1alpha1.ConditionProgressing)
			g.Expect(progressing).To(And(
				HaveField("Status", metav1.ConditionTrue), HaveField("Reason", v1alpha1.ReasonClaimPending)))
			for _, part := range parts {
				g.Expect(progressing.Message).To(ContainSubstring(part))
			}
		}).Should(Succeed())
	}

	It("is Degraded while its StorageClass does not exist, and only Progressing once it does", func() {
		sink := newSink(ns, "nowhere")
		sink.Spec.Storage.Volume.StorageClassName = ptr.To("spansink-test-no-such-class")
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())

		expectDegraded("nowhere", "PersistentVolumeClaim nowhere-data", `StorageClass "spansink-test-no-such-class"`, "does not exist")
		Eventually(func(g Gomega) {
			g.Expect(getSink(g, ctx, ns, "nowhere").Status.VolumeClaimName).To(Equal("nowhere-data"))
		}).Should(Succeed())

		// Found again on the next poll: nothing about a StorageClass
		// triggers a pass.
		newStorageClass(ctx, "spansink-test-no-such-class")
		expectPendingOnly("nowhere", "nowhere-data", "spansink-test-no-such-class")

		claim := getClaim("nowhere-data")
		claim.Status.Phase = corev1.ClaimBound
		Expect(k8sClient.Status().Update(ctx, claim)).To(Succeed())
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "nowhere")
			g.Expect(condition(got, v1alpha1.ConditionProgressing)).To(HaveField("Reason", v1alpha1.ReasonRollingOut))
			g.Expect(condition(got, v1alpha1.ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))
		}).Should(Succeed())
	})

	It("is Degraded while the latest event on its claim is a provisioning failure, without rewriting the status as the event repeats", func() {
		newStorageClass(ctx, "spansink-test-slow")
		sink := newSink(ns, "quota")
		sink.Spec.Storage.Volume.StorageClassName = ptr.To("spansink-test-slow")
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		expectPendingOnly("quota", "quota-data", `StorageClass "spansink-test-slow"`)

		claim := getClaim("quota-data")
		start := time.Now().Add(-time.Minute)
		recordClaimEvent(ctx, claim, corev1.EventTypeNormal, "ExternalProvisioning", "Waiting for a volume to be created by the external provisioner", start)
		failed := recordClaimEvent(ctx, claim, corev1.EventTypeWarning, "ProvisioningFailed",
			"failed to provision volume with StorageClass \"spansink-test-slow\": quota exceeded", start.Add(time.Second))
		expectDegraded("quota", "quota-data", "ProvisioningFailed", "quota exceeded", "provisioner")

		// The provisioner retries and the event repeats: its count and
		// time change, the condition must not.
		var before string
		Eventually(func(g Gomega) {
			before = getSink(g, ctx, ns, "quota").ResourceVersion
		}).Should(Succeed())
		failed.Count = 5
		failed.LastTimestamp = metav1.NewTime(start.Add(10 * time.Second))
		Expect(k8sClient.Update(ctx, failed)).To(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(getSink(g, ctx, ns, "quota").ResourceVersion).To(Equal(before))
		}).WithTimeout(2 * time.Second).Should(Succeed())

		// A later event that is no failure: the provisioner is at it again.
		recordClaimEvent(ctx, claim, corev1.EventTypeNormal, "Provisioning", "External provisioner is provisioning volume", start.Add(20*time.Second))
		expectPendingOnly("quota", "quota-data")
	})

	It("reports a user's existing claim that cannot bind, naming it as theirs", func() {
		claim := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "team-spans"},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: ptr.To(""),
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}
		Expect(k8sClient.Create(ctx, claim)).To(Succeed())
		sink := newSink(ns, "byo")
		sink.Spec.Storage.Volume.ExistingClaimName = "team-spans"
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		expectPendingOnly("byo", "team-spans", "existingClaimName", "no StorageClass")

		recordClaimEvent(ctx, claim, corev1.EventTypeWarning, "FailedBinding",
			"no persistent volumes available for this claim and no storage class is set", time.Now())
		expectDegraded("byo", "team-spans", "existingClaimName", "FailedBinding", "no persistent volumes available")
	})
})

var _ = Describe("latestEvent", func() {
	at := func(sec int) time.Time { return time.Date(2025, 1, 1, 0, 0, sec, 0, time.UTC) }
	DescribeTable("picks the event observed last",
		func(events []corev1.Event, want string) {
			Expect(latestEvent(events)).To(HaveField("Reason", want))
		},
		Entry("by lastTimestamp", []corev1.Event{
			{Reason: "new", LastTimestamp: metav1.NewTime(at(5))},
			{Reason: "old", LastTimestamp: metav1.NewTime(at(1))},
		}, "new"),
		Entry("by eventTime, for events.k8s.io events", []corev1.Event{
			{Reason: "old", LastTimestamp: metav1.NewTime(at(3))},
			{Reason: "new", EventTime: metav1.NewMicroTime(at(4))},
		}, "new"),
		Entry("by the series' last observation", []corev1.Event{
			{Reason: "series", EventTime: metav1.NewMicroTime(at(1)), Series: &corev1.EventSeries{LastObservedTime: metav1.NewMicroTime(at(9))}},
			{Reason: "single", LastTimestamp: metav1.NewTime(at(5))},
		}, "series"),
		Entry("the later in the list on a tie", []corev1.Event{
			{Reason: "first", LastTimestamp: metav1.NewTime(at(5))},
			{Reason: "second", LastTimestamp: metav1.NewTime(at(5))},
		}, "second"),
	)
	It("is nil without events", func() {
		Expect(latestEvent(nil)).To(BeNil())
	})
})

var _ = Describe("truncate", func() {
	DescribeTable("keeps at most n bytes, cut on a rune boundary",
		func(in string, n int, want string) {
			Expect(truncate(in, n)).To(Equal(want))
		},
		Entry("short enough", "quota", 10, "quota"),
		Entry("cut", "quota exceeded", 5, "quota..."),
		Entry("not inside a rune", "ab€", 3, "ab..."),
	)
	It("keeps long provisioner messages out of the condition", func() {
		Expect(len(truncate(strings.Repeat("x", 1000), maxEventMessage))).To(Equal(maxEventMessage + len("...")))
	})
})
