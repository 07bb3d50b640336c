package manifests

import (
	"path"

	"github.com/spansink/spansink/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// Where the collector finds the Secrets a SpanSink names. They are mounted
// under /var/run/secrets, as the service account token is, and not under
// ConfigMountPath: the kubelet mounts the ConfigMap volume read-only, and a
// mount point inside it could not be created.
const (
	// AuthMountPath holds the bearer tokens, in the file AuthTokensFile.
	AuthMountPath = "/var/run/secrets/spansink/auth"
	// AuthTokensFile is the file, under AuthMountPath, that the named
	// Secret key is mounted as.
	AuthTokensFile = "tokens"
	// TLSMountPath holds the server certificate (tls.crt) and key (tls.key).
	TLSMountPath = "/var/run/secrets/spansink/tls"
	// ClientCAMountPath holds the client CA certificates, in ClientCAFile.
	ClientCAMountPath = "/var/run/secrets/spansink/client-ca"
	// ClientCAFile is the file, under ClientCAMountPath, that the named
	// Secret key is mounted as.
	ClientCAFile = "ca.crt"

	// ObjectStoreCredentialsMountPath holds the object store's access key
	// id, secret access key and session token, in the files below.
	ObjectStoreCredentialsMountPath = "/var/run/secrets/spansink/object-store"
	// ObjectStoreCAMountPath holds the object store's CA bundle, in ClientCAFile's name.
	ObjectStoreCAMountPath = "/var/run/secrets/spansink/object-store-ca"
	// Files under ObjectStoreCredentialsMountPath.
	AccessKeyIDFile     = "access-key-id"
	SecretAccessKeyFile = "secret-access-key"
	SessionTokenFile    = "session-token"

	// DefaultAccessKeyIDKey and DefaultSecretAccessKeyKey are the usual
	// keys of an AWS credentials Secret, the CRD's defaults.
	DefaultAccessKeyIDKey     = "AWS_ACCESS_KEY_ID"
	DefaultSecretAccessKeyKey = "AWS_SECRET_ACCESS_KEY"

	// DefaultTokenKey is the key of spec.auth.bearerTokenSecretRef when it names none.
	DefaultTokenKey = "token"
	// DefaultClientCAKey is the key of spec.tls.clientCASecretRef when it names none.
	DefaultClientCAKey = "ca.crt"

	authVolume          = "auth-token"
	tlsVolume           = "tls"
	clientCAVolume      = "client-ca"
	objectStoreVolume   = "object-store"
	objectStoreCAVolume = "object-store-ca"

	// secretFileMode is read-only for the owner (root) and the group, which
	// the kubelet sets to the pod's fsGroup, the collector's group.
	secretFileMode = 0o440
)

// SecretUse is one Secret the collector mounts: the spec field that names
// it, and the keys it must hold for the pod to start.
type SecretUse struct {
	// Field is the spec field naming the Secret, for status messages.
	Field string
	// Name is the Secret's name in the SpanSink's namespace.
	Name string
	// Keys are the keys the collector reads, each mounted as Files[i].
	Keys []string
	// Files are the file names the keys are mounted as.
	Files []string
	// Holds says what the keys hold, for status messages.
	Holds string
	// volume and mountPath say where the Secret is mounted.
	volume, mountPath string
}

// SecretUses lists the Secrets the SpanSink names, in a fixed order: the
// one source for the pod's Secret volumes, the config's file paths and the
// operator's check that the Secrets exist.
func SecretUses(sink *v1alpha1.SpanSink) []SecretUse {
	var uses []SecretUse
	if auth := sink.Spec.Auth; auth != nil {
		uses = append(uses, SecretUse{
			Field:  "spec.auth.bearerTokenSecretRef",
			Name:   string(auth.BearerTokenSecretRef.Name),
			Keys:   []string{orDefault(string(auth.BearerTokenSecretRef.Key), DefaultTokenKey)},
			Files:  []string{AuthTokensFile},
			Holds:  "the bearer tokens, one per line",
			volume: authVolume, mountPath: AuthMountPath,
		})
	}
	if tls := sink.Spec.TLS; tls != nil {
		uses = append(uses, SecretUse{
			Field:  "spec.tls.secretRef",
			Name:   string(tls.SecretRef.Name),
			Keys:   []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey},
			Files:  []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey},
			Holds:  "the PEM server certificate chain and its private key, as a kubernetes.io/tls Secret from cert-manager does",
			volume: tlsVolume, mountPath: TLSMountPath,
		})
		if ca := tls.ClientCASecretRef; ca != nil {
			uses = append(uses, SecretUse{
				Field:  "spec.tls.clientCASecretRef",
				Name:   string(ca.Name),
				Keys:   []string{orDefault(string(ca.Key), DefaultClientCAKey)},
				Files:  []string{ClientCAFile},
				Holds:  "the PEM CA certificates that sign client certificates",
				volume: clientCAVolume, mountPath: ClientCAMountPath,
			})
		}
	}
	if store := sink.Spec.Storage.ObjectStore; store != nil {
		if creds := store.CredentialsSecretRef; creds != nil {
			use := SecretUse{
				Field: "spec.storage.objectStore.credentialsSecretRef",
				Name:  string(creds.Name),
				Keys: []string{orDefault(string(creds.AccessKeyIDKey), DefaultAccessKeyIDKey),
					orDefault(string(creds.SecretAccessKeyKey), DefaultSecretAccessKeyKey)},
				Files:  []string{AccessKeyIDFile, SecretAccessKeyFile},
				Holds:  "the object store's access key id and secret access key",
				volume: objectStoreVolume, mountPath: ObjectStoreCredentialsMountPath,
			}
			if creds.SessionTokenKey != "" {
				use.Keys = append(use.Keys, string(creds.SessionTokenKey))
				use.Files = append(use.Files, SessionTokenFile)
			}
			uses = append(uses, use)
		}
		if ca := store.CASecretRef; ca != nil {
			uses = append(uses, SecretUse{
				Field:  "spec.storage.objectStore.caSecretRef",
				Name:   string(ca.Name),
				Keys:   []string{orDefault(string(ca.Key), DefaultClientCAKey)},
				Files:  []string{ClientCAFile},
				Holds:  "the PEM CA certificates the object store's certificate chains to",
				volume: objectStoreCAVolume, mountPath: ObjectStoreCAMountPath,
			})
		}
	}
	return uses
}

// secretVolumes are the pod's volumes and the container's mounts for the
// Secrets. Only the named keys are projected, so other keys of a shared
// Secret never reach the collector.
func secretVolumes(sink *v1alpha1.SpanSink) ([]corev1.Volume, []corev1.VolumeMount) {
	var volumes []corev1.Volume
	var mounts []corev1.VolumeMount
	for _, use := range SecretUses(sink) {
		items := make([]corev1.KeyToPath, len(use.Keys))
		for i, key := range use.Keys {
			items[i] = corev1.KeyToPath{Key: key, Path: use.Files[i]}
		}
		volumes = append(volumes, corev1.Volume{Name: use.volume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName:  use.Name,
			Items:       items,
			DefaultMode: ptr.To[int32](secretFileMode),
		}}})
		mounts = append(mounts, corev1.VolumeMount{Name: use.volume, MountPath: use.mountPath, ReadOnly: true})
	}
	return volumes, mounts
}

// secretFile is where a mounted Secret file appears in the container.
func secretFile(mountPath, file string) string {
	return path.Join(mountPath, file)
}

func orDefault(value, fallback string) string {
	if value == "" {
		return fallback
	}
	return value
}
