package s3server

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// The harness's promises, against the real server: objects are stored and
// read back, a stopped server refuses connections, a restarted one has the
// same objects on the same endpoint, and a wrong secret is refused with 403.
func TestServerStoresStopsRestartsAndChecksSignatures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	began := time.Now()
	srv, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("started in %s at %s", time.Since(began).Round(time.Millisecond), srv.Endpoint())
	defer srv.Close()
	defer func() {
		if t.Failed() {
			log, _ := os.ReadFile(srv.LogPath)
			t.Logf("weed log %s:\n%s", srv.LogPath, log)
		}
	}()
	c := srv.Client()
	const bucket, key, body = "spans", "shard-0/000001.otlp", "some spans"

	// As on real S3, a bucket must be created before objects go in.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "NoSuchBucket" {
		t.Fatalf("put into a bucket that does not exist: %v; want NoSuchBucket", err)
	}
	if err := srv.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
		t.Fatalf("put: %v", err)
	}
	t.Logf("first put into a new bucket took %s", time.Since(began).Round(time.Millisecond))
	getKey := func(c *s3.Client, key string) (string, error) {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return "", err
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		return string(b), err
	}
	get := func(c *s3.Client) (string, error) { return getKey(c, key) }
	if got, err := get(c); err != nil || got != body {
		t.Fatalf("get: %q, %v; want %q", got, err, body)
	}

	// An object acknowledged right before the stop (a kill) survives it.
	const lastKey, lastBody = "shard-0/000002.otlp", "the last spans before the outage"
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(lastKey), Body: strings.NewReader(lastBody)}); err != nil {
		t.Fatalf("put: %v", err)
	}
	endpoint := srv.Endpoint()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped, stopCancel := context.WithTimeout(ctx, 20*time.Second)
	_, err = c.ListBuckets(stopped, &s3.ListBucketsInput{}, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
	stopCancel()
	if err == nil {
		t.Fatal("ListBuckets succeeded on a stopped server")
	}
	t.Logf("stopped server: %v", err)

	started := time.Now()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted in %s", time.Since(started).Round(time.Millisecond))
	if srv.Endpoint() != endpoint {
		t.Errorf("endpoint moved from %s to %s", endpoint, srv.Endpoint())
	}
	if got, err := get(c); err != nil || got != body {
		t.Fatalf("get after restart: %q, %v; want %q", got, err, body)
	}
	if got, err := getKey(c, lastKey); err != nil || got != lastBody {
		t.Fatalf("get %s after restart: %q, %v; want %q", lastKey, got, err, lastBody)
	}

	// The other engineers' tests rely on the server checking signatures:
	// the right access key with the wrong secret must be refused.
	wrong, err := srv.NewClient(ctx, srv.AccessKey, srv.SecretKey+"-wrong")
	if err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"get":  func() error { _, err := get(wrong); return err },
		"list": func() error { _, err := wrong.ListBuckets(ctx, &s3.ListBucketsInput{}); return err },
		"put": func() error {
			_, err := wrong.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("x"), Body: strings.NewReader("x")})
			return err
		},
	} {
		var re interface{ HTTPStatusCode() int }
		var api smithy.APIError
		err := call()
		if !errors.As(err, &re) || re.HTTPStatusCode() != 403 || !errors.As(err, &api) ||
			(api.ErrorCode() != "SignatureDoesNotMatch" && api.ErrorCode() != "AccessDenied") {
			t.Errorf("%s with a wrong secret: %v; want 403 SignatureDoesNotMatch or AccessDenied", name, err)
		} else {
			t.Logf("%s with a wrong secret: %d %s", name, re.HTTPStatusCode(), api.ErrorCode())
		}
	}
	// And so must an unknown access key.
	unknown, err := srv.NewClient(ctx, "nobody", srv.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unknown.ListBuckets(ctx, &s3.ListBucketsInput{}); err == nil {
		t.Error("ListBuckets with an unknown access key succeeded")
	} else {
		t.Logf("unknown access key: %v", err)
	}

	// Restart (Stop and Start in one) keeps the objects too.
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := get(c); err != nil || got != body {
		t.Fatalf("get after Restart: %q, %v; want %q", got, err, body)
	}
}
