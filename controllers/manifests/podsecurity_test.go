package manifests

import (
	"testing"

	"github.com/spansink/spansink/api/v1alpha1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"k8s.io/utils/ptr"
)

// The collector pod must pass the Pod Security Standard "restricted", as
// judged by the same checks the API server's admission plugin runs.
func TestCollectorPodIsRestricted(t *testing.T) {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	restricted := api.LevelVersion{Level: api.LevelRestricted, Version: api.LatestVersion()}
	for name, sink := range map[string]*v1alpha1.SpanSink{"default": defaultedSink(), "custom": customSink(), "secured": securedSink()} {
		t.Run(name, func(t *testing.T) {
			desired, err := Build(Params{Sink: sink, DefaultImage: testImage})
			if err != nil {
				t.Fatal(err)
			}
			tmpl := desired.Shards[0].Deployment.Spec.Template
			result := policy.AggregateCheckResults(evaluator.EvaluatePod(restricted, &tmpl.ObjectMeta, &tmpl.Spec))
			if !result.Allowed {
				t.Errorf("collector pod violates restricted: %s: %s", result.ForbiddenReason(), result.ForbiddenDetail())
			}

			// The evaluator does refuse a pod that breaks the standard.
			broken := tmpl.DeepCopy()
			broken.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
			if policy.AggregateCheckResults(evaluator.EvaluatePod(restricted, &broken.ObjectMeta, &broken.Spec)).Allowed {
				t.Error("a pod allowing privilege escalation passed the restricted checks")
			}
		})
	}
}
