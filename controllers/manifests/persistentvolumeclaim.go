package manifests

import (
	"github.com/spansink/spansink/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// defaultVolumeSize is the CRD's default, repeated for SpanSinks built in Go
// that never went through the API server.
var defaultVolumeSize = resource.MustParse("1Gi")

// PersistentVolumeClaim is the claim for shard's span files, or nil when
// the SpanSink mounts an existing claim. The SpanSink owns the claim only
// under reclaimPolicy Delete; under Retain the claim outlives it and is
// adopted by its labels when a SpanSink of the same name comes back. A
// shard removed by a scale-down leaves its claim alone either way.
func PersistentVolumeClaim(sink *v1alpha1.SpanSink, shard int32) *corev1.PersistentVolumeClaim {
	vol := sink.Spec.Storage.Volume
	if vol.ExistingClaimName != "" {
		return nil
	}
	size := defaultVolumeSize
	if vol.Size != nil {
		size = *vol.Size
	}
	accessModes := vol.AccessModes
	if len(accessModes) == 0 {
		accessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	meta := shardMeta(sink, ShardClaimName(sink, shard), shard)
	if !DeletesClaim(sink) {
		meta.OwnerReferences = nil
	}
	return &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: meta,
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      append([]corev1.PersistentVolumeAccessMode(nil), accessModes...),
			StorageClassName: vol.StorageClassName,
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: size},
			},
		},
	}
}

// DeletesClaim reports whether the claim goes with the SpanSink.
func DeletesClaim(sink *v1alpha1.SpanSink) bool {
	return sink.Spec.Storage.Volume.ReclaimPolicy == v1alpha1.ReclaimDelete
}
