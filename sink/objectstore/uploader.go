package objectstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/go-logr/logr"

	"github.com/spansink/spansink/sink/configstatus"
	"github.com/spansink/spansink/sink/spanfile"
)

// SHA256Metadata is the user metadata key (x-amz-meta-spansink-sha256)
// carrying the lowercase hex SHA-256 of the uploaded file, by which an
// upload is verified and a restarted collector recognises a file the store
// already holds.
const SHA256Metadata = "spansink-sha256"

// Files is the uploader's view of the rolling file: the files it may ship
// and the forced rotation that bounds how long a line waits.
type Files interface {
	// Sealed lists the rotated files in their final form, oldest first.
	Sealed() ([]spanfile.Rotated, error)
	// RotateOlderThan rotates the active file if its first line is older
	// than age.
	RotateOlderThan(age time.Duration) (bool, error)
}

// Uploader ships every sealed span file to the object store once, at
// least once and without gaps: a file counts as shipped only when the
// store holds an object of the file's size and SHA-256, and only then is
// it recorded in the manifest and, with DeleteAfterUpload, removed from the
// volume. Failures are retried with backoff until they pass; meanwhile the
// files stay on the volume and ingest goes on. Set the fields, call Open,
// then Run.
type Uploader struct {
	// Connect makes the store's client (NewClient with the configured
	// Endpoint). It is called at Open and again after every failed pass:
	// the SDK's SigV4 signer caches the signing key it derived by access
	// key id, so a corrected secret under the same id would otherwise be
	// ignored until the next day.
	Connect func(context.Context) (*s3.Client, error)
	// Bucket receives the files.
	Bucket string
	// Location names the shard in the key layout.
	Location Location
	// Filename is the rolling file's configured path, which tells the
	// directory and the names of its files.
	Filename string
	// Files lists sealed files and forces rotations.
	Files Files
	// MaxDelay forces a rotation when the active file's first line is
	// older, so that data reaches the store at low traffic too; 0 leaves
	// rotation to size and day.
	MaxDelay time.Duration
	// DeleteAfterUpload removes a file from the volume once the store has
	// confirmed it.
	DeleteAfterUpload bool
	// PollInterval is how often the directory is looked at without a
	// wake-up; 0 means 10 seconds.
	PollInterval time.Duration
	// MaxBackoff bounds the wait between failed attempts; 0 means 5 minutes.
	MaxBackoff time.Duration
	// Logger and Metrics report what happens; Metrics may be nil.
	Logger  logr.Logger
	Metrics *Metrics
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	wake     chan struct{}
	manifest *manifest
	s3       *s3.Client
	transfer *transfermanager.Client
	dir      string
	// stale is set by a failed pass: the next one connects afresh.
	stale bool

	mu     sync.Mutex
	status configstatus.Upload
}

// Open reads the manifest and prepares the transfers. It makes no request.
func (u *Uploader) Open(ctx context.Context) error {
	if u.Connect == nil || u.Bucket == "" || u.Files == nil {
		return errors.New("uploader: Connect, Bucket and Files must be set")
	}
	if err := u.connect(ctx); err != nil {
		return err
	}
	dir, base, ext := spanfile.SplitPath(u.Filename)
	u.dir = dir
	m, err := loadManifest(filepath.Join(dir, manifestName(base, ext)), func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return err == nil
	})
	if err != nil {
		return err
	}
	u.manifest = m
	u.wake = make(chan struct{}, 1)
	u.status = configstatus.Upload{Bucket: u.Bucket}
	return nil
}

// connect makes a new client and transfer manager.
func (u *Uploader) connect(ctx context.Context) error {
	client, err := u.Connect(ctx)
	if err != nil {
		return err
	}
	u.s3, u.transfer, u.stale = client, transfermanager.New(client), false
	return nil
}

// Wake asks for a pass soon: the rolling file calls it after every mill
// pass, which is when files get sealed.
func (u *Uploader) Wake() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// Shipped reports whether the store has confirmed the file named name, or
// its compressed twin; retention removes only such files.
func (u *Uploader) Shipped(name string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.manifest.confirmed(name); ok {
		return true
	}
	for _, c := range []spanfile.Compression{spanfile.Gzip, spanfile.Zstd} {
		if _, ok := u.manifest.confirmed(name + c.Suffix()); ok {
			return true
		}
	}
	return false
}

// FirstFreeIndex is the lowest index a new rotated file of day may take:
// past every file of that day the store holds, including those no longer
// on the volume, so that no name, and so no key, is used twice.
func (u *Uploader) FirstFreeIndex(day string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.manifest.firstFreeIndex(day)
}

// Status returns the uploader's state.
func (u *Uploader) Status() configstatus.Upload {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.status
}

// Run ships files until ctx ends. A pass that fails waits with backoff
// (1 s doubling to MaxBackoff) before the next; a wake-up does not cut the
// wait short, so a failing store is not hammered by every rotation.
func (u *Uploader) Run(ctx context.Context) {
	poll := u.PollInterval
	if poll <= 0 {
		poll = 10 * time.Second
	}
	maxBackoff := u.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = 5 * time.Minute
	}
	backoff := time.Duration(0)
	for {
		if u.MaxDelay > 0 {
			if rotated, err := u.Files.RotateOlderThan(u.MaxDelay); err != nil {
				u.Logger.Error(err, "rotating the span file for the object store's maxDelay")
			} else if rotated {
				u.Logger.Info("rotated the span file so that its lines reach the object store within maxDelay", "maxDelay", u.MaxDelay.String())
			}
		}
		wait := poll
		if err := u.Pass(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = min(max(2*backoff, time.Second), maxBackoff)
			wait = backoff
			u.Logger.Error(err, "uploading span files failed; they stay on the volume and are tried again", "bucket", u.Bucket, "retryIn", wait.String())
		} else {
			backoff = 0
		}
		if u.MaxDelay > 0 && u.MaxDelay < wait && backoff == 0 {
			wait = u.MaxDelay
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case <-u.wake:
			timer.Stop()
			if backoff > 0 {
				// Wait out the backoff all the same.
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
			}
		}
	}
}

// Pass ships every sealed file not yet confirmed, oldest first, and stops
// at the first failure: the order keeps the store's gap-free prefix in
// time, and the next pass starts again from that file.
func (u *Uploader) Pass(ctx context.Context) error {
	if u.stale {
		if err := u.connect(ctx); err != nil {
			return u.failed(err)
		}
	}
	sealed, err := u.Files.Sealed()
	if err != nil {
		return u.failed(err)
	}
	var names []string
	for _, f := range sealed {
		if !u.Shipped(f.Name) {
			names = append(names, f.Name)
		} else if u.DeleteAfterUpload {
			// Confirmed before a restart that came ahead of the removal.
			u.removeLocal(f.Name)
		}
	}
	backlog := u.backlogOf(names)
	u.setPending(backlog[0])
	for i, name := range names {
		if err := u.ship(ctx, name); err != nil {
			return u.failed(err)
		}
		u.setPending(backlog[i+1])
	}
	u.mu.Lock()
	u.status.LastError, u.status.FailingSince = "", time.Time{}
	u.mu.Unlock()
	u.Metrics.setFailing(false)
	return nil
}

// ship uploads one sealed file, unless the store already holds it, and
// records it.
func (u *Uploader) ship(ctx context.Context, name string) error {
	path := filepath.Join(u.dir, name)
	key, err := u.Location.Key(name)
	if err != nil {
		return err
	}
	size, sum, err := digest(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // removed by retention meanwhile: nothing to ship
	}
	if err != nil {
		return err
	}
	held, err := u.holds(ctx, key, size, sum)
	if err != nil {
		return err
	}
	if !held {
		if err := u.upload(ctx, path, key, sum); err != nil {
			return err
		}
		if held, err = u.holds(ctx, key, size, sum); err != nil {
			return err
		} else if !held {
			return fmt.Errorf("the store answered the upload of %s to s3://%s/%s but does not hold it with size %d and SHA-256 %s", name, u.Bucket, key, size, sum)
		}
		u.Metrics.uploaded(size)
		u.Logger.Info("uploaded a span file", "file", name, "bucket", u.Bucket, "key", key, "bytes", size)
	} else {
		u.Metrics.found()
		u.Logger.Info("the store already holds a span file; recording it", "file", name, "key", key)
	}
	now := u.now()
	u.mu.Lock()
	err = u.manifest.add(manifestEntry{Name: name, Key: key, Size: size, SHA256: sum, UploadedAt: now})
	if err == nil {
		u.status.LastUpload = now
	}
	u.mu.Unlock()
	if err != nil {
		return err
	}
	u.Metrics.lastUpload(now)
	if u.DeleteAfterUpload {
		u.removeLocal(name)
	}
	return nil
}

// holds reports whether the store has key with the file's size and
// SHA-256. An object under the key with other content is an error, never
// overwritten: it is another file's data (a shard whose claim was
// recreated writes the same names again).
func (u *Uploader) holds(ctx context.Context, key string, size int64, sum string) (bool, error) {
	head, err := u.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(u.Bucket), Key: aws.String(key)})
	if err != nil {
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode() == "NotFound" || apiErr.ErrorCode() == "NoSuchKey") {
			return false, nil
		}
		return false, fmt.Errorf("look up s3://%s/%s: %w", u.Bucket, key, err)
	}
	have := head.Metadata[SHA256Metadata]
	if aws.ToInt64(head.ContentLength) == size && have == sum {
		return true, nil
	}
	if have == "" && aws.ToInt64(head.ContentLength) == 0 {
		return false, nil
	}
	return false, fmt.Errorf("s3://%s/%s already holds other data (%d bytes, SHA-256 %q) than the file (%d bytes, %s); it is left alone and the file stays on the volume",
		u.Bucket, key, aws.ToInt64(head.ContentLength), have, size, sum)
}

// upload sends the file through the transfer manager, which splits large
// files into parts sent in parallel and checksums every request (the
// store refuses a body that does not match).
func (u *Uploader) upload(ctx context.Context, path, key, sum string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = u.transfer.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket:   aws.String(u.Bucket),
		Key:      aws.String(key),
		Body:     f,
		Metadata: map[string]string{SHA256Metadata: sum},
	})
	if err != nil {
		u.Metrics.uploadFailed()
		return fmt.Errorf("upload %s to s3://%s/%s: %w", filepath.Base(path), u.Bucket, key, err)
	}
	return nil
}

func (u *Uploader) removeLocal(name string) {
	if err := os.Remove(filepath.Join(u.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		u.Logger.Error(err, "removing an uploaded span file", "file", name)
		return
	}
	u.Logger.Info("removed an uploaded span file from the volume", "file", name)
}

// failed records a failed pass and returns err.
func (u *Uploader) failed(err error) error {
	u.stale = true
	u.mu.Lock()
	u.status.LastError = errorSummary(err)
	if u.status.FailingSince.IsZero() {
		u.status.FailingSince = u.now()
	}
	u.mu.Unlock()
	u.Metrics.setFailing(true)
	return err
}

// backlog is what waits from one pending file on: how many files, their
// bytes, and when the oldest of them was sealed.
type backlog struct {
	files  int
	bytes  int64
	oldest time.Time
}

// backlogOf is the backlog from each of the pending files on, and an
// empty one past the last, so that a pass stats each file once however
// many it ships.
func (u *Uploader) backlogOf(names []string) []backlog {
	out := make([]backlog, len(names)+1)
	for i := len(names) - 1; i >= 0; i-- {
		b := out[i+1]
		b.files++
		if info, err := os.Stat(filepath.Join(u.dir, names[i])); err == nil {
			b.bytes += info.Size()
			if b.oldest.IsZero() || info.ModTime().Before(b.oldest) {
				b.oldest = info.ModTime()
			}
		}
		out[i] = b
	}
	return out
}

// setPending records the files still to ship.
func (u *Uploader) setPending(b backlog) {
	u.mu.Lock()
	u.status.PendingFiles, u.status.PendingBytes, u.status.OldestPending = b.files, b.bytes, b.oldest
	u.mu.Unlock()
	u.Metrics.setPending(b.files, b.bytes, b.oldest)
}

func (u *Uploader) now() time.Time {
	if u.Now != nil {
		return u.Now()
	}
	return time.Now()
}

// digest is a file's size and lowercase hex SHA-256.
func digest(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// errorSummary is err in words that stay the same while its cause does,
// for the status the operator copies into a condition: the store's request
// ids, new with every attempt, are left out.
func errorSummary(err error) string {
	msg := err.Error()
	var apiErr smithy.APIError
	var respErr *awshttp.ResponseError
	if !errors.As(err, &apiErr) || !errors.As(err, &respErr) {
		return msg
	}
	context, _, _ := strings.Cut(msg, "operation error ")
	answer := apiErr.ErrorCode()
	if m := apiErr.ErrorMessage(); m != "" && m != answer {
		answer += ": " + m
	}
	return fmt.Sprintf("%sthe store answered %d %s", context, respErr.HTTPStatusCode(), answer)
}
