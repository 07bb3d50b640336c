package controllers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/controllers/manifests"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

var _ = Describe("A sharded SpanSink", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
	})

	shardName := func(base string, i int) string {
		if i == 0 {
			return base
		}
		return fmt.Sprintf("%s-%d", base, i)
	}
	// markShardsAvailable plays the Deployment controller for shards.
	markShardsAvailable := func(sinkName string, shards ...int) {
		for _, i := range shards {
			markAvailable(ctx, ns, shardName(sinkName+"-collector", i))
		}
	}
	claimUID := func(g Gomega, name string) types.UID {
		claim := &corev1.PersistentVolumeClaim{}
		g.ExpectWithOffset(1, k8sClient.Get(ctx, key(ns, name), claim)).To(Succeed())
		return claim.UID
	}
	scaleTo := func(name string, replicas int32) {
		// What `kubectl scale ssink/<name> --replicas N` and a
		// HorizontalPodAutoscaler send: an update of the scale subresource.
		EventuallyWithOffset(1, func(g Gomega) {
			sink := getSink(g, ctx, ns, name)
			scale := &autoscalingv1.Scale{}
			g.Expect(k8sClient.SubResource("scale").Get(ctx, sink, scale)).To(Succeed())
			scale.Spec.Replicas = replicas
			g.Expect(k8sClient.SubResource("scale").Update(ctx, sink, client.WithSubResourceBody(scale))).To(Succeed())
		}).Should(Succeed())
	}

	It("runs a shard per replica, each with its own claim, behind one Service, a headless Service and a budget", func() {
		sink := newSink(ns, "wide")
		sink.Spec.Replicas = ptr.To[int32](3)
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())

		claims := map[string]types.UID{}
		Eventually(func(g Gomega) {
			for i := range 3 {
				deploy := &appsv1.Deployment{}
				g.Expect(k8sClient.Get(ctx, key(ns, shardName("wide-collector", i)), deploy)).To(Succeed())
				expectControlledBy(g, deploy, sink)
				pod := deploy.Spec.Template
				g.Expect(pod.Labels).To(HaveKeyWithValue(manifests.LabelShard, fmt.Sprint(i)))
				g.Expect(pod.Spec.Volumes).To(ContainElement(HaveField("VolumeSource.PersistentVolumeClaim.ClaimName", shardName("wide-data", i))))
				g.Expect(pod.Spec.Hostname).To(Equal(fmt.Sprintf("shard-%d", i)))
				g.Expect(pod.Spec.Subdomain).To(Equal("wide-shards"))
				claims[shardName("wide-data", i)] = claimUID(g, shardName("wide-data", i))
			}
			headless := &corev1.Service{}
			g.Expect(k8sClient.Get(ctx, key(ns, "wide-shards"), headless)).To(Succeed())
			expectControlledBy(g, headless, sink)
			g.Expect(headless.Spec.ClusterIP).To(Equal(corev1.ClusterIPNone))
			budget := &policyv1.PodDisruptionBudget{}
			g.Expect(k8sClient.Get(ctx, key(ns, "wide-collector"), budget)).To(Succeed())
			expectControlledBy(g, budget, sink)
			g.Expect(budget.Spec.MaxUnavailable.IntValue()).To(Equal(1))
			g.Expect(budget.Spec.Selector.MatchLabels).To(Equal(manifests.SelectorLabels(sink)))
		}).Should(Succeed())

		markShardsAvailable("wide", 0, 1, 2)
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "wide")
			g.Expect(got.Status.Replicas).To(Equal(int32(3)))
			g.Expect(got.Status.ReadyReplicas).To(Equal(int32(3)))
			g.Expect(got.Status.Selector).To(Equal("app.kubernetes.io/instance=wide,app.kubernetes.io/name=spansink"))
			g.Expect(got.Status.VolumeClaimName).To(Equal("wide-data"))
			g.Expect(got.Status.Shards).To(HaveLen(3))
			for i, shard := range got.Status.Shards {
				g.Expect(shard).To(Equal(v1alpha1.ShardStatus{
					Index: int32(i), Deployment: shardName("wide-collector", i), Claim: shardName("wide-data", i), Ready: true, Updated: true,
				}))
			}
			g.Expect(condition(got, v1alpha1.ConditionReady)).To(And(
				HaveField("Status", metav1.ConditionTrue), HaveField("Message", "3 of 3 shards are available at the endpoints")))
			g.Expect(condition(got, v1alpha1.ConditionProgressing)).To(HaveField("Status", metav1.ConditionFalse))
		}).Should(Succeed())

		By("scaling down through the scale subresource: the claims stay, listed as retired")
		scaleTo("wide", 1)
		Eventually(func(g Gomega) {
			for _, i := range []int{1, 2} {
				err := k8sClient.Get(ctx, key(ns, shardName("wide-collector", i)), &appsv1.Deployment{})
				g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "shard %d's Deployment is still there", i)
			}
			g.Expect(apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "wide-collector"), &policyv1.PodDisruptionBudget{}))).
				To(BeTrue(), "one shard keeps its PodDisruptionBudget")
			for name, uid := range claims {
				g.Expect(claimUID(g, name)).To(Equal(uid), "claim %s was replaced", name)
			}
			got := getSink(g, ctx, ns, "wide")
			g.Expect(got.Status.RetiredShards).To(Equal([]v1alpha1.RetiredShard{{Index: 1, Claim: "wide-data-1"}, {Index: 2, Claim: "wide-data-2"}}))
			g.Expect(got.Status.Shards).To(HaveLen(1))
			g.Expect(got.Status.Replicas).To(Equal(int32(1)))
			scale := &autoscalingv1.Scale{}
			g.Expect(k8sClient.SubResource("scale").Get(ctx, got, scale)).To(Succeed())
			g.Expect(scale.Spec.Replicas).To(Equal(int32(1)))
			g.Expect(scale.Status.Replicas).To(Equal(int32(1)))
			g.Expect(scale.Status.Selector).To(Equal(got.Status.Selector))
		}).Should(Succeed())

		By("scaling up again: the retired claims are mounted back")
		scaleTo("wide", 3)
		Eventually(func(g Gomega) {
			for i := range 3 {
				deploy := &appsv1.Deployment{}
				g.Expect(k8sClient.Get(ctx, key(ns, shardName("wide-collector", i)), deploy)).To(Succeed())
				g.Expect(deploy.Spec.Template.Spec.Volumes).To(ContainElement(HaveField("VolumeSource.PersistentVolumeClaim.ClaimName", shardName("wide-data", i))))
			}
			for name, uid := range claims {
				g.Expect(claimUID(g, name)).To(Equal(uid), "claim %s was replaced", name)
			}
			got := getSink(g, ctx, ns, "wide")
			g.Expect(got.Status.RetiredShards).To(BeEmpty())
			g.Expect(k8sClient.Get(ctx, key(ns, "wide-collector"), &policyv1.PodDisruptionBudget{})).To(Succeed())
		}).Should(Succeed())
	})

	It("puts its PodDisruptionBudget back when someone changes it, and leaves a foreign one under its name alone", func() {
		sink := newSink(ns, "guarded")
		sink.Spec.Replicas = ptr.To[int32](2)
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		Eventually(func(g Gomega) {
			budget := &policyv1.PodDisruptionBudget{}
			g.Expect(k8sClient.Get(ctx, key(ns, "guarded-collector"), budget)).To(Succeed())
			zero := intstr.FromInt32(0)
			budget.Spec.MaxUnavailable = &zero
			g.Expect(k8sClient.Update(ctx, budget)).To(Succeed())
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			budget := &policyv1.PodDisruptionBudget{}
			g.Expect(k8sClient.Get(ctx, key(ns, "guarded-collector"), budget)).To(Succeed())
			g.Expect(budget.Spec.MaxUnavailable.IntValue()).To(Equal(1))
		}).Should(Succeed())

		one := intstr.FromInt32(1)
		foreign := &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "fenced-collector"},
			Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "else"}}},
		}
		Expect(k8sClient.Create(ctx, foreign)).To(Succeed())
		fenced := newSink(ns, "fenced")
		fenced.Spec.Replicas = ptr.To[int32](2)
		Expect(k8sClient.Create(ctx, fenced)).To(Succeed())
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "fenced")
			g.Expect(condition(got, v1alpha1.ConditionDegraded)).To(And(
				HaveField("Reason", v1alpha1.ReasonChildConflict), HaveField("Message", ContainSubstring("PodDisruptionBudget fenced-collector"))))
			// The shards run all the same.
			g.Expect(k8sClient.Get(ctx, key(ns, "fenced-collector-1"), &appsv1.Deployment{})).To(Succeed())
		}).Should(Succeed())
		live := &policyv1.PodDisruptionBudget{}
		Expect(k8sClient.Get(ctx, key(ns, "fenced-collector"), live)).To(Succeed())
		Expect(live.ResourceVersion).To(Equal(foreign.ResourceVersion), "the foreign budget was written")
	})

	It("refuses a scale beyond the bounds and several shards on one existing claim, saying why", func() {
		sink := newSink(ns, "bounded")
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		scale := &autoscalingv1.Scale{}
		Expect(k8sClient.SubResource("scale").Get(ctx, sink, scale)).To(Succeed())
		Expect(scale.Spec.Replicas).To(Equal(int32(1)), "an unset spec.replicas reads as one shard")
		scale.Spec.Replicas = 0
		err := k8sClient.SubResource("scale").Update(ctx, sink, client.WithSubResourceBody(scale))
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("spec.replicas"))

		existing := newSink(ns, "mounted")
		existing.Spec.Replicas = ptr.To[int32](2)
		existing.Spec.Storage.Volume.ExistingClaimName = "team-spans"
		err = k8sClient.Create(ctx, existing)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("spec.replicas above 1 needs claims the operator creates"))
	})

	It("rolls a spec change out one shard at a time, each after the previous one serves", func() {
		sink := newSink(ns, "rolling")
		sink.Spec.Replicas = ptr.To[int32](3)
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		Eventually(func(g Gomega) {
			for i := range 3 {
				g.Expect(k8sClient.Get(ctx, key(ns, shardName("rolling-collector", i)), &appsv1.Deployment{})).To(Succeed())
			}
		}).Should(Succeed())
		markShardsAvailable("rolling", 0, 1, 2)
		formatOf := func(g Gomega, i int) string {
			deploy := &appsv1.Deployment{}
			g.ExpectWithOffset(1, k8sClient.Get(ctx, key(ns, shardName("rolling-collector", i)), deploy)).To(Succeed())
			return deploy.Spec.Template.Annotations[manifests.ConfigHashAnnotation]
		}
		var before string
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "rolling")
			g.Expect(condition(got, v1alpha1.ConditionProgressing)).To(HaveField("Status", metav1.ConditionFalse))
			before = formatOf(g, 0)
		}).Should(Succeed())

		// The storage format needs a restart, so it changes the pod template.
		updateSink(ctx, ns, "rolling", func(s *v1alpha1.SpanSink) { s.Spec.Storage.Format = v1alpha1.FormatOTLPJSON })
		for step := range 3 {
			Eventually(func(g Gomega) {
				for i := range 3 {
					if i <= step {
						g.Expect(formatOf(g, i)).NotTo(Equal(before), "shard %d has not moved at step %d", i, step)
					} else {
						g.Expect(formatOf(g, i)).To(Equal(before), "shard %d moved before shard %d served", i, step)
					}
				}
			}).Should(Succeed())
			// The shards after this one stay put while it restarts.
			Consistently(func(g Gomega) {
				for i := step + 1; i < 3; i++ {
					g.Expect(formatOf(g, i)).To(Equal(before), "shard %d moved while shard %d restarts", i, step)
				}
			}, "1s").Should(Succeed())
			if step < 2 {
				Eventually(func(g Gomega) {
					got := getSink(g, ctx, ns, "rolling")
					g.Expect(condition(got, v1alpha1.ConditionProgressing)).To(And(
						HaveField("Status", metav1.ConditionTrue), HaveField("Message", ContainSubstring("one shard at a time"))))
				}).Should(Succeed())
			}
			markShardsAvailable("rolling", step)
		}
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "rolling")
			g.Expect(condition(got, v1alpha1.ConditionProgressing)).To(HaveField("Status", metav1.ConditionFalse))
			for _, shard := range got.Status.Shards {
				g.Expect(shard.Updated).To(BeTrue(), "shard %d", shard.Index)
			}
		}).Should(Succeed())
	})

	It("says Degraded naming a shard that has been down a while, and counts the shards that serve", func() {
		sink := newSink(ns, "partial")
		sink.Spec.Replicas = ptr.To[int32](3)
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(ns, "partial-collector-2"), &appsv1.Deployment{})).To(Succeed())
		}).Should(Succeed())
		markShardsAvailable("partial", 0, 2)
		// Shard 1's node is gone: its Deployment has said for two minutes
		// that it has no available pod.
		Eventually(func(g Gomega) {
			deploy := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, key(ns, "partial-collector-1"), deploy)).To(Succeed())
			since := metav1.NewTime(time.Now().Add(-2 * ShardDownGrace))
			deploy.Status = appsv1.DeploymentStatus{
				ObservedGeneration: deploy.Generation, Replicas: 1, UpdatedReplicas: 1, UnavailableReplicas: 1,
				Conditions: []appsv1.DeploymentCondition{{
					Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse, Reason: "MinimumReplicasUnavailable",
					LastUpdateTime: since, LastTransitionTime: since,
				}},
			}
			g.Expect(k8sClient.Status().Update(ctx, deploy)).To(Succeed())
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "partial")
			g.Expect(condition(got, v1alpha1.ConditionDegraded)).To(And(
				HaveField("Status", metav1.ConditionTrue),
				HaveField("Reason", v1alpha1.ReasonShardUnavailable),
				HaveField("Message", ContainSubstring("shard 1 (Deployment partial-collector-1)"))))
			g.Expect(condition(got, v1alpha1.ConditionReady)).To(And(
				HaveField("Status", metav1.ConditionTrue), HaveField("Message", "2 of 3 shards are available at the endpoints")))
			g.Expect(got.Status.ReadyReplicas).To(Equal(int32(2)))
			g.Expect(got.Status.Shards[1].Ready).To(BeFalse())
		}).Should(Succeed())

		By("the shard coming back clears it")
		markShardsAvailable("partial", 1)
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "partial")
			g.Expect(condition(got, v1alpha1.ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))
			g.Expect(got.Status.ReadyReplicas).To(Equal(int32(3)))
		}).Should(Succeed())
	})

	// The children a SpanSink had under the operator before shards existed
	// (the golden files of commit 999ce97, in
	// manifests/testdata/unsharded) are put in place first, as that
	// operator left them; the new operator then takes the SpanSink over.
	It("takes over a SpanSink made before shards without touching its data", func() {
		// The children are applied first without their owner reference,
		// which needs the SpanSink's UID, and given it once the SpanSink
		// exists: until then the operator leaves them alone (a conflict),
		// so they are exactly the old ones when it takes them over.
		names := []string{"serviceaccount_default", "configmap_default", "persistentvolumeclaim_default", "service_default", "deployment_default"}
		old := map[string]client.Object{}
		owners := map[string][]metav1.OwnerReference{}
		for _, name := range names {
			obj := unshardedChild(name, ns)
			owners[name] = obj.GetOwnerReferences()
			obj.SetOwnerReferences(nil)
			Expect(k8sClient.Create(ctx, obj)).To(Succeed())
			old[name] = obj
		}
		sink := newSink(ns, "traces")
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		for _, name := range names {
			owner := owners[name]
			if len(owner) == 0 {
				continue // the Retain claim has none
			}
			owner[0].UID = sink.UID
			Eventually(func(g Gomega) {
				live := old[name].DeepCopyObject().(client.Object)
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(live), live)).To(Succeed())
				live.SetOwnerReferences(owner)
				g.Expect(k8sClient.Update(ctx, live)).To(Succeed())
				old[name] = live
			}).Should(Succeed())
		}
		markAvailable(ctx, ns, "traces-collector")

		oldDeploy := old["deployment_default"].(*appsv1.Deployment)
		oldClaim := old["persistentvolumeclaim_default"].(*corev1.PersistentVolumeClaim)
		oldService := old["service_default"].(*corev1.Service)
		Eventually(func(g Gomega) {
			deploy := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, key(ns, "traces-collector"), deploy)).To(Succeed())
			g.Expect(deploy.UID).To(Equal(oldDeploy.UID), "the Deployment was recreated")
			g.Expect(deploy.Spec.Selector).To(Equal(oldDeploy.Spec.Selector))
			g.Expect(deploy.Spec.Template.Labels).To(HaveKeyWithValue(manifests.LabelShard, "0"))
			g.Expect(deploy.Spec.Template.Spec.Volumes).To(Equal(oldDeploy.Spec.Template.Spec.Volumes))
			g.Expect(deploy.Spec.Template.Spec.Containers[0].VolumeMounts).To(Equal(oldDeploy.Spec.Template.Spec.Containers[0].VolumeMounts))

			claim := &corev1.PersistentVolumeClaim{}
			g.Expect(k8sClient.Get(ctx, key(ns, "traces-data"), claim)).To(Succeed())
			g.Expect(claim.UID).To(Equal(oldClaim.UID), "the claim was recreated")
			g.Expect(claim.Spec).To(Equal(oldClaim.Spec))
			g.Expect(claim.OwnerReferences).To(BeEmpty(), "a Retain claim gained an owner")
			g.Expect(claim.Labels).To(HaveKeyWithValue(manifests.LabelShard, "0"))

			svc := &corev1.Service{}
			g.Expect(k8sClient.Get(ctx, key(ns, "traces-collector"), svc)).To(Succeed())
			g.Expect(svc.UID).To(Equal(oldService.UID))
			g.Expect(svc.Spec).To(Equal(oldService.Spec))
			cm := &corev1.ConfigMap{}
			g.Expect(k8sClient.Get(ctx, key(ns, "traces-collector"), cm)).To(Succeed())
			g.Expect(cm.Data).To(Equal(old["configmap_default"].(*corev1.ConfigMap).Data), "the collector config changed")

			g.Expect(apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "traces-collector"), &policyv1.PodDisruptionBudget{}))).To(BeTrue())
			g.Expect(apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "traces-collector-1"), &appsv1.Deployment{}))).To(BeTrue())

			got := getSink(g, ctx, ns, "traces")
			g.Expect(*got.Spec.Replicas).To(Equal(int32(1)))
			g.Expect(got.Status.Shards).To(Equal([]v1alpha1.ShardStatus{{Index: 0, Deployment: "traces-collector", Claim: "traces-data", Ready: deploy.Status.ReadyReplicas > 0, Updated: rolledOut(deploy)}}))
			g.Expect(condition(got, v1alpha1.ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))
		}).Should(Succeed())
	})
})

// unshardedChild reads a child as the operator made it before shards, for
// a SpanSink named traces, moved into namespace ns.
func unshardedChild(name, ns string) client.Object {
	data, err := os.ReadFile(filepath.Join("manifests", "testdata", "unsharded", name+".yaml"))
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	var obj client.Object
	switch {
	case strings.HasPrefix(name, "deployment"):
		obj = &appsv1.Deployment{}
	case strings.HasPrefix(name, "persistentvolumeclaim"):
		obj = &corev1.PersistentVolumeClaim{}
	case strings.HasPrefix(name, "service_"):
		obj = &corev1.Service{}
	case strings.HasPrefix(name, "serviceaccount"):
		obj = &corev1.ServiceAccount{}
	case strings.HasPrefix(name, "configmap"):
		obj = &corev1.ConfigMap{}
	}
	ExpectWithOffset(1, yaml.Unmarshal(data, obj)).To(Succeed())
	obj.SetNamespace(ns)
	return obj
}
