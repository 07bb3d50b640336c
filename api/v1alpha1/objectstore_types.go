package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LocalRetention says what happens to a file on the volume once the
// object store has confirmed it.
// +kubebuilder:validation:Enum=Keep;DeleteAfterUpload
type LocalRetention string

const (
	// LocalRetentionKeep leaves the file to storage.rotation's retention,
	// which removes only files the store confirmed.
	LocalRetentionKeep LocalRetention = "Keep"
	// LocalRetentionDeleteAfterUpload removes the file from the volume as
	// soon as the store confirmed it.
	LocalRetentionDeleteAfterUpload LocalRetention = "DeleteAfterUpload"
)

// ObjectStoreSpec ships every rotated file, once it is sealed (after
// compression when that is on), to an S3-compatible bucket under
// <prefix>/<namespace>/<sink>/<shard>/year=YYYY/month=MM/day=DD/<file name>.
// A file is uploaded with retries until the store confirms it (size and
// SHA-256 checked), and leaves the volume only after that.
// +kubebuilder:validation:XValidation:rule="!has(self.caSecretRef) || !has(self.endpoint) || self.endpoint.startsWith('https://')",message="storage.objectStore.caSecretRef needs an https:// endpoint: a CA bundle only matters to TLS"
type ObjectStoreSpec struct {
	// endpoint is the S3 endpoint URL, such as https://s3.eu-west-1.amazonaws.com
	// or http://minio.storage.svc:9000. Unset means AWS's endpoint for region.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://[^/\s]+(/.*)?$`
	Endpoint string `json:"endpoint,omitempty"`

	// bucket receives the files. It must exist: the collector does not
	// create buckets.
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`
	Bucket string `json:"bucket"`

	// prefix starts every key, such as "spansink" or "prod/traces".
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="!self.split('/').exists(s, s == '.' || s == '..')",message="storage.objectStore.prefix must not contain '.' or '..' segments"
	Prefix string `json:"prefix,omitempty"`

	// region is the bucket's region; unset means us-east-1, which
	// S3-compatible stores accept.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Region string `json:"region,omitempty"`

	// forcePathStyle addresses the bucket as <endpoint>/<bucket> instead of
	// <bucket>.<endpoint>, as MinIO, SeaweedFS and most S3-compatible
	// stores need.
	// +optional
	ForcePathStyle bool `json:"forcePathStyle,omitempty"`

	// credentialsSecretRef names a Secret with static credentials. Unset
	// uses the pod's ambient credentials (IRSA or EKS Pod Identity through
	// the collector's ServiceAccount, the instance profile).
	// +optional
	CredentialsSecretRef *ObjectStoreCredentialsRef `json:"credentialsSecretRef,omitempty"`

	// caSecretRef names a Secret key holding PEM CA certificates to trust
	// for a store with its own CA.
	// +optional
	CASecretRef *ObjectStoreCARef `json:"caSecretRef,omitempty"`

	// maxDelay bounds how long a span waits before its file is sealed and
	// shipped: the active file is rotated once its first line is this old,
	// even at low traffic. Unset leaves it to daily and size rotation.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('1s') && duration(self) <= duration('24h')",message="storage.objectStore.maxDelay must be a duration such as 15m, from 1s to 24h"
	MaxDelay *metav1.Duration `json:"maxDelay,omitempty"`

	// localRetention is Keep (the volume keeps files by storage.rotation,
	// removing only files the store confirmed) or DeleteAfterUpload.
	// +optional
	// +kubebuilder:default=Keep
	LocalRetention LocalRetention `json:"localRetention,omitempty"`
}

// ObjectStoreCredentialsRef names a Secret with an access key, a secret key
// and, optionally, a session token.
type ObjectStoreCredentialsRef struct {
	// name is the Secret, in the SpanSink's namespace.
	// +required
	Name SecretName `json:"name"`
	// accessKeyIDKey is the key holding the access key id.
	// +optional
	// +kubebuilder:default=AWS_ACCESS_KEY_ID
	AccessKeyIDKey SecretKey `json:"accessKeyIDKey,omitempty"`
	// secretAccessKeyKey is the key holding the secret access key.
	// +optional
	// +kubebuilder:default=AWS_SECRET_ACCESS_KEY
	SecretAccessKeyKey SecretKey `json:"secretAccessKeyKey,omitempty"`
	// sessionTokenKey, when set, is the key holding a session token.
	// +optional
	SessionTokenKey SecretKey `json:"sessionTokenKey,omitempty"`
}

// ObjectStoreCARef names a Secret key holding PEM CA certificates.
type ObjectStoreCARef struct {
	// name is the Secret, in the SpanSink's namespace.
	// +required
	Name SecretName `json:"name"`
	// key holds the certificates.
	// +optional
	// +kubebuilder:default=ca.crt
	Key SecretKey `json:"key,omitempty"`
}

// Condition type and reasons of the object store.
const (
	// ConditionUploaded is true while the collector pods ship sealed files
	// to the object store without errors; absent without an object store.
	ConditionUploaded = "Uploaded"
	// ReasonUploading: no pod reports an upload error (True).
	ReasonUploading = "Uploading"
	// ReasonUploadFailing: a pod's uploads fail; the message names the
	// bucket and the store's error. The files wait on the volume and are
	// tried again (False).
	ReasonUploadFailing = "UploadFailing"
)
