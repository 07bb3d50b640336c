package controllers

import (
	"context"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/controllers/manifests"
	"github.com/spansink/spansink/sink/config"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
)

// newSecret makes a Secret in ns holding data.
func newSecret(ctx context.Context, ns, name string, secretType corev1.SecretType, data map[string]string) *corev1.Secret {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: secretType, StringData: data}
	ExpectWithOffset(1, k8sClient.Create(ctx, secret)).To(Succeed())
	return secret
}

// tlsSecret is a kubernetes.io/tls Secret as cert-manager makes it. The
// operator only checks its keys; the collector's tests use real
// certificates.
func tlsSecret(ctx context.Context, ns, name string) *corev1.Secret {
	return newSecret(ctx, ns, name, corev1.SecretTypeTLS, map[string]string{
		corev1.TLSCertKey: "-----BEGIN CERTIFICATE-----\n", corev1.TLSPrivateKeyKey: "-----BEGIN PRIVATE KEY-----\n", "ca.crt": "-----BEGIN CERTIFICATE-----\n",
	})
}

// securedSpec sets auth, TLS with client certificates, debug and a
// network policy, naming Secrets called tokens, serving and client-ca.
func securedSpec(sink *v1alpha1.SpanSink) {
	sink.Spec.Auth = &v1alpha1.AuthSpec{BearerTokenSecretRef: v1alpha1.BearerTokenSecretRef{Name: "tokens"}}
	sink.Spec.TLS = &v1alpha1.TLSSpec{
		SecretRef:         v1alpha1.TLSSecretRef{Name: "serving"},
		ClientCASecretRef: &v1alpha1.ClientCASecretRef{Name: "client-ca"},
	}
	sink.Spec.Debug.Enabled = true
	sink.Spec.NetworkPolicy = &v1alpha1.NetworkPolicySpec{
		IngestFrom:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "apps"}}}},
		MetricsFrom: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "monitoring"}}}},
	}
}

var _ = Describe("A SpanSink in a shared cluster", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
	})

	It("mounts the Secrets read-only, points the config at them, says https, and then writes nothing", func() {
		newSecret(ctx, ns, "tokens", corev1.SecretTypeOpaque, map[string]string{"token": "first\nsecond\n"})
		tlsSecret(ctx, ns, "serving")
		newSecret(ctx, ns, "client-ca", corev1.SecretTypeOpaque, map[string]string{"ca.crt": "-----BEGIN CERTIFICATE-----\n"})
		sink := newSink(ns, "safe")
		securedSpec(sink)
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		waitForCollector(ctx, ns, "safe")

		deploy := &appsv1.Deployment{}
		Expect(k8sClient.Get(ctx, key(ns, "safe-collector"), deploy)).To(Succeed())
		pod := deploy.Spec.Template.Spec
		Expect(pod.AutomountServiceAccountToken).To(HaveValue(BeFalse()), "the collector needs no API access, least of all to Secrets")
		mounted := map[string]string{} // file in the container -> Secret/key
		for _, v := range pod.Volumes {
			if v.Secret == nil {
				continue
			}
			Expect(v.Secret.DefaultMode).To(HaveValue(Equal(int32(0o440))), "volume %s", v.Name)
			Expect(v.Secret.Optional).To(BeNil(), "a missing Secret must keep the pod from starting, not start it without credentials")
			for _, m := range pod.Containers[0].VolumeMounts {
				if m.Name == v.Name {
					Expect(m.ReadOnly).To(BeTrue(), "volume %s", v.Name)
					for _, item := range v.Secret.Items {
						mounted[m.MountPath+"/"+item.Path] = v.Secret.SecretName + "/" + item.Key
					}
				}
			}
		}
		cm := &corev1.ConfigMap{}
		Expect(k8sClient.Get(ctx, key(ns, "safe-collector"), cm)).To(Succeed())
		cfg, err := config.Parse([]byte(cm.Data[config.FileName]))
		Expect(err).NotTo(HaveOccurred())
		Expect(mounted).To(Equal(map[string]string{
			cfg.Auth.BearerTokenFile: "tokens/token",
			cfg.TLS.CertFile:         "serving/tls.crt",
			cfg.TLS.KeyFile:          "serving/tls.key",
			cfg.TLS.ClientCAFile:     "client-ca/ca.crt",
		}))
		Expect(cfg.Debug.Enabled).To(BeTrue())

		svc := &corev1.Service{}
		Expect(k8sClient.Get(ctx, key(ns, "safe-collector"), svc)).To(Succeed())
		appProtocols := map[string]string{}
		for _, p := range svc.Spec.Ports {
			appProtocols[p.Name] = ptr.Deref(p.AppProtocol, "")
		}
		Expect(appProtocols).To(Equal(map[string]string{"otlp-grpc": "https", "otlp-http": "https", "metrics": "http"}))

		markAvailable(ctx, ns, "safe-collector")
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "safe")
			g.Expect(condition(got, v1alpha1.ConditionReady)).To(HaveField("Status", metav1.ConditionTrue))
			g.Expect(got.Status.Endpoints).To(Equal(v1alpha1.Endpoints{
				OTLPGRPC: "https://safe-collector." + ns + ".svc:4317",
				OTLPHTTP: "https://safe-collector." + ns + ".svc:4318",
			}))
		}).Should(Succeed())

		// A full pass over the converged children, the Secrets looked up
		// again and the NetworkPolicy compared, writes nothing.
		var writes atomic.Int32
		resync := &SpanSinkReconciler{Client: countingClient(&writes), CollectorImage: testImage}
		Eventually(func(g Gomega) {
			writes.Store(0)
			_, err := resync.Reconcile(ctx, ctrl.Request{NamespacedName: key(ns, "safe")})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(writes.Load()).To(BeZero(), "a pass over an unchanged SpanSink must not write")
		}).Should(Succeed())
	})

	It("puts the collector's ServiceAccount back to mounting no token when someone changes it", func() {
		Expect(k8sClient.Create(ctx, newSink(ns, "quiet"))).To(Succeed())
		waitForCollector(ctx, ns, "quiet")
		Eventually(func(g Gomega) {
			sa := &corev1.ServiceAccount{}
			g.Expect(k8sClient.Get(ctx, key(ns, "quiet-collector"), sa)).To(Succeed())
			sa.AutomountServiceAccountToken = ptr.To(true)
			g.Expect(k8sClient.Update(ctx, sa)).To(Succeed())
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			sa := &corev1.ServiceAccount{}
			g.Expect(k8sClient.Get(ctx, key(ns, "quiet-collector"), sa)).To(Succeed())
			g.Expect(sa.AutomountServiceAccountToken).To(HaveValue(BeFalse()))
		}).Should(Succeed())
	})

	It("makes the NetworkPolicy with an owner reference, follows the spec exactly, and deletes it when unset", func() {
		sink := newSink(ns, "fenced")
		securedSpec(sink)
		sink.Spec.Auth, sink.Spec.TLS = nil, nil
		sink.Spec.NetworkPolicy.IngestFrom[0].PodSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"traces": "send"}}
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())

		policy := &networkingv1.NetworkPolicy{}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(ns, "fenced-collector"), policy)).To(Succeed())
		}).Should(Succeed())
		Expect(k8sClient.Get(ctx, key(ns, "fenced"), sink)).To(Succeed())
		expectControlledBy(Default, policy, sink)
		Expect(policy.Spec.PodSelector.MatchLabels).To(Equal(manifests.SelectorLabels(sink)))
		Expect(policy.Spec.PolicyTypes).To(Equal([]networkingv1.PolicyType{networkingv1.PolicyTypeIngress}))
		Expect(policy.Spec.Ingress).To(HaveLen(2))
		Expect(policy.Spec.Ingress[0].Ports).To(HaveLen(2))
		Expect(policy.Spec.Ingress[0].Ports[0].Port.IntValue()).To(Equal(manifests.OTLPGRPCPort))
		Expect(policy.Spec.Ingress[0].Ports[1].Port.IntValue()).To(Equal(manifests.OTLPHTTPPort))
		Expect(policy.Spec.Ingress[0].From[0].PodSelector).NotTo(BeNil())
		Expect(policy.Spec.Ingress[1].Ports[0].Port.IntValue()).To(Equal(manifests.MetricsPort))

		// Narrowing a peer takes the dropped selector out of the policy:
		// what the SpanSink no longer admits is no longer admitted.
		updateSink(ctx, ns, "fenced", func(s *v1alpha1.SpanSink) { s.Spec.NetworkPolicy.IngestFrom[0].NamespaceSelector = nil })
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(ns, "fenced-collector"), policy)).To(Succeed())
			g.Expect(policy.Spec.Ingress[0].From[0].NamespaceSelector).To(BeNil())
		}).Should(Succeed())

		// Empty lists admit no one: no rule at all, where a rule without
		// peers would admit everyone.
		updateSink(ctx, ns, "fenced", func(s *v1alpha1.SpanSink) { s.Spec.NetworkPolicy = &v1alpha1.NetworkPolicySpec{} })
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(ns, "fenced-collector"), policy)).To(Succeed())
			g.Expect(policy.Spec.Ingress).To(BeEmpty())
			g.Expect(policy.Spec.PolicyTypes).To(Equal([]networkingv1.PolicyType{networkingv1.PolicyTypeIngress}))
		}).Should(Succeed())

		updateSink(ctx, ns, "fenced", func(s *v1alpha1.SpanSink) { s.Spec.NetworkPolicy = nil })
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "fenced-collector"), &networkingv1.NetworkPolicy{}))
		}).Should(BeTrue())
		Eventually(func(g Gomega) {
			var notes []string
			for _, e := range eventsAbout(g, ctx, ns, "fenced") {
				notes = append(notes, e.Note)
			}
			g.Expect(notes).To(ContainElement("Deleted NetworkPolicy fenced-collector: spec.networkPolicy is unset"))
		}).Should(Succeed())
	})

	It("leaves a foreign NetworkPolicy under the child's name alone and reports it", func() {
		foreign := &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "clash-collector"},
			Spec:       networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}},
		}
		Expect(k8sClient.Create(ctx, foreign)).To(Succeed())
		sink := newSink(ns, "clash")
		sink.Spec.NetworkPolicy = &v1alpha1.NetworkPolicySpec{}
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(condition(getSink(g, ctx, ns, "clash"), v1alpha1.ConditionDegraded)).To(And(
				HaveField("Reason", v1alpha1.ReasonChildConflict),
				HaveField("Message", ContainSubstring("NetworkPolicy clash-collector already exists and is not controlled by this SpanSink"))))
		}).Should(Succeed())
		// Unsetting the field does not make the operator delete it either.
		updateSink(ctx, ns, "clash", func(s *v1alpha1.SpanSink) { s.Spec.NetworkPolicy = nil })
		Eventually(func(g Gomega) {
			g.Expect(condition(getSink(g, ctx, ns, "clash"), v1alpha1.ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))
		}).Should(Succeed())
		live := &networkingv1.NetworkPolicy{}
		Expect(k8sClient.Get(ctx, key(ns, "clash-collector"), live)).To(Succeed())
		Expect(live.ResourceVersion).To(Equal(foreign.ResourceVersion))
	})

	It("reports a missing Secret, then a missing key, holding the running collector back, and rolls out once both are there", func() {
		sink := newSink(ns, "waits")
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		waitForCollector(ctx, ns, "waits")
		markAvailable(ctx, ns, "waits-collector")
		before := &appsv1.Deployment{}
		Expect(k8sClient.Get(ctx, key(ns, "waits-collector"), before)).To(Succeed())
		beforeConfig := &corev1.ConfigMap{}
		Expect(k8sClient.Get(ctx, key(ns, "waits-collector"), beforeConfig)).To(Succeed())

		updateSink(ctx, ns, "waits", func(s *v1alpha1.SpanSink) {
			s.Spec.Auth = &v1alpha1.AuthSpec{BearerTokenSecretRef: v1alpha1.BearerTokenSecretRef{Name: "ingest-tokens"}}
			s.Spec.TLS = &v1alpha1.TLSSpec{SecretRef: v1alpha1.TLSSecretRef{Name: "serving"}}
		})
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "waits")
			g.Expect(condition(got, v1alpha1.ConditionDegraded)).To(And(
				HaveField("Status", metav1.ConditionTrue),
				HaveField("Reason", v1alpha1.ReasonSecretNotFound),
				HaveField("Message", And(
					ContainSubstring(`Secret ingest-tokens named by spec.auth.bearerTokenSecretRef does not exist in this namespace: create it with key "token" holding the bearer tokens, one per line`),
					ContainSubstring(`Secret serving named by spec.tls.secretRef does not exist in this namespace: create it with key "tls.crt" and key "tls.key"`),
					ContainSubstring("The collector keeps its current configuration until then")))))
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation), "the pass judged this generation: it waits on a person")
			g.Expect(condition(got, v1alpha1.ConditionStalled)).To(And(
				HaveField("Status", metav1.ConditionTrue), HaveField("Reason", v1alpha1.ReasonSecretNotFound)))
			g.Expect(condition(got, v1alpha1.ConditionReady)).To(HaveField("Status", metav1.ConditionTrue), "the running collector keeps serving")
			g.Expect(condition(got, v1alpha1.ConditionProgressing)).To(And(
				HaveField("Status", metav1.ConditionFalse), HaveField("Reason", v1alpha1.ReasonSecretNotFound)))
		}).Should(Succeed())
		// Neither the pod nor its config is touched while a Secret is missing.
		Consistently(func(g Gomega) {
			deploy := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, key(ns, "waits-collector"), deploy)).To(Succeed())
			g.Expect(deploy.Generation).To(Equal(before.Generation))
			cm := &corev1.ConfigMap{}
			g.Expect(k8sClient.Get(ctx, key(ns, "waits-collector"), cm)).To(Succeed())
			g.Expect(cm.ResourceVersion).To(Equal(beforeConfig.ResourceVersion))
		}, 2*time.Second).Should(Succeed())

		// The Secrets appear, one without the key the SpanSink names.
		tokens := newSecret(ctx, ns, "ingest-tokens", corev1.SecretTypeOpaque, map[string]string{"tokens.txt": "t0ken\n"})
		tlsSecret(ctx, ns, "serving")
		Eventually(func(g Gomega) {
			g.Expect(condition(getSink(g, ctx, ns, "waits"), v1alpha1.ConditionDegraded)).To(And(
				HaveField("Reason", v1alpha1.ReasonSecretKeyMissing),
				HaveField("Message", ContainSubstring(`Secret ingest-tokens named by spec.auth.bearerTokenSecretRef has no key "token": add key "token" holding the bearer tokens, one per line, or set spec.auth.bearerTokenSecretRef.key to the key that holds them`))))
		}).Should(Succeed())

		// Once the key is there the SpanSink recovers by itself (polled:
		// Secrets are not watched) and the pod rolls onto the new config.
		tokens.StringData = map[string]string{"token": "t0ken\n"}
		Expect(k8sClient.Update(ctx, tokens)).To(Succeed())
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "waits")
			g.Expect(condition(got, v1alpha1.ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
			deploy := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, key(ns, "waits-collector"), deploy)).To(Succeed())
			g.Expect(deploy.Generation).To(BeNumerically(">", before.Generation))
			var secrets []string
			for _, v := range deploy.Spec.Template.Spec.Volumes {
				if v.Secret != nil {
					secrets = append(secrets, v.Secret.SecretName)
				}
			}
			g.Expect(secrets).To(Equal([]string{"ingest-tokens", "serving"}))
		}).Should(Succeed())
	})

	It("creates no collector for a new SpanSink until its Secret exists", func() {
		sink := newSink(ns, "fresh")
		sink.Spec.TLS = &v1alpha1.TLSSpec{SecretRef: v1alpha1.TLSSecretRef{Name: "serving"}, ClientCASecretRef: &v1alpha1.ClientCASecretRef{Name: "serving"}}
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "fresh")
			g.Expect(condition(got, v1alpha1.ConditionDegraded)).To(HaveField("Reason", v1alpha1.ReasonSecretNotFound))
			g.Expect(condition(got, v1alpha1.ConditionProgressing)).To(And(
				HaveField("Status", metav1.ConditionFalse), HaveField("Reason", v1alpha1.ReasonSecretNotFound)))
		}).Should(Succeed())
		Expect(apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "fresh-collector"), &appsv1.Deployment{}))).To(BeTrue())
		Expect(apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "fresh-collector"), &corev1.ConfigMap{}))).To(BeTrue())

		// A TLS Secret without ca.crt: the client CA key is what is missing.
		newSecret(ctx, ns, "serving", corev1.SecretTypeTLS, map[string]string{corev1.TLSCertKey: "c", corev1.TLSPrivateKeyKey: "k"})
		Eventually(func(g Gomega) {
			g.Expect(condition(getSink(g, ctx, ns, "fresh"), v1alpha1.ConditionDegraded)).To(And(
				HaveField("Reason", v1alpha1.ReasonSecretKeyMissing),
				HaveField("Message", ContainSubstring(`Secret serving named by spec.tls.clientCASecretRef has no key "ca.crt"`))))
		}).Should(Succeed())
	})

	It("adds none of the new fields to a SpanSink written before they existed", func() {
		old := rawSink(ns, "old", map[string]any{"batch": map[string]any{"size": 500}, "storage": map[string]any{"format": "otlp-json"}})
		Expect(k8sClient.Create(ctx, old)).To(Succeed())
		waitForCollector(ctx, ns, "old")
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("SpanSink"))
		Expect(k8sClient.Get(ctx, key(ns, "old"), got)).To(Succeed())
		spec := got.Object["spec"].(map[string]any)
		for _, field := range []string{"auth", "tls", "debug", "networkPolicy", "limits"} {
			Expect(spec).NotTo(HaveKey(field), "the API server defaulted %s on an old object", field)
		}
		Expect(apierrors.IsNotFound(k8sClient.Get(ctx, key(ns, "old-collector"), &networkingv1.NetworkPolicy{}))).To(BeTrue())
	})
})

var _ = Describe("Validation of the security fields by the API server", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
	})

	DescribeTable("refuses an invalid value with a message that says why",
		func(spec map[string]any, wantMessage string) {
			err := k8sClient.Create(ctx, rawSink(ns, "s", spec))
			Expect(err).To(HaveOccurred())
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
			Expect(err.Error()).To(ContainSubstring(wantMessage))
		},
		Entry("auth without a Secret", map[string]any{"auth": map[string]any{}}, "spec.auth.bearerTokenSecretRef: Required value"),
		Entry("token Secret name not a DNS name", map[string]any{"auth": map[string]any{"bearerTokenSecretRef": map[string]any{"name": "Tokens!"}}}, "spec.auth.bearerTokenSecretRef.name: Invalid value"),
		Entry("token key with a slash", map[string]any{"auth": map[string]any{"bearerTokenSecretRef": map[string]any{"name": "t", "key": "a/b"}}}, "spec.auth.bearerTokenSecretRef.key: Invalid value"),
		Entry("tls without a Secret", map[string]any{"tls": map[string]any{}}, "spec.tls.secretRef: Required value"),
		Entry("client CA without a name", map[string]any{"tls": map[string]any{"secretRef": map[string]any{"name": "s"}, "clientCASecretRef": map[string]any{}}}, "spec.tls.clientCASecretRef.name: Required value"),
		Entry("peer with nothing in it", map[string]any{"networkPolicy": map[string]any{"ingestFrom": []any{map[string]any{}}}}, "networkPolicy peers must set podSelector, namespaceSelector or ipBlock"),
		Entry("ipBlock with a selector", map[string]any{"networkPolicy": map[string]any{"metricsFrom": []any{map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.0/8"}, "podSelector": map[string]any{}}}}}, "a networkPolicy peer with ipBlock must not also set podSelector or namespaceSelector"),
		Entry("ipBlock that is no CIDR", map[string]any{"networkPolicy": map[string]any{"ingestFrom": []any{map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.0"}}}}}, "networkPolicy ipBlock.cidr must be a CIDR such as 10.0.0.0/8"),
		Entry("in-flight budget below a request", map[string]any{"limits": map[string]any{"maxRequestBytes": 8 << 20, "maxInflightBytes": 4 << 20}}, "limits.maxInflightBytes (default 67108864, 64 MiB) must be at least limits.maxRequestBytes"),
		Entry("request above the default in-flight budget", map[string]any{"limits": map[string]any{"maxRequestBytes": 100 << 20}}, "raise maxInflightBytes or lower maxRequestBytes"),
		Entry("tiny request limit", map[string]any{"limits": map[string]any{"maxRequestBytes": 100}}, "spec.limits.maxRequestBytes: Invalid value: 100: spec.limits.maxRequestBytes in body should be greater than or equal to 1024"),
		Entry("no concurrent requests", map[string]any{"limits": map[string]any{"maxConcurrentRequests": 0}}, "spec.limits.maxConcurrentRequests in body should be greater than or equal to 1"),
		Entry("too many streams", map[string]any{"limits": map[string]any{"maxConcurrentStreams": 10001}}, "spec.limits.maxConcurrentStreams in body should be less than or equal to 10000"),
		Entry("request timeout too short", map[string]any{"limits": map[string]any{"requestTimeout": "500ms"}}, "limits.requestTimeout must be a duration such as 30s or 2m, from 1s to 1h"),
		Entry("request timeout not a duration", map[string]any{"limits": map[string]any{"requestTimeout": "forever"}}, "limits.requestTimeout must be a duration such as 30s or 2m, from 1s to 1h"),
		Entry("no attributes", map[string]any{"limits": map[string]any{"maxAttributesPerSpan": 0}}, "spec.limits.maxAttributesPerSpan in body should be greater than or equal to 1"),
		Entry("negative attribute value length", map[string]any{"limits": map[string]any{"maxAttributeValueBytes": -1}}, "spec.limits.maxAttributeValueBytes in body should be greater than or equal to 0"),
	)

	It("accepts every field at once and fills in the Secret keys", func() {
		sink := rawSink(ns, "full", map[string]any{
			"auth":          map[string]any{"bearerTokenSecretRef": map[string]any{"name": "tokens"}},
			"tls":           map[string]any{"secretRef": map[string]any{"name": "serving"}, "clientCASecretRef": map[string]any{"name": "ca"}},
			"debug":         map[string]any{"enabled": true},
			"networkPolicy": map[string]any{"ingestFrom": []any{map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.0/8"}}}},
			"limits":        map[string]any{"maxRequestBytes": 100 << 20, "maxInflightBytes": 200 << 20, "requestTimeout": "1m", "maxAttributeValueBytes": 0},
		})
		Expect(k8sClient.Create(ctx, sink)).To(Succeed())
		got := &v1alpha1.SpanSink{}
		Expect(k8sClient.Get(ctx, key(ns, "full"), got)).To(Succeed())
		Expect(got.Spec.Auth.BearerTokenSecretRef.Key).To(Equal(v1alpha1.SecretKey("token")))
		Expect(got.Spec.TLS.ClientCASecretRef.Key).To(Equal(v1alpha1.SecretKey("ca.crt")))
		Expect(got.Spec.Limits.MaxAttributeValueBytes).To(HaveValue(BeZero()))
	})
})
