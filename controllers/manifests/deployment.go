package manifests

import (
	"errors"
	"maps"
	"path"
	"strconv"

	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/sink/config"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// ConfigHashAnnotation on the pod template carries RenderedConfig's
// RestartHash, the SHA-256 of the settings a running collector cannot
// change, so that a change of one of them rolls the pod and a change of a
// live setting does not. The key kept its name when its input narrowed
// from the whole config to the restart part: an operator upgrade changes
// the value once, and so rolls each collector once (as a new collector
// image does anyway), and nothing else reads it.
const ConfigHashAnnotation = "tracing.spansink.dev/config-sha256"

// ImageBinary is where the image (Dockerfile) puts the spansink binary and
// what it runs as its entrypoint. It is on the distroless image's PATH, so
// `kubectl exec deploy/<name>-collector -- spansink spans list` finds the
// reader, and the collector container sets only args, so it runs this same
// binary whatever the image.
const ImageBinary = "/usr/local/bin/spansink"

// nonRootID is the distroless "nonroot" user and group.
const nonRootID = 65532

const (
	containerName   = "collector"
	configVolume    = "config"
	dataVolume      = "data"
	healthzPath     = "/healthz"
	readyzPath      = "/readyz"
	livenessPeriod  = 10
	readinessPeriod = 5
)

// RunningImage is the image of the collector container in a shard's
// Deployment, "" when it has none.
func RunningImage(deploy *appsv1.Deployment) string {
	for _, c := range deploy.Spec.Template.Spec.Containers {
		if c.Name == containerName {
			return c.Image
		}
	}
	return ""
}

// Deployment runs shard's collector pod. The strategy is Recreate because
// the span volume is usually ReadWriteOnce and cannot be mounted by an old
// and a new pod at once; the other shards serve meanwhile. The pod meets
// the Pod Security Standard "restricted".
func Deployment(p Params, rendered RenderedConfig, shard int32) (*appsv1.Deployment, error) {
	sink := p.Sink
	image := sink.Spec.Image
	if image == "" {
		image = p.DefaultImage
	}
	if image == "" {
		return nil, errors.New("no collector image: spec.image is empty and the operator has no default image")
	}

	annotations := make(map[string]string, len(sink.Spec.PodAnnotations)+1)
	maps.Copy(annotations, sink.Spec.PodAnnotations)
	annotations[ConfigHashAnnotation] = rendered.RestartHash

	resources := collectorResources(sink.Spec.Resources, rendered.Config)
	secretVols, secretMounts := secretVolumes(sink)

	httpProbe := func(probePath string, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path:   probePath,
				Port:   intstr.FromString(MetricsPortName),
				Scheme: corev1.URISchemeHTTP,
			}},
			PeriodSeconds:    period,
			TimeoutSeconds:   1,
			SuccessThreshold: 1,
			FailureThreshold: 3,
		}
	}

	container := corev1.Container{
		Name:  containerName,
		Image: image,
		Args:  []string{"collector", "--config", path.Join(ConfigMountPath, config.FileName)},
		Ports: []corev1.ContainerPort{
			{Name: OTLPGRPCPortName, ContainerPort: OTLPGRPCPort, Protocol: corev1.ProtocolTCP},
			{Name: OTLPHTTPPortName, ContainerPort: OTLPHTTPPort, Protocol: corev1.ProtocolTCP},
			{Name: MetricsPortName, ContainerPort: MetricsPort, Protocol: corev1.ProtocolTCP},
		},
		Resources: resources,
		Env:       append(runtimeEnv(resources), shardEnv(sink, shard)...),
		VolumeMounts: append([]corev1.VolumeMount{
			{Name: configVolume, MountPath: ConfigMountPath, ReadOnly: true},
			{Name: dataVolume, MountPath: DataMountPath},
		}, secretMounts...),
		LivenessProbe:  httpProbe(healthzPath, livenessPeriod),
		ReadinessProbe: httpProbe(readyzPath, readinessPeriod),
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			ReadOnlyRootFilesystem:   ptr.To(true),
			RunAsNonRoot:             ptr.To(true),
		},
	}

	var tolerations []corev1.Toleration
	for _, t := range sink.Spec.Tolerations {
		tolerations = append(tolerations, *t.DeepCopy())
	}

	deploy := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: shardMeta(sink, ShardDeploymentName(sink, shard), shard),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: shardSelector(sink, shard)},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      podLabels(sink, shard),
					Annotations: annotations,
				},
				Spec: corev1.PodSpec{
					Hostname:                      ShardHostname(shard),
					Subdomain:                     HeadlessServiceName(sink),
					ServiceAccountName:            CollectorName(sink),
					AutomountServiceAccountToken:  ptr.To(false),
					TerminationGracePeriodSeconds: ptr.To(TerminationGracePeriodSeconds(sink)),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						RunAsUser:      ptr.To[int64](nonRootID),
						RunAsGroup:     ptr.To[int64](nonRootID),
						FSGroup:        ptr.To[int64](nonRootID),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{container},
					Volumes: append([]corev1.Volume{
						{Name: configVolume, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
							LocalObjectReference: corev1.LocalObjectReference{Name: CollectorName(sink)},
						}}},
						{Name: dataVolume, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
							ClaimName: ShardClaimName(sink, shard),
						}}},
					}, secretVols...),
					NodeSelector:              labelMap(sink.Spec.NodeSelector),
					Tolerations:               tolerations,
					Affinity:                  sink.Spec.Affinity.DeepCopy(),
					PriorityClassName:         sink.Spec.PriorityClassName,
					TopologySpreadConstraints: topologySpread(sink),
				},
			},
		},
	}
	return deploy, nil
}

// shardEnv tells the collector its shard index for the object store's
// keys (config.ShardEnv). Only with an object store: nothing else needs
// it, and a SpanSink without one keeps the pod it had.
func shardEnv(sink *v1alpha1.SpanSink, shard int32) []corev1.EnvVar {
	if sink.Spec.Storage.ObjectStore == nil {
		return nil
	}
	return []corev1.EnvVar{{Name: config.ShardEnv, Value: strconv.Itoa(int(shard))}}
}
