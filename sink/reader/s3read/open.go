package s3read

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Resumption of a body whose connection broke: the read goes on from the
// byte it stopped at, with a ranged GET of the same version (If-Match on
// the ETag), after a pause that grows each time.
const (
	maxResumes    = 5
	firstResumeIn = 500 * time.Millisecond
)

// Open streams an object named as Resolve names it (s3://bucket/key): its
// body is read as the reader reads it, never stored whole. It fits
// reader.OpenFunc. A connection that breaks in the middle of the body is
// taken up again where it stopped, up to maxResumes times.
func (st *Store) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	bucket, key, err := splitObjectName(name)
	if err != nil {
		return nil, err
	}
	out, err := st.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, describe(err, "get "+name)
	}
	return &objectBody{ctx: ctx, client: st.Client, bucket: bucket, key: key, name: name, etag: aws.ToString(out.ETag), body: out.Body}, nil
}

// checkObject makes sure that an object given by its URL exists.
func (st *Store) checkObject(ctx context.Context, bucket, key string) error {
	if _, err := st.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
		return describe(err, "head "+objectName(bucket, key))
	}
	return nil
}

// objectBody is an object's body that survives a broken connection.
type objectBody struct {
	ctx                     context.Context
	client                  *s3.Client
	bucket, key, name, etag string
	body                    io.ReadCloser
	offset                  int64 // bytes of the object read so far
	resumes                 int
	broken                  error // the read error to resume after, before the next read
}

func (b *objectBody) Read(p []byte) (int, error) {
	if b.broken != nil {
		if err := b.resume(); err != nil {
			return 0, err
		}
	}
	n, err := b.body.Read(p)
	b.offset += int64(n)
	if err == nil || errors.Is(err, io.EOF) {
		return n, err
	}
	b.broken = err
	if n > 0 {
		return n, nil // the bytes read are good; resume on the next read
	}
	if err := b.resume(); err != nil {
		return 0, err
	}
	return b.Read(p)
}

// resume opens the body again at the offset read so far.
func (b *objectBody) resume() error {
	cause := b.broken
	b.body.Close()
	for b.resumes < maxResumes {
		wait := firstResumeIn << b.resumes
		b.resumes++
		select {
		case <-b.ctx.Done():
			return b.ctx.Err()
		case <-time.After(wait):
		}
		input := &s3.GetObjectInput{
			Bucket: aws.String(b.bucket), Key: aws.String(b.key),
			Range: aws.String(fmt.Sprintf("bytes=%d-", b.offset)),
		}
		if b.etag != "" {
			// The rest must be of the same object, not of one written
			// over it since.
			input.IfMatch = aws.String(b.etag)
		}
		out, err := b.client.GetObject(b.ctx, input)
		if err == nil {
			b.body, b.broken = out.Body, nil
			return nil
		}
		cause = err
	}
	return fmt.Errorf("read %s after byte %d: gave up after %d attempts to resume: %w", b.name, b.offset, maxResumes, describe(cause, "get "+b.name))
}

func (b *objectBody) Close() error { return b.body.Close() }
