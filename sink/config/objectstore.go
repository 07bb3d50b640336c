package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// ShardEnv names the environment variable that gives a collector its shard
// index (objectStore.shard) when its --shard flag is not set: the operator
// sets it on each shard's pod, whose config the shards share.
const ShardEnv = "SPANSINK_SHARD"

// ObjectStore ships every sealed span file to an S3-compatible bucket.
// The zero value ships nothing.
type ObjectStore struct {
	// Endpoint is the S3 endpoint URL; empty means AWS's for Region.
	Endpoint string `json:"endpoint,omitempty"`
	// Region is the bucket's region; empty means us-east-1.
	Region string `json:"region,omitempty"`
	// Bucket receives the files; empty turns shipping off.
	Bucket string `json:"bucket,omitempty"`
	// Prefix starts every key (see package objectstore for the layout).
	Prefix string `json:"prefix,omitempty"`
	// PathStyle addresses the bucket as <endpoint>/<bucket>.
	PathStyle bool `json:"pathStyle,omitempty"`
	// AccessKeyIDFile, SecretAccessKeyFile and SessionTokenFile hold
	// static credentials; without them the SDK's default chain is used.
	AccessKeyIDFile     string `json:"accessKeyIdFile,omitempty"`
	SecretAccessKeyFile string `json:"secretAccessKeyFile,omitempty"`
	SessionTokenFile    string `json:"sessionTokenFile,omitempty"`
	// CAFile is a PEM bundle of extra certificate authorities.
	CAFile string `json:"caFile,omitempty"`
	// Namespace and Sink name the SpanSink in the keys. Outside a
	// cluster they are whatever names the files' owner wants.
	Namespace string `json:"namespace,omitempty"`
	Sink      string `json:"sink,omitempty"`
	// Shard is the shard's index in the keys. The config is shared by a
	// SpanSink's shards, so each collector is given its own by the
	// --shard flag (or SPANSINK_SHARD, which the operator sets per shard).
	Shard int `json:"shard,omitempty"`
	// MaxDelay forces a rotation when the active file's first line is
	// older, so that data reaches the store at low traffic; 0 leaves it to
	// size and daily rotation.
	MaxDelay Duration `json:"maxDelay,omitempty"`
	// DeleteAfterUpload removes a file from the volume once the store
	// confirmed it; otherwise retention alone removes files, and only
	// files the store confirmed.
	DeleteAfterUpload bool `json:"deleteAfterUpload,omitempty"`
}

// Enabled reports whether sealed files are shipped.
func (o ObjectStore) Enabled() bool { return o.Bucket != "" }

// bucketName is S3's rule for bucket names (3 to 63 lowercase letters,
// digits, dots and hyphens, starting and ending with a letter or digit).
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// keySegment is what a namespace or sink name may be in a key.
var keySegment = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func (o ObjectStore) validate() error {
	if !o.Enabled() {
		if o != (ObjectStore{}) {
			return errors.New("objectStore.bucket must be set when any other objectStore setting is")
		}
		return nil
	}
	var errs []error
	if !bucketName.MatchString(o.Bucket) {
		errs = append(errs, fmt.Errorf("objectStore.bucket must be an S3 bucket name (3 to 63 lowercase letters, digits, '.' and '-'), got %q", o.Bucket))
	}
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("objectStore.endpoint must be an http:// or https:// URL, got %q", o.Endpoint))
		}
	}
	for _, segment := range strings.Split(strings.Trim(o.Prefix, "/"), "/") {
		if segment == "." || segment == ".." {
			errs = append(errs, fmt.Errorf("objectStore.prefix must not contain %q segments, got %q", segment, o.Prefix))
		}
	}
	for what, value := range map[string]string{"objectStore.namespace": o.Namespace, "objectStore.sink": o.Sink} {
		if !keySegment.MatchString(value) {
			errs = append(errs, fmt.Errorf("%s must be set to a name of letters, digits, '.', '_' and '-', got %q", what, value))
		}
	}
	if (o.AccessKeyIDFile == "") != (o.SecretAccessKeyFile == "") {
		errs = append(errs, errors.New("objectStore.accessKeyIdFile and secretAccessKeyFile go together: set both, or neither for the SDK's default credentials"))
	}
	if o.SessionTokenFile != "" && o.AccessKeyIDFile == "" {
		errs = append(errs, errors.New("objectStore.sessionTokenFile needs accessKeyIdFile and secretAccessKeyFile"))
	}
	if o.Shard < 0 {
		errs = append(errs, fmt.Errorf("objectStore.shard must not be negative, got %d", o.Shard))
	}
	if o.MaxDelay < 0 {
		errs = append(errs, fmt.Errorf("objectStore.maxDelay must not be negative, got %s", o.MaxDelay.Std()))
	}
	return errors.Join(errs...)
}
