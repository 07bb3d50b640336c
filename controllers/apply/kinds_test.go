package apply

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// kindCase is one live object against one desired: whether the kind's
// check finds it synced and, when not, that its mutate makes it so.
type kindCase[T client.Object] struct {
	name          string
	live, desired T
	synced        bool
}

// checkKind runs the cases of one kind: Synced answers as the case says,
// and Mutate on a copy of an unsynced live object makes Synced true and
// leaves desired as it was.
func checkKind[T client.Object](t *testing.T, kind Kind[T], cases []kindCase[T]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(kind.Name+"/"+tc.name, func(t *testing.T) {
			if got := kind.Synced(tc.live, tc.desired); got != tc.synced {
				t.Fatalf("Synced = %v, want %v", got, tc.synced)
			}
			if tc.synced {
				return
			}
			desired := tc.desired.DeepCopyObject().(T)
			mutated := tc.live.DeepCopyObject().(T)
			kind.Mutate(mutated, tc.desired)
			if !kind.Synced(mutated, tc.desired) {
				t.Error("Synced is still false after Mutate")
			}
			if !equality.Semantic.DeepEqual(desired, tc.desired) {
				t.Error("Mutate wrote into desired")
			}
		})
	}
}

func TestServiceAccounts(t *testing.T) {
	account := func(automount *bool) *corev1.ServiceAccount {
		return &corev1.ServiceAccount{AutomountServiceAccountToken: automount}
	}
	checkKind(t, ServiceAccounts, []kindCase[*corev1.ServiceAccount]{
		{"same setting", account(ptr.To(false)), account(ptr.To(false)), true},
		{"unset is not false", account(nil), account(ptr.To(false)), false},
		{"changed", account(ptr.To(true)), account(ptr.To(false)), false},
	})
}

func TestConfigMaps(t *testing.T) {
	data := func(kv ...string) *corev1.ConfigMap {
		cm := &corev1.ConfigMap{Data: map[string]string{}}
		for i := 0; i < len(kv); i += 2 {
			cm.Data[kv[i]] = kv[i+1]
		}
		return cm
	}
	checkKind(t, ConfigMaps, []kindCase[*corev1.ConfigMap]{
		{"same data", data("collector.yaml", "a"), data("collector.yaml", "a"), true},
		{"changed value", data("collector.yaml", "a"), data("collector.yaml", "b"), false},
		{"a key the operator no longer writes", data("collector.yaml", "a", "old.yaml", "x"), data("collector.yaml", "a"), false},
	})
}

func TestClaims(t *testing.T) {
	claim := func(size string) *corev1.PersistentVolumeClaim {
		c := &corev1.PersistentVolumeClaim{}
		if size != "" {
			c.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}
		}
		return c
	}
	checkKind(t, Claims, []kindCase[*corev1.PersistentVolumeClaim]{
		{"same size", claim("1Gi"), claim("1Gi"), true},
		{"same size, another spelling", claim("1024Mi"), claim("1Gi"), true},
		{"larger than asked: never shrunk", claim("2Gi"), claim("1Gi"), true},
		{"smaller: grown", claim("1Gi"), claim("2Gi"), false},
		{"no request yet", claim(""), claim("1Gi"), false},
	})
	if !Claims.Adoptable {
		t.Error("claims must be adoptable: a Retain policy leaves them behind")
	}
}

func TestServices(t *testing.T) {
	service := func(selector string, ports ...corev1.ServicePort) *corev1.Service {
		return &corev1.Service{Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, Selector: map[string]string{"app": selector}, Ports: ports,
		}}
	}
	port := func(name string, number int32) corev1.ServicePort {
		return corev1.ServicePort{Name: name, Port: number, TargetPort: intstr.FromString(name)}
	}
	defaulted := service("x", port("grpc", 4317))
	defaulted.Spec.ClusterIP = "10.0.0.1"
	defaulted.Spec.Ports[0].Protocol = corev1.ProtocolTCP
	checkKind(t, Services, []kindCase[*corev1.Service]{
		{"assigned cluster IP and defaulted protocol", defaulted, service("x", port("grpc", 4317)), true},
		{"another selector", service("y", port("grpc", 4317)), service("x", port("grpc", 4317)), false},
		{"a port more", service("x", port("grpc", 4317)), service("x", port("grpc", 4317), port("http", 4318)), false},
		{"a port another writer added", service("x", port("grpc", 4317), port("extra", 1)), service("x", port("grpc", 4317)), false},
	})
	mutated := defaulted.DeepCopy()
	mutateService(mutated, service("y", port("grpc", 4317)))
	if mutated.Spec.ClusterIP != "10.0.0.1" {
		t.Errorf("the cluster IP was touched: %q", mutated.Spec.ClusterIP)
	}
}

func TestNetworkPolicies(t *testing.T) {
	policy := func(peers ...string) *networkingv1.NetworkPolicy {
		p := &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}
		rule := networkingv1.NetworkPolicyIngressRule{}
		for _, peer := range peers {
			rule.From = append(rule.From, networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": peer}}})
		}
		p.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{rule}
		return p
	}
	checkKind(t, NetworkPolicies, []kindCase[*networkingv1.NetworkPolicy]{
		{"same peers", policy("a"), policy("a"), true},
		{"a peer no longer admitted must go", policy("a", "b"), policy("a"), false},
	})
}

func TestPodDisruptionBudgets(t *testing.T) {
	budget := func(maxUnavailable, minAvailable *intstr.IntOrString) *policyv1.PodDisruptionBudget {
		return &policyv1.PodDisruptionBudget{Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: maxUnavailable, MinAvailable: minAvailable,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}},
		}}
	}
	one := ptr.To(intstr.FromInt32(1))
	checkKind(t, PodDisruptionBudgets, []kindCase[*policyv1.PodDisruptionBudget]{
		{"as built", budget(one, nil), budget(one, nil), true},
		{"someone set minAvailable", budget(nil, one), budget(one, nil), false},
		{"another maxUnavailable", budget(ptr.To(intstr.FromInt32(2)), nil), budget(one, nil), false},
	})
}

func TestDeployments(t *testing.T) {
	deployment := func(image string, nodeSelector map[string]string) *appsv1.Deployment {
		d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}},
				Spec: corev1.PodSpec{
					NodeSelector: nodeSelector,
					Containers:   []corev1.Container{{Name: "collector", Image: image}},
				},
			},
		}}
		recorded, err := WithSpecRecord(d)
		if err != nil {
			t.Fatal(err)
		}
		return recorded
	}
	defaulted := deployment("a", nil)
	defaulted.Spec.RevisionHistoryLimit = ptr.To[int32](10)
	defaulted.Spec.Template.Spec.DNSPolicy = corev1.DNSClusterFirst
	defaulted.Spec.Template.Spec.Containers[0].TerminationMessagePath = "/dev/termination-log"
	restarted := deployment("a", nil)
	restarted.Spec.Template.Annotations = map[string]string{"kubectl.kubernetes.io/restartedAt": "t"}
	// What a service mesh's injector adds on every write.
	injected := deployment("a", nil)
	injected.Spec.Template.Annotations = map[string]string{"mesh.example.com/injected": "true"}
	injected.Spec.Template.Labels["mesh.example.com/injected"] = "true"
	injected.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "MESH_PROXY_ADDR", Value: "127.0.0.1:15001"}}
	injected.Spec.Template.Spec.Containers = append(injected.Spec.Template.Spec.Containers, corev1.Container{Name: "mesh-proxy", Image: "proxy"})
	injected.Spec.Template.Spec.InitContainers = []corev1.Container{{Name: "mesh-init", Image: "proxy"}}
	injected.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "mesh-certs"}}
	injectedAndChanged := injected.DeepCopy()
	injectedAndChanged.Spec.Template.Spec.Containers[0].Image = "b"
	unrecorded := deployment("a", nil)
	delete(unrecorded.Annotations, SpecHashAnnotation)
	checkKind(t, Deployments, []kindCase[*appsv1.Deployment]{
		{"API server defaults", defaulted, deployment("a", nil), true},
		{"a template annotation someone else set", restarted, deployment("a", nil), true},
		{"a mutating webhook's sidecar, env var and volume", injected, deployment("a", nil), true},
		{"a webhook's additions and another image", injectedAndChanged, deployment("a", nil), false},
		{"another image", deployment("b", nil), deployment("a", nil), false},
		// Only the spec hash tells this from "unchanged".
		{"a field the operator stopped setting", deployment("a", map[string]string{"os": "linux"}), deployment("a", nil), false},
		{"no record of the spec it was given", unrecorded, deployment("a", nil), false},
	})
}

func TestOwnerControls(t *testing.T) {
	owner := Owner{UID: "sink", AdoptionLabels: map[string]string{"instance": "x", "managed-by": "spansink"}}
	object := func(controller string, labels map[string]string) client.Object {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Labels: labels}}
		if controller != "" {
			cm.OwnerReferences = []metav1.OwnerReference{{UID: "other", Name: "other"}, {UID: types.UID(controller), Controller: ptr.To(true)}}
		}
		return cm
	}
	ours := map[string]string{"instance": "x", "managed-by": "spansink"}
	cases := []struct {
		name      string
		obj       client.Object
		adoptable bool
		controls  bool
	}{
		{"its controller", object("sink", nil), false, true},
		{"another controller", object("someone", ours), true, false},
		{"no controller, not adoptable", object("", ours), false, false},
		{"no controller, adoptable, the owner's labels", object("", ours), true, true},
		{"no controller, adoptable, another instance's labels", object("", map[string]string{"instance": "y", "managed-by": "spansink"}), true, false},
		{"no controller, adoptable, no labels", object("", nil), true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := owner.Controls(tc.obj, tc.adoptable); got != tc.controls {
				t.Errorf("Controls = %v, want %v", got, tc.controls)
			}
		})
	}
}

func TestMutateMetadata(t *testing.T) {
	owner := Owner{UID: "sink"}
	ref := metav1.OwnerReference{UID: "sink", Name: "x", Controller: ptr.To(true)}
	other := metav1.OwnerReference{UID: "other", Name: "y"}
	live := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Labels:          map[string]string{"app": "old", "team": "a"},
		Annotations:     map[string]string{"note": "kept"},
		OwnerReferences: []metav1.OwnerReference{other},
	}}
	desired := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Labels:          map[string]string{"app": "x"},
		Annotations:     map[string]string{"mine": "1", SpecHashAnnotation: "h"},
		OwnerReferences: []metav1.OwnerReference{ref},
	}}
	if metadataSynced(live, desired, owner) {
		t.Fatal("metadataSynced before the merge")
	}
	mutateMetadata(live, desired, owner)
	if !metadataSynced(live, desired, owner) {
		t.Error("metadataSynced is false after the merge")
	}
	if want := map[string]string{"app": "x", "team": "a"}; !equality.Semantic.DeepEqual(live.Labels, want) {
		t.Errorf("labels = %v, want %v", live.Labels, want)
	}
	// The spec hash belongs to the spec update, not to the metadata.
	if want := map[string]string{"note": "kept", "mine": "1"}; !equality.Semantic.DeepEqual(live.Annotations, want) {
		t.Errorf("annotations = %v, want %v", live.Annotations, want)
	}
	if want := []metav1.OwnerReference{other, ref}; !equality.Semantic.DeepEqual(live.OwnerReferences, want) {
		t.Errorf("owner references = %v, want %v", live.OwnerReferences, want)
	}
}
