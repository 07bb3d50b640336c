// Package s3read reads span files from an S3-compatible object store, where
// the collector's uploader puts them under the key layout of package
// objectstore:
//
//	<prefix>/<namespace>/<sink>/<shard>/year=YYYY/month=MM/day=DD/<file name>
//
// Inputs are s3:// URLs that may stop at any segment of the layout. Resolve
// lists the objects under them, skipping whole day partitions outside a time
// range without listing inside them, and groups them into one stream per
// shard in the naming order, as reader.Streams does for files; Open streams
// an object's body into the reader's decoding, so nothing is downloaded
// whole first.
package s3read

import (
	"fmt"
	"strings"
)

// Scheme starts an object store input.
const Scheme = "s3://"

// IsURL tells an object store input from a file, directory or glob.
func IsURL(input string) bool { return strings.HasPrefix(input, Scheme) }

// URL is a parsed s3:// input: a bucket and a key prefix, or one object's
// key.
type URL struct {
	Bucket string
	// Key is the key prefix, or an object's key, without a leading '/'.
	Key string
}

// String is the URL as it is written: s3://bucket/key.
func (u URL) String() string { return Scheme + u.Bucket + "/" + u.Key }

// ParseURL parses s3://bucket[/prefix]. The bucket must be a valid bucket
// name; the prefix is kept as given (a trailing '/' is optional).
func ParseURL(input string) (URL, error) {
	rest, ok := strings.CutPrefix(input, Scheme)
	if !ok {
		return URL{}, fmt.Errorf("%q is not an s3:// URL", input)
	}
	bucket, key, _ := strings.Cut(rest, "/")
	if err := checkBucketName(bucket); err != nil {
		return URL{}, fmt.Errorf("bad object store URL %q: %w; want s3://BUCKET[/PREFIX]", input, err)
	}
	if strings.HasPrefix(key, "/") || strings.Contains(key, "//") {
		return URL{}, fmt.Errorf("bad object store URL %q: empty path segment; want s3://BUCKET[/PREFIX]", input)
	}
	if strings.ContainsAny(key, "?#*[") {
		return URL{}, fmt.Errorf("bad object store URL %q: the prefix may not hold ?, #, * or [ (no queries or patterns); want s3://BUCKET[/PREFIX]", input)
	}
	return URL{Bucket: bucket, Key: key}, nil
}

// checkBucketName applies S3's rules for bucket names: 3 to 63 lowercase
// letters, digits, dots and hyphens, starting and ending with a letter or
// digit. Stores that allow more are rare; the rule catches typos such as a
// missing bucket ("s3:///prefix") or an endpoint in the URL.
func checkBucketName(name string) error {
	if name == "" {
		return fmt.Errorf("no bucket")
	}
	if len(name) < 3 || len(name) > 63 {
		return fmt.Errorf("bucket name %q must be 3 to 63 characters long", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letterOrDigit := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !letterOrDigit && c != '.' && c != '-' {
			return fmt.Errorf("bucket name %q may only hold lowercase letters, digits, '.' and '-'", name)
		}
		if (i == 0 || i == len(name)-1) && !letterOrDigit {
			return fmt.Errorf("bucket name %q must start and end with a letter or digit", name)
		}
	}
	return nil
}

// objectName is how an object is named among the reader's inputs (in
// warnings, in replay's resume state): its s3:// URL.
func objectName(bucket, key string) string { return Scheme + bucket + "/" + key }

// splitObjectName parses an objectName.
func splitObjectName(name string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(name, Scheme)
	if !ok {
		return "", "", fmt.Errorf("%q is not an object of the store", name)
	}
	bucket, key, ok = strings.Cut(rest, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", fmt.Errorf("%q names no object", name)
	}
	return bucket, key, nil
}
