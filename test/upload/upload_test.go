// Package upload runs the spansink collector binary against a real S3
// server (SeaweedFS, test/s3server) and checks the object store's
// guarantees: every sealed file reaches the bucket once, through kills of
// the collector and outages of the store, nothing leaves the volume before
// the store confirmed it, and wrong credentials are reported and recovered
// from.
package upload

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/configstatus"
	"github.com/spansink/spansink/sink/objectstore"
	"github.com/spansink/spansink/test/collectorproc"
	"github.com/spansink/spansink/test/s3server"
)

// TestMain removes the spansink binary collectorproc builds for the run.
func TestMain(m *testing.M) { collectorproc.Main(m) }

const bucket = "spans"

// fixture is one S3 server, one collector's volume and config, and the
// spans sent to it.
type fixture struct {
	t       *testing.T
	ctx     context.Context
	store   *s3server.Server
	dir     string
	config  string
	log     string
	secret  string
	cfg     config.Config
	proc    *collectorproc.Proc
	sender  *sender
	running sync.WaitGroup
}

func newFixture(t *testing.T, change func(*config.Config)) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	store, err := s3server.Start(ctx, s3server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	f := &fixture{t: t, ctx: ctx, store: store, dir: filepath.Join(work, "volume"), config: filepath.Join(work, "collector.yaml"),
		log: filepath.Join(work, "collector.log"), secret: filepath.Join(work, "secret")}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("collector log: %s\nS3 server log: %s", f.log, store.LogPath)
		}
	})
	writeFile(t, filepath.Join(work, "access-key"), store.AccessKey)
	writeFile(t, f.secret, store.SecretKey)

	cfg := config.Default()
	cfg.Storage.Dir, cfg.Storage.Path = f.dir, "spans.jsonl"
	cfg.Delivery.Mode = config.DeliveryDurable
	cfg.Batch.FlushInterval = config.Duration(50 * time.Millisecond)
	cfg.Storage.Rotation.MaxSizeBytes = 64 << 10
	cfg.Storage.Rotation.Compress = config.CompressionZstd
	cfg.ObjectStore = config.ObjectStore{
		Endpoint: store.Endpoint(), Region: store.Region, Bucket: bucket, Prefix: "traces", PathStyle: true,
		AccessKeyIDFile: filepath.Join(work, "access-key"), SecretAccessKeyFile: f.secret,
		Namespace: "team-a", Sink: "dbgpt", Shard: 1,
	}
	if change != nil {
		change(&cfg)
	}
	f.cfg = cfg
	rendered, err := cfg.Render()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, f.config, string(rendered))
	f.sender = &sender{http: &http.Client{Timeout: 10 * time.Second}, acked: map[uint64]bool{}}
	f.sender.next.Store(uint64(time.Now().UnixNano()) >> 8)
	return f
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// start runs the collector with the fixture's config.
func (f *fixture) start() {
	f.t.Helper()
	f.proc = collectorproc.Start(f.t, f.log, "--config", f.config)
}

// send posts batches to the running collector until stop is closed, from
// a few workers; a refused or failed batch is sent again until the
// collector acknowledges it, so that every batch ends acknowledged.
func (f *fixture) send(stop <-chan struct{}, workers int, pause time.Duration) {
	for range workers {
		f.running.Add(1)
		go func() {
			defer f.running.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ids, body := f.sender.batch(20)
				for !f.sender.post(f.addr(), body) {
					time.Sleep(50 * time.Millisecond)
				}
				f.sender.ack(ids)
				time.Sleep(pause)
			}
		}()
	}
}

// addr is the running collector's OTLP/HTTP address.
func (f *fixture) addr() string {
	f.sender.mu.Lock()
	defer f.sender.mu.Unlock()
	return f.sender.addr
}

func (f *fixture) setAddr(addr string) {
	f.sender.mu.Lock()
	f.sender.addr = addr
	f.sender.mu.Unlock()
}

// uploadStatus reads the running collector's GET /config upload part.
func (f *fixture) uploadStatus() (configstatus.Upload, error) {
	code, body, err := f.proc.Admin(configstatus.Path)
	if err != nil {
		return configstatus.Upload{}, err
	}
	if code != http.StatusOK {
		return configstatus.Upload{}, fmt.Errorf("GET /config: %d %s", code, body)
	}
	var status configstatus.Status
	if err := json.Unmarshal([]byte(body), &status); err != nil {
		return configstatus.Upload{}, err
	}
	if status.Upload == nil {
		return configstatus.Upload{}, fmt.Errorf("GET /config has no upload status: %s", body)
	}
	return *status.Upload, nil
}

// waitCaughtUp waits until the collector reports no file pending and no
// error, after at least one upload.
func (f *fixture) waitCaughtUp(within time.Duration) configstatus.Upload {
	f.t.Helper()
	deadline := time.Now().Add(within)
	for {
		status, err := f.uploadStatus()
		if err == nil && status.PendingFiles == 0 && status.LastError == "" && !status.LastUpload.IsZero() {
			return status
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("uploads did not catch up within %s: %+v, %v", within, status, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// objects lists the bucket's keys under the shard with their sizes and
// SHA-256 metadata.
func (f *fixture) objects() map[string]object {
	f.t.Helper()
	client := f.store.Client()
	loc := objectstore.Location{Prefix: "traces", Namespace: "team-a", Sink: "dbgpt", Shard: 1}
	out := map[string]object{}
	paginator := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(loc.Dir())})
	for paginator.HasMorePages() {
		page, err := paginator.NextPage(f.ctx)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, obj := range page.Contents {
			head, err := client.HeadObject(f.ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: obj.Key})
			if err != nil {
				f.t.Fatal(err)
			}
			out[aws.ToString(obj.Key)] = object{size: aws.ToInt64(obj.Size), sha256: head.Metadata[objectstore.SHA256Metadata]}
		}
	}
	return out
}

type object struct {
	size   int64
	sha256 string
}

// get reads an object's bytes.
func (f *fixture) get(key string) []byte {
	f.t.Helper()
	out, err := f.store.Client().GetObject(f.ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		f.t.Fatal(err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return data
}

// spanIDs reads the span ids in span file content (zstd or plain dbgpt).
func spanIDs(t *testing.T, data []byte) []uint64 {
	t.Helper()
	if bytes.HasPrefix(data, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
		dec, err := zstd.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		defer dec.Close()
		if data, err = io.ReadAll(dec); err != nil {
			t.Fatal(err)
		}
	}
	var ids []uint64
	scanner := bufio.NewScanner(bytes.NewReader(data))
	scanner.Buffer(make([]byte, 1<<20), 16<<20)
	for scanner.Scan() {
		var rec struct {
			SpanID string `json:"span_id"`
		}
		if err := json.Unmarshal(scanner.Bytes(), &rec); err != nil {
			t.Fatalf("a stored line is not JSON: %v: %q", err, scanner.Text())
		}
		var id uint64
		if _, err := fmt.Sscanf(rec.SpanID, "%016x", &id); err != nil {
			t.Fatalf("span id %q: %v", rec.SpanID, err)
		}
		ids = append(ids, id)
	}
	return ids
}

// expectEverySpanStored checks that every acknowledged span is in an
// object of the bucket or in a file still on the volume.
func (f *fixture) expectEverySpanStored(objects map[string]object) {
	f.t.Helper()
	stored := map[uint64]bool{}
	for key := range objects {
		for _, id := range spanIDs(f.t, f.get(key)) {
			stored[id] = true
		}
	}
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(f.dir, e.Name()))
		if err != nil {
			f.t.Fatal(err)
		}
		for _, id := range spanIDs(f.t, data) {
			stored[id] = true
		}
	}
	missing := 0
	for id := range f.sender.acknowledged() {
		if !stored[id] {
			missing++
		}
	}
	if missing > 0 {
		f.t.Fatalf("%d of %d acknowledged spans are neither in the bucket nor on the volume", missing, len(f.sender.acknowledged()))
	}
}

// sender builds OTLP/HTTP requests of fresh span ids.
type sender struct {
	http *http.Client
	next atomic.Uint64

	mu    sync.Mutex
	addr  string
	acked map[uint64]bool
}

func (s *sender) batch(n int) ([]uint64, []byte) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "upload-test")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	first := s.next.Add(uint64(n)) - uint64(n) + 1
	var traceID pcommon.TraceID
	binary.BigEndian.PutUint64(traceID[:8], first)
	traceID[15] = 1
	ids := make([]uint64, n)
	now := time.Now()
	for i := range ids {
		ids[i] = first + uint64(i)
		var spanID pcommon.SpanID
		binary.BigEndian.PutUint64(spanID[:], ids[i])
		span := spans.AppendEmpty()
		span.SetTraceID(traceID)
		span.SetSpanID(spanID)
		span.SetName("upload")
		span.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
		span.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
		span.Attributes().PutStr("padding", strings.Repeat("x", 200))
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		panic(err)
	}
	return ids, body
}

func (s *sender) post(addr string, body []byte) bool {
	if addr == "" {
		return false
	}
	resp, err := s.http.Post("http://"+addr+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

func (s *sender) ack(ids []uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		s.acked[id] = true
	}
}

func (s *sender) acknowledged() map[uint64]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[uint64]bool, len(s.acked))
	for id := range s.acked {
		out[id] = true
	}
	return out
}

// sealedOnVolume lists the sealed (compressed) rotated files on the volume.
func (f *fixture) sealedOnVolume() []string {
	f.t.Helper()
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		f.t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".zst") {
			names = append(names, e.Name())
		}
	}
	return names
}

// uploadsLogged counts, per file, the collector's "uploaded a span file"
// log lines over every run: a file uploaded twice would show twice.
func uploadsLogged(t *testing.T, logPath string) map[string]int {
	t.Helper()
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, line := range bytes.Split(data, []byte("\n")) {
		var entry struct {
			Msg  string `json:"msg"`
			File string `json:"file"`
		}
		if json.Unmarshal(line, &entry) == nil && entry.Msg == "uploaded a span file" {
			out[entry.File]++
		}
	}
	return out
}
