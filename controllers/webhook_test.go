package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/spansink/spansink/api/v1alpha1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// A service mesh or a policy engine adds to the pod templates of the
// Deployments it admits: an annotation and a label saying so, an env var in
// every container, a sidecar. The suite runs such a mutating webhook for
// Deployments in namespaces labelled meshNamespaceLabel only, so the other
// specs never meet it.
const (
	meshNamespaceLabel = "mesh.example.com/inject"
	meshInjectedKey    = "mesh.example.com/injected"
	meshEnvName        = "MESH_PROXY_ADDR"
	meshSidecarName    = "mesh-proxy"
	meshWebhookPath    = "/mutate-apps-v1-deployment"
)

// meshWebhookOptions installs the mesh's MutatingWebhookConfiguration with
// envtest, which points it at a local port with a CA of its own.
func meshWebhookOptions() envtest.WebhookInstallOptions {
	sideEffects := admissionregistrationv1.SideEffectClassNone
	return envtest.WebhookInstallOptions{MutatingWebhooks: []*admissionregistrationv1.MutatingWebhookConfiguration{{
		ObjectMeta: metav1.ObjectMeta{Name: "test-mesh-injector"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "inject.mesh.example.com",
			// envtest replaces the service with its local URL.
			ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
				Namespace: "default", Name: "mesh", Path: ptr.To(meshWebhookPath),
			}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"},
				},
			}},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{meshNamespaceLabel: "enabled"}},
			// Fail, not Ignore: a webhook that is not called must fail the
			// spec, not let it pass without the mutation it is about.
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			SideEffects:             &sideEffects,
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](5),
		}},
	}}}
}

// startMeshWebhook serves the mesh's webhook on the address envtest gave
// it, until ctx ends.
func startMeshWebhook(ctx context.Context, opts envtest.WebhookInstallOptions) {
	server := webhook.NewServer(webhook.Options{
		Host: opts.LocalServingHost, Port: opts.LocalServingPort, CertDir: opts.LocalServingCertDir,
	})
	server.Register(meshWebhookPath, &webhook.Admission{Handler: admission.HandlerFunc(injectMesh)})
	go func() {
		defer GinkgoRecover()
		Expect(server.Start(ctx)).To(Succeed())
	}()
	Eventually(func() error { return server.StartedChecker()(&http.Request{}) }).Should(Succeed())
}

// injectMesh is the mesh's mutation. Like real injectors it is idempotent:
// what is there already is not added again.
func injectMesh(_ context.Context, req admission.Request) admission.Response {
	deploy := &appsv1.Deployment{}
	if err := json.Unmarshal(req.Object.Raw, deploy); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	tmpl := &deploy.Spec.Template
	if tmpl.Annotations == nil {
		tmpl.Annotations = map[string]string{}
	}
	tmpl.Annotations[meshInjectedKey] = "true"
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[meshInjectedKey] = "true"
	for i := range tmpl.Spec.Containers {
		c := &tmpl.Spec.Containers[i]
		if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == meshEnvName }) {
			c.Env = append(c.Env, corev1.EnvVar{Name: meshEnvName, Value: "127.0.0.1:15001"})
		}
	}
	if !slices.ContainsFunc(tmpl.Spec.Containers, func(c corev1.Container) bool { return c.Name == meshSidecarName }) {
		tmpl.Spec.Containers = append(tmpl.Spec.Containers, corev1.Container{
			Name: meshSidecarName, Image: "example.com/mesh-proxy:1",
			Env: []corev1.EnvVar{{Name: meshEnvName, Value: "127.0.0.1:15001"}},
		})
	}
	mutated, err := json.Marshal(deploy)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, mutated)
}

var _ = Describe("SpanSink children under a mutating webhook", func() {
	It("writes nothing more to a Deployment the webhook adds to, pass after pass", func() {
		ctx := context.Background()
		nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			GenerateName: "spansink-mesh-", Labels: map[string]string{meshNamespaceLabel: "enabled"},
		}}
		Expect(k8sClient.Create(ctx, nsObj)).To(Succeed())
		ns := nsObj.Name

		Expect(k8sClient.Create(ctx, newSink(ns, "meshed"))).To(Succeed())
		// The webhook has had its say on the Deployment the operator made.
		Eventually(func(g Gomega) {
			deploy := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, key(ns, "meshed-collector"), deploy)).To(Succeed())
			g.Expect(deploy.Spec.Template.Annotations).To(HaveKeyWithValue(meshInjectedKey, "true"))
			g.Expect(deploy.Spec.Template.Spec.Containers).To(ContainElement(HaveField("Name", meshSidecarName)))
		}).Should(Succeed())
		markAvailable(ctx, ns, "meshed-collector")
		Eventually(func(g Gomega) {
			got := getSink(g, ctx, ns, "meshed")
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
			g.Expect(condition(got, v1alpha1.ConditionReady)).To(HaveField("Status", metav1.ConditionTrue))
		}).Should(Succeed())

		// Converged: from here on every pass must find the Deployment as it
		// wants it, whatever the webhook added.
		deploymentWrites := func() int { return recorder.writesTo(ns, "apps", "deployments") }
		updatesRecorded := func() int { return recordedEvents.count(ns, "meshed", "Updated") }
		// What the API server holds: repeats of an Event become its series.
		updatedEvents := func(g Gomega) []string {
			var seen []string
			for _, e := range eventsAbout(g, ctx, ns, "meshed") {
				if e.Reason == "Updated" {
					seen = append(seen, fmt.Sprintf("%s (version %s): %s", e.Name, e.ResourceVersion, e.Note))
				}
			}
			return seen
		}
		writesBefore, updatesBefore := deploymentWrites(), updatesRecorded()
		var eventsBefore []string
		Eventually(func(g Gomega) { eventsBefore = updatedEvents(g) }).Should(Succeed())

		// Passes the test forces: a change to an unrelated annotation of the
		// SpanSink and the Deployment controller's status writes each wake
		// the operator; the config recheck requeues it meanwhile.
		for i := range 3 {
			updateSink(ctx, ns, "meshed", func(s *v1alpha1.SpanSink) {
				metav1.SetMetaDataAnnotation(&s.ObjectMeta, "example.com/touched", strings.Repeat("x", i+1))
			})
			markAvailable(ctx, ns, "meshed-collector")
			time.Sleep(500 * time.Millisecond)
		}
		Consistently(func(g Gomega) {
			g.Expect(deploymentWrites()).To(Equal(writesBefore), "a pass wrote to the Deployment the webhook mutated")
			g.Expect(updatesRecorded()).To(Equal(updatesBefore), "a pass recorded an Updated Event")
			g.Expect(updatedEvents(g)).To(Equal(eventsBefore), "an Updated Event was written")
		}, 2*time.Second).Should(Succeed())

		deploy := &appsv1.Deployment{}
		Expect(k8sClient.Get(ctx, key(ns, "meshed-collector"), deploy)).To(Succeed())
		Expect(deploy.Spec.Template.Spec.Containers).To(ContainElement(HaveField("Name", meshSidecarName)),
			"the webhook's sidecar is kept")
	})
})
