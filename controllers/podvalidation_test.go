package controllers

import (
	"context"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// podField is where a pod setting lands: on the SpanSink and on the
// collector's pod template.
type podField string

const (
	fieldPodLabels      podField = "podLabels"
	fieldPodAnnotations podField = "podAnnotations"
	fieldNodeSelector   podField = "nodeSelector"
)

// deploymentWith is a Deployment whose pod template carries name=value
// where the SpanSink's field would put it.
func deploymentWith(ns string, field podField, name, value string) *appsv1.Deployment {
	deploy := foreignDeployment(ns, "probe")
	tmpl := &deploy.Spec.Template
	switch field {
	case fieldPodLabels:
		tmpl.Labels[name] = value
	case fieldPodAnnotations:
		tmpl.Annotations = map[string]string{name: value}
	case fieldNodeSelector:
		tmpl.Spec.NodeSelector = map[string]string{name: value}
	}
	return deploy
}

var (
	longPrefix = strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61)
	longName   = strings.Repeat("n", 63)
	longValue  = "v" + strings.Repeat("-_.", 20) + "x1"
)

var _ = Describe("Pod settings the Deployment API would refuse", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
	})

	// The CRD refuses exactly what the Deployment would: each case is tried
	// on a Deployment too, so a rule stricter than the API server, or an
	// assumption about it that no longer holds, fails here.
	DescribeTable("refuses them at the SpanSink, with a message that says why",
		func(field podField, name, value, wantMessage string) {
			err := k8sClient.Create(ctx, rawSink(ns, "s", map[string]any{string(field): map[string]any{name: value}}))
			Expect(err).To(HaveOccurred())
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
			Expect(err.Error()).To(ContainSubstring(wantMessage))

			err = k8sClient.Create(ctx, deploymentWith(ns, field, name, value))
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "the Deployment API accepts %s %q=%q, so the CRD must too; got %v", field, name, value, err)
		},
		Entry("label key with a space", fieldPodLabels, "team name", "a", "podLabels keys must be label names"),
		Entry("label key with two slashes", fieldPodLabels, "example.com/team/name", "a", "podLabels keys must be label names"),
		Entry("label key with an empty prefix", fieldPodLabels, "/team", "a", "podLabels keys must be label names"),
		Entry("label key with a capital in its prefix", fieldPodLabels, "Example.com/team", "a", "podLabels keys must be label names"),
		Entry("label key name of 64 characters", fieldPodLabels, longName+"n", "a", "podLabels keys must be label names"),
		Entry("label key prefix of 254 characters", fieldPodLabels, longPrefix+"d/team", "a", "podLabels keys must be label names"),
		Entry("label value of 64 characters", fieldPodLabels, "team", longValue+"z", "spec.podLabels.team: Too long: may not be more than 63 bytes"),
		Entry("label value with a space", fieldPodLabels, "team", "llm platform", "podLabels values must be label values"),
		Entry("label value ending in a dash", fieldPodLabels, "team", "llm-", "podLabels values must be label values"),
		Entry("annotation key with a space", fieldPodAnnotations, "my key", "v", "podAnnotations keys must be annotation names"),
		Entry("annotation key with an empty prefix", fieldPodAnnotations, "/key", "v", "podAnnotations keys must be annotation names"),
		Entry("annotation key name of 64 characters", fieldPodAnnotations, "example.com/"+longName+"n", "v", "podAnnotations keys must be annotation names"),
		Entry("node selector key with a trailing slash", fieldNodeSelector, "kubernetes.io/os/", "linux", "nodeSelector keys must be label names"),
		Entry("node selector value with a bang", fieldNodeSelector, "kubernetes.io/os", "linux!", "nodeSelector values must be label values"),
		Entry("node selector value of 64 characters", fieldNodeSelector, "example.com/rack", longValue+"z", "spec.nodeSelector.example.com/rack: Too long: may not be more than 63 bytes"),
	)

	// The longest and oddest names both sides accept reach the pod.
	DescribeTable("accepts what the Deployment API accepts and puts it on the pod",
		func(field podField, name, value string) {
			Expect(k8sClient.Create(ctx, deploymentWith(ns, field, name, value))).To(Succeed(), "the case itself must be valid for a Deployment")
			Expect(k8sClient.Create(ctx, rawSink(ns, "ok", map[string]any{string(field): map[string]any{name: value}}))).To(Succeed())
			Eventually(func(g Gomega) {
				deploy := &appsv1.Deployment{}
				g.Expect(k8sClient.Get(ctx, key(ns, "ok-collector"), deploy)).To(Succeed())
				var got map[string]string
				switch field {
				case fieldPodLabels:
					got = deploy.Spec.Template.Labels
				case fieldPodAnnotations:
					got = deploy.Spec.Template.Annotations
				case fieldNodeSelector:
					got = deploy.Spec.Template.Spec.NodeSelector
				}
				g.Expect(got).To(HaveKeyWithValue(name, value))
			}).Should(Succeed())
		},
		Entry("label with the longest prefix, name and value", fieldPodLabels, longPrefix+"/"+longName, longValue),
		Entry("label with an empty value", fieldPodLabels, "example.com/flag", ""),
		Entry("label name with capitals, '_' and '.'", fieldPodLabels, "Team_A.b", "X.y_z"),
		Entry("annotation key with capitals in its prefix", fieldPodAnnotations, "Example.COM/Some_Key", "any value at all: spaces, !, / ..."),
		Entry("node selector on a well-known label", fieldNodeSelector, "topology.kubernetes.io/zone", "eu-west-1a"),
	)
})
