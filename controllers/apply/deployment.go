package apply

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SpecHashAnnotation on the Deployment records the hash of the spec the
// operator last wrote. The operator compares live objects only with the
// fields it sets, so a field it stops setting (a removed nodeSelector, say)
// would otherwise go unnoticed.
const SpecHashAnnotation = "tracing.spansink.dev/spec-sha256"

// Deployments keep their replicas, strategy and pod template, and the
// record of the spec they were given (WithSpecRecord). The selector is left
// alone: it is immutable and never depends on the spec.
var Deployments = Kind[*appsv1.Deployment]{
	Name:   "Deployment",
	New:    func() *appsv1.Deployment { return &appsv1.Deployment{} },
	Synced: DeploymentSynced,
	Mutate: mutateDeployment,
}

// DeploymentSynced reports whether live runs desired: the same spec record
// and every field desired sets, the pod template's named lists allowing
// entries others added (podTemplateListKeys). desired carries its record
// (WithSpecRecord).
func DeploymentSynced(live, desired *appsv1.Deployment) bool {
	return live.Annotations[SpecHashAnnotation] == desired.Annotations[SpecHashAnnotation] &&
		live.Annotations[PodTemplateKeysAnnotation] == desired.Annotations[PodTemplateKeysAnnotation] &&
		subsetOfKeyed(desired.Spec, live.Spec, podTemplateListKeys)
}

// mutateDeployment gives live desired's spec. The pod template's labels and
// annotations are merged, not replaced, so keys others set (kubectl rollout
// restart's restartedAt) survive. The spec record is written with the spec
// it describes.
func mutateDeployment(live, desired *appsv1.Deployment) {
	live.Spec.Replicas, live.Spec.Strategy = desired.Spec.Replicas, desired.Spec.Strategy
	mergeTemplate(live, desired)
	metav1.SetMetaDataAnnotation(&live.ObjectMeta, SpecHashAnnotation, desired.Annotations[SpecHashAnnotation])
	metav1.SetMetaDataAnnotation(&live.ObjectMeta, PodTemplateKeysAnnotation, desired.Annotations[PodTemplateKeysAnnotation])
}

// WithSpecRecord is a copy of the desired Deployment annotated with the
// hash of its spec and the pod template keys it sets, which the next
// passes compare and merge by (see SpecHashAnnotation and
// PodTemplateKeysAnnotation).
func WithSpecRecord(desired *appsv1.Deployment) (*appsv1.Deployment, error) {
	deploy := desired.DeepCopy()
	hash, err := specHash(deploy.Spec)
	if err != nil {
		return nil, err
	}
	metav1.SetMetaDataAnnotation(&deploy.ObjectMeta, SpecHashAnnotation, hash)
	keys, err := templateKeysOf(&deploy.Spec.Template)
	if err != nil {
		return nil, err
	}
	metav1.SetMetaDataAnnotation(&deploy.ObjectMeta, PodTemplateKeysAnnotation, keys)
	return deploy, nil
}

// specHash is the SHA-256 of a spec's JSON form (maps are written with
// sorted keys, so equal specs hash equally).
func specHash(spec any) (string, error) {
	data, err := json.Marshal(spec)
	if err != nil {
		return "", fmt.Errorf("hash spec: %w", err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}
