package controllers

// Helpers shared by the envtest specs. envtest runs no built-in
// controllers, so several of them play one: the Deployment controller
// (markAvailable, setReadyReplicas), the kubelet (setCollectorPod), the
// garbage collector (collectGarbage) and the PersistentVolume controller
// (recordClaimEvent).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/controllers/manifests"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// newSink is a SpanSink with every field left to the CRD's defaults.
func newSink(ns, name string) *v1alpha1.SpanSink {
	return &v1alpha1.SpanSink{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

// key names an object in a test's namespace.
func key(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}

// expectControlledBy asserts obj's controller owner reference names sink.
func expectControlledBy(g Gomega, obj client.Object, sink *v1alpha1.SpanSink) {
	ref := metav1.GetControllerOf(obj)
	g.ExpectWithOffset(1, ref).NotTo(BeNil(), "%s has no controller reference", obj.GetName())
	g.ExpectWithOffset(1, ref.UID).To(Equal(sink.UID))
	g.ExpectWithOffset(1, ref.Kind).To(Equal("SpanSink"))
	g.ExpectWithOffset(1, ref.APIVersion).To(Equal(v1alpha1.GroupVersion.String()))
	g.ExpectWithOffset(1, ref.BlockOwnerDeletion).To(HaveValue(BeTrue()))
}

// condition is sink's condition of condType, nil when it has none.
func condition(sink *v1alpha1.SpanSink, condType string) *metav1.Condition {
	return meta.FindStatusCondition(sink.Status.Conditions, condType)
}

// markAvailable plays the Deployment controller, which envtest does not run:
// it reports the current generation rolled out with one available pod.
func markAvailable(ctx context.Context, ns, name string) {
	EventuallyWithOffset(1, func(g Gomega) {
		deploy := &appsv1.Deployment{}
		g.Expect(k8sClient.Get(ctx, key(ns, name), deploy)).To(Succeed())
		deploy.Status = appsv1.DeploymentStatus{
			ObservedGeneration: deploy.Generation,
			Replicas:           1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
			Conditions: []appsv1.DeploymentCondition{{
				Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable",
				LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now(),
			}},
		}
		g.Expect(k8sClient.Status().Update(ctx, deploy)).To(Succeed())
	}).Should(Succeed())
}

// collectGarbage does what the garbage collector, which envtest does not
// run, would do after the owner with uid is deleted.
func collectGarbage(ctx context.Context, ns string, uid types.UID) {
	lists := []client.ObjectList{
		&corev1.ConfigMapList{}, &corev1.ServiceList{}, &corev1.ServiceAccountList{},
		&corev1.PersistentVolumeClaimList{}, &appsv1.DeploymentList{}, &policyv1.PodDisruptionBudgetList{},
	}
	for _, list := range lists {
		ExpectWithOffset(1, k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		ExpectWithOffset(1, meta.EachListItem(list, func(o runtime.Object) error {
			obj := o.(client.Object)
			for _, ref := range obj.GetOwnerReferences() {
				if ref.UID == uid {
					return client.IgnoreNotFound(k8sClient.Delete(ctx, obj))
				}
			}
			return nil
		})).To(Succeed())
	}
}

// countingClient is k8sClient counting every write it passes on, so a test
// can prove a pass wrote nothing.
func countingClient(writes *atomic.Int32) client.WithWatch {
	count := func() { writes.Add(1) }
	return interceptor.NewClient(k8sClient, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			count()
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			count()
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			count()
			return c.Patch(ctx, obj, patch, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			count()
			return c.Delete(ctx, obj, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			count()
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			count()
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
}

// eventsAbout lists the Events regarding the SpanSink name in ns.
func eventsAbout(g Gomega, ctx context.Context, ns, name string) []eventsv1.Event {
	list := &eventsv1.EventList{}
	g.ExpectWithOffset(1, k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Kind == "SpanSink" && e.Regarding.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// sha256Hex is the config hash the operator puts on the pod template for s.
func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// rawSink is a SpanSink as unstructured JSON, so tests can send values the
// Go types could not even hold (a malformed duration, say).
func rawSink(ns, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1alpha1.GroupVersion.String(),
		"kind":       "SpanSink",
		"metadata":   map[string]any{"namespace": ns, "name": name},
		"spec":       spec,
	}}
	return u
}

// foreignDeployment is a Deployment someone else made, valid enough for
// the API server.
func foreignDeployment(ns, name string) *appsv1.Deployment {
	labels := map[string]string{"app": "someone-else"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "someone-else:1"}}},
			},
		},
	}
}

// updateSink applies change to the live SpanSink, retrying on conflicts
// with the operator's status writes.
func updateSink(ctx context.Context, ns, name string, change func(*v1alpha1.SpanSink)) {
	EventuallyWithOffset(1, func(g Gomega) {
		got := &v1alpha1.SpanSink{}
		g.Expect(k8sClient.Get(ctx, key(ns, name), got)).To(Succeed())
		change(got)
		g.Expect(k8sClient.Update(ctx, got)).To(Succeed())
	}).Should(Succeed())
}

// getSink reads the SpanSink name in ns.
func getSink(g Gomega, ctx context.Context, ns, name string) *v1alpha1.SpanSink {
	got := &v1alpha1.SpanSink{}
	g.ExpectWithOffset(1, k8sClient.Get(ctx, key(ns, name), got)).To(Succeed())
	return got
}

// waitForCollector waits until the operator has made the collector
// Deployment of the SpanSink sinkName.
func waitForCollector(ctx context.Context, ns, sinkName string) {
	EventuallyWithOffset(1, func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, key(ns, sinkName+"-collector"), &appsv1.Deployment{})).To(Succeed())
	}).Should(Succeed())
}

// setReadyReplicas plays the Deployment controller without an Available
// condition: its status change on a pod's readiness is what makes the
// operator look at the pods.
func setReadyReplicas(ctx context.Context, ns, name string, ready int32) {
	EventuallyWithOffset(1, func(g Gomega) {
		deploy := &appsv1.Deployment{}
		g.Expect(k8sClient.Get(ctx, key(ns, name), deploy)).To(Succeed())
		deploy.Status.ObservedGeneration = deploy.Generation
		deploy.Status.Replicas, deploy.Status.UpdatedReplicas = 1, 1
		deploy.Status.ReadyReplicas, deploy.Status.AvailableReplicas = ready, ready
		g.Expect(k8sClient.Status().Update(ctx, deploy)).To(Succeed())
	}).Should(Succeed())
}

// newCollectorPod makes a pod that the operator takes for sink's collector.
func newCollectorPod(ctx context.Context, sink *v1alpha1.SpanSink, name string) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: sink.Namespace, Name: name, Labels: manifests.Labels(sink)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "collector", Image: testImage}}},
	}
	ExpectWithOffset(1, k8sClient.Create(ctx, pod)).To(Succeed())
	return pod
}

// collectorPodStatus is the status the kubelet reports for a collector
// running since started whose Ready condition last changed at transition.
func collectorPodStatus(ready bool, started, transition time.Time) corev1.PodStatus {
	readyStatus := corev1.ConditionFalse
	if ready {
		readyStatus = corev1.ConditionTrue
	}
	return corev1.PodStatus{
		Phase: corev1.PodRunning,
		Conditions: []corev1.PodCondition{{
			Type: corev1.PodReady, Status: readyStatus, LastTransitionTime: metav1.NewTime(transition),
		}},
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: "collector", Ready: ready, Image: testImage, ImageID: testImage,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}},
		}},
	}
}

// setCollectorPod plays the kubelet: pod's collector runs since started,
// and its Ready condition last changed at transition.
func setCollectorPod(ctx context.Context, pod *corev1.Pod, ready bool, started, transition time.Time) {
	pod.Status = collectorPodStatus(ready, started, transition)
	ExpectWithOffset(1, k8sClient.Status().Update(ctx, pod)).To(Succeed())
}

// newStorageClass makes a cluster-wide StorageClass for the current spec
// and removes it after.
func newStorageClass(ctx context.Context, name string) {
	class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: "example.com/slow"}
	ExpectWithOffset(1, k8sClient.Create(ctx, class)).To(Succeed())
	DeferCleanup(func() { Expect(k8sClient.Delete(context.Background(), class)).To(Succeed()) })
}

// recordClaimEvent plays the PersistentVolume controller, which records
// core Events on the claims it works on.
func recordClaimEvent(ctx context.Context, claim *corev1.PersistentVolumeClaim, eventType, reason, message string, at time.Time) *corev1.Event {
	event := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: claim.Namespace, GenerateName: claim.Name + "."},
		InvolvedObject: corev1.ObjectReference{
			Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: claim.Namespace, Name: claim.Name, UID: claim.UID,
		},
		Type: eventType, Reason: reason, Message: message, Count: 1,
		FirstTimestamp: metav1.NewTime(at), LastTimestamp: metav1.NewTime(at),
		Source: corev1.EventSource{Component: "persistentvolume-controller"},
	}
	ExpectWithOffset(1, k8sClient.Create(ctx, event)).To(Succeed())
	return event
}
