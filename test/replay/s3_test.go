package replay

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spansink/spansink/sink/access/accesstest"
	"github.com/spansink/spansink/sink/objectstore"
	"github.com/spansink/spansink/sink/reader/s3read"
	"github.com/spansink/spansink/test/s3server"
)

const (
	bucket = "spans"
	prefix = "traces"
)

// store is a SeaweedFS server with the bucket, and what the reader needs to
// reach it: the credentials in its environment (the SDK's default chain)
// and the store flags.
type store struct {
	srv   *s3server.Server
	env   []string
	flags []string
}

func startStore(t *testing.T) *store {
	t.Helper()
	ctx := testContext(t, 3*time.Minute)
	srv, err := s3server.Start(ctx, s3server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("SeaweedFS log %s:\n%s", srv.LogPath, tailOf(srv.LogPath, 4000))
		}
		srv.Close()
	})
	if err := srv.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	return &store{
		srv:   srv,
		env:   []string{"AWS_ACCESS_KEY_ID=" + srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + srv.SecretKey},
		flags: []string{"--s3-endpoint", srv.Endpoint(), "--s3-path-style", "--s3-region", srv.Region},
	}
}

func tailOf(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// put stores an object.
func (s *store) put(t *testing.T, key string, body []byte) {
	t.Helper()
	_, err := s.srv.Client().PutObject(testContext(t, time.Minute), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
	})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// location is shard i's place in the bucket.
func location(shard int) objectstore.Location {
	return objectstore.Location{Prefix: prefix, Namespace: "team-a", Sink: "dbgpt", Shard: shard}
}

// upload puts the fixture's rotated files under the key layout, as the
// collector's uploader does, and returns each file's key.
func (s *store) upload(t *testing.T, f *fixture) map[string]string {
	t.Helper()
	keys := map[string]string{}
	for shard, files := range f.shards {
		for _, path := range files {
			key, err := location(shard).Key(filepath.Base(path))
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s.put(t, key, data)
			keys[path] = key
		}
	}
	return keys
}

// read runs a reader command over the store.
func (s *store) read(t *testing.T, args ...string) result {
	t.Helper()
	return spansink(t, s.env, append(args, s.flags...)...)
}

func url3(path string) string { return "s3://" + bucket + "/" + path }

// TestS3ReadsAsDiskDoes: every command reads the uploaded files as it
// reads the same files on disk, whatever segment of the key layout the URL
// stops at.
func TestS3ReadsAsDiskDoes(t *testing.T) {
	f := sharedFixture(t)
	checkFixtureFiles(t, f)
	s := startStore(t)
	keys := s.upload(t, f)

	all := spansink(t, nil, append([]string{"spans", "list", "--limit", "0", "-o", "json"}, f.allFiles()...)...).mustSucceed(t, "list on disk")
	if got := strings.Count(all.stdout, "\n"); got != f.spanCount() {
		t.Fatalf("the disk list has %d spans, the fixture %d", got, f.spanCount())
	}
	shard1 := f.shards[1]
	var novemberShard0, day29Shard0 []string
	for _, path := range f.shards[0] {
		if strings.Contains(path, "2026-11-") {
			novemberShard0 = append(novemberShard0, path)
		}
		if strings.Contains(path, "2026-11-29") {
			day29Shard0 = append(day29Shard0, path)
		}
	}
	oneFile := f.shards[1][2]
	cases := []struct {
		name string
		url  string
		disk []string
	}{
		{"the bucket", "s3://" + bucket, f.allFiles()},
		{"the prefix", url3(prefix), f.allFiles()},
		{"the prefix with a slash", url3(prefix + "/"), f.allFiles()},
		{"a namespace", url3(prefix + "/team-a"), f.allFiles()},
		{"a sink", url3(prefix + "/team-a/dbgpt/"), f.allFiles()},
		{"a shard", url3(prefix + "/team-a/dbgpt/1"), shard1},
		{"a month", url3(prefix + "/team-a/dbgpt/0/year=2026/month=11"), novemberShard0},
		{"a day", url3(prefix + "/team-a/dbgpt/0/year=2026/month=11/day=29/"), day29Shard0},
		{"one object", url3(keys[oneFile]), []string{oneFile}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := spansink(t, nil, append([]string{"spans", "list", "--limit", "0", "-o", "json"}, tc.disk...)...).mustSucceed(t, "disk")
			got := s.read(t, "spans", "list", "--limit", "0", "-o", "json", tc.url).mustSucceed(t, "s3")
			if got.stdout != want.stdout || got.stderr != want.stderr {
				t.Fatalf("list %s differs from the disk's:\n%s", tc.url, firstDifference(got.stdout+got.stderr, want.stdout+want.stderr))
			}
		})
	}

	// Files and URLs together: shard 0 from the disk, shard 1 from the
	// store, merged as one set.
	mixed := s.read(t, append([]string{"spans", "list", "--limit", "0", "-o", "json", url3(prefix + "/team-a/dbgpt/1")}, f.shards[0]...)...).mustSucceed(t, "files and a URL")
	if mixed.stdout != all.stdout {
		t.Fatalf("shard 0 from disk and shard 1 from the store differ from both from disk:\n%s", firstDifference(mixed.stdout, all.stdout))
	}

	// The other commands, over the whole set.
	// An OTLP span's id is the same in both formats (a DB-GPT record's is
	// "<trace>:<span>" in a dbgpt line).
	traceID := anyTrace(f, false)
	spanID := f.traces[traceID][0].spanID
	for _, args := range [][]string{
		{"list", "--limit", "0"},
		{"list", "--desc", "--limit", "25", "-o", "csv", "--service", "webserver"},
		{"stats"},
		{"stats", "-o", "json", "--errors"},
		{"tail", "-n", "7", "-o", "json"},
		{"tree", "--trace-id", traceID},
		{"show", spanID, "--trace-id", traceID},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			diskArgs := append(append([]string{"spans"}, args...), f.allFiles()...)
			want := spansink(t, nil, diskArgs...).mustSucceed(t, "disk")
			got := s.read(t, append(append([]string{"spans"}, args...), url3(prefix))...).mustSucceed(t, "s3")
			if got.stdout != want.stdout {
				t.Fatalf("differs from the disk's:\n%s", firstDifference(got.stdout, want.stdout))
			}
		})
	}
}

// checkFixtureFiles makes sure the fixture exercises what the tests claim:
// both compressions, both formats, several files a day.
func checkFixtureFiles(t *testing.T, f *fixture) {
	t.Helper()
	var gz, zst, plain int
	for _, path := range f.allFiles() {
		switch {
		case strings.HasSuffix(path, ".gz"):
			gz++
		case strings.HasSuffix(path, ".zst"):
			zst++
		default:
			plain++
		}
	}
	if gz == 0 || zst == 0 || len(f.allFiles()) < 2*len(fixtureDays)+4 {
		t.Fatalf("fixture has %d gzip, %d zstd and %d plain files; want both compressions and size rotations", gz, zst, plain)
	}
}

// anyTrace is a trace of the fixture written as DB-GPT records, or as OTLP.
func anyTrace(f *fixture, dbgpt bool) string {
	for id, spans := range f.traces {
		if spans[0].dbgpt == dbgpt {
			return id
		}
	}
	return ""
}

// firstDifference shows where two outputs part.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got %q\nwant %q\n(%d lines against %d)", i+1, gl, wl, len(g), len(w))
		}
	}
	return "(equal)"
}

// TestS3SkipsDayPartitionsOutsideSinceUntil: with --since/--until only the
// day partitions that can hold matching spans are listed and read. Corrupt
// objects in the others would be reported if they were read: without the
// range they are.
func TestS3SkipsDayPartitionsOutsideSinceUntil(t *testing.T) {
	f := sharedFixture(t)
	s := startStore(t)
	s.upload(t, f)
	garbage := []byte("this is not a span file\n")
	corrupt := []string{
		prefix + "/team-a/dbgpt/0/year=2026/month=11/day=28/spans_2026-11-28.99.jsonl",
		prefix + "/team-a/dbgpt/1/year=2026/month=12/day=02/spans_2026-12-02.99.jsonl",
		prefix + "/team-a/dbgpt/1/year=2026/month=10/day=15/spans_2026-10-15.jsonl",
		prefix + "/team-a/dbgpt/0/year=2025/month=06/day=01/spans_2025-06-01.jsonl",
	}
	for _, key := range corrupt {
		s.put(t, key, garbage)
	}

	everything := s.read(t, "spans", "list", "--limit", "0", url3(prefix)).mustSucceed(t, "list without a range")
	for _, key := range corrupt {
		if !strings.Contains(everything.stderr, url3(key)+":1: ") {
			t.Fatalf("without a range the corrupt object %s is not reported:\n%s", key, everything.stderr)
		}
	}

	// 30 November: the partitions of 29 November to 1 December are read
	// (a day of slack either side), 28 November and 2 December are not.
	rangeFlags := []string{"--since", "2026-11-30", "--until", "2026-11-30 23:59:59.999"}
	for _, args := range [][]string{
		append([]string{"list", "--limit", "0", "-o", "json"}, rangeFlags...),
		append([]string{"stats"}, rangeFlags...),
	} {
		want := spansink(t, nil, append(append([]string{"spans"}, args...), f.allFiles()...)...).mustSucceed(t, "disk")
		got := s.read(t, append(append([]string{"spans"}, args...), url3(prefix))...).mustSucceed(t, "s3")
		if strings.Contains(got.stderr, "warning") {
			t.Fatalf("%v read a partition outside the range:\n%s", args, got.stderr)
		}
		if got.stdout != want.stdout {
			t.Fatalf("%v differs from the disk's:\n%s", args, firstDifference(got.stdout, want.stdout))
		}
		if strings.Count(want.stdout, "\n") < 10 {
			t.Fatalf("%v: the range holds almost nothing; the test proves little:\n%s", args, want.stdout)
		}
	}

	// A range of days with no objects: nothing matched, nothing failed.
	empty := s.read(t, "spans", "list", "--since", "2027-01-01", url3(prefix)).mustSucceed(t, "a range without objects")
	if empty.stdout != "" || !strings.Contains(empty.stderr, "no span objects under "+url3(prefix)+" of a day that --since/--until can match") {
		t.Fatalf("stdout %q stderr %q", empty.stdout, empty.stderr)
	}
}

// TestS3Errors: problems with the store are exit code 1 with what the
// store said; a command line that cannot work is exit code 2.
func TestS3Errors(t *testing.T) {
	s := startStore(t)
	s.put(t, "elsewhere/notes.txt", []byte("hello"))
	cases := []struct {
		name  string
		env   []string
		args  []string
		code  int
		wants []string
	}{
		{"missing bucket", s.env, []string{"list", "s3://no-such-bucket/traces"}, 1, []string{"the bucket does not exist", "NoSuchBucket"}},
		{"wrong secret", []string{"AWS_ACCESS_KEY_ID=" + s.srv.AccessKey, "AWS_SECRET_ACCESS_KEY=wrong"}, []string{"list", url3(prefix)}, 1, []string{"the store refused the credentials", "SignatureDoesNotMatch"}},
		{"unknown access key", []string{"AWS_ACCESS_KEY_ID=nobody", "AWS_SECRET_ACCESS_KEY=wrong"}, []string{"stats", url3(prefix)}, 1, []string{"the store refused the credentials", "InvalidAccessKeyId"}},
		{"nothing there", s.env, []string{"list", url3("nothing/here")}, 1, []string{"no span objects under s3://spans/nothing/here: nothing is stored there"}},
		{"no layout", s.env, []string{"list", url3("elsewhere")}, 1, []string{"none under the key layout"}},
		{"no such object", s.env, []string{"list", url3(prefix + "/ns/x/0/year=2026/month=12/day=01/spans_2026-12-01.jsonl")}, 1, []string{"head s3://spans/traces/ns/x/0/year=2026/month=12/day=01/spans_2026-12-01.jsonl: "}},
		{"bad URL", s.env, []string{"list", "s3://Bad_Bucket/x"}, 2, []string{"bucket name"}},
		{"tail -f", s.env, []string{"tail", "-f", url3(prefix)}, 2, []string{"sealed files"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := spansink(t, tc.env, append(append([]string{"spans"}, tc.args...), s.flags...)...)
			t.Logf("exit %d: %s", got.code, strings.TrimSpace(got.stderr))
			if got.code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", got.code, tc.code, got.stderr)
			}
			for _, want := range tc.wants {
				if !strings.Contains(got.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, got.stderr)
				}
			}
		})
	}

	t.Run("--s3-path-style", func(t *testing.T) {
		// By name, not by IP address (for which the SDK always uses path
		// style): a virtual-hosted bucket is spans.localhost, which is not
		// the store.
		s.put(t, prefix+"/ns/x/0/year=2026/month=12/day=01/spans_2026-12-01.jsonl", []byte(`{"trace_id":"t","span_id":"s","start_time":"2026-12-01 10:00:00"}`+"\n"))
		byName := strings.Replace(s.srv.Endpoint(), "127.0.0.1", "localhost", 1)
		args := []string{"spans", "list", url3(prefix), "--s3-endpoint", byName, "--s3-region", s.srv.Region}
		if got := spansink(t, s.env, args...); got.code != 1 {
			t.Fatalf("without --s3-path-style: exit %d:\n%s", got.code, got.stderr)
		}
		spansink(t, s.env, append(args, "--s3-path-style")...).mustSucceed(t, "with --s3-path-style")
	})
	t.Run("store down", func(t *testing.T) {
		if err := s.srv.Stop(); err != nil {
			t.Fatal(err)
		}
		got := s.read(t, "spans", "list", url3(prefix))
		t.Logf("exit %d: %s", got.code, strings.TrimSpace(got.stderr))
		if got.code != 1 || !strings.Contains(got.stderr, "list s3://spans/traces/") || !strings.Contains(got.stderr, "connection refused") {
			t.Fatalf("exit %d:\n%s", got.code, got.stderr)
		}
	})
}

// TestS3CAFile reads through a TLS endpoint whose certificate a CA of the
// test's signed (a TLS-terminating proxy in front of SeaweedFS, as stores
// are often deployed): trusted with --s3-ca-file, refused without.
func TestS3CAFile(t *testing.T) {
	f := sharedFixture(t)
	s := startStore(t)
	s.upload(t, f)
	ca := accesstest.NewCA(t, "store-ca")
	serverCert := ca.Server(t, "store")
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	backend, _ := url.Parse(s.srv.Endpoint())
	// The proxy keeps the Host header, which the request's signature covers.
	proxy := &http.Server{Handler: httputil.NewSingleHostReverseProxy(backend), TLSConfig: &tls.Config{Certificates: []tls.Certificate{serverCert.TLS}}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go proxy.ServeTLS(l, "", "")
	t.Cleanup(func() { proxy.Close() })
	endpoint := "https://" + l.Addr().String()

	want := spansink(t, nil, append([]string{"spans", "stats"}, f.allFiles()...)...).mustSucceed(t, "disk")
	got := spansink(t, s.env, "spans", "stats", url3(prefix), "--s3-endpoint", endpoint, "--s3-path-style", "--s3-ca-file", caFile).mustSucceed(t, "s3 over TLS")
	if got.stdout != want.stdout {
		t.Fatalf("differs from the disk's:\n%s", firstDifference(got.stdout, want.stdout))
	}
	refused := spansink(t, s.env, "spans", "stats", url3(prefix), "--s3-endpoint", endpoint, "--s3-path-style")
	if refused.code != 1 || !strings.Contains(refused.stderr, "certificate") {
		t.Fatalf("without --s3-ca-file: exit %d:\n%s", refused.code, refused.stderr)
	}
}

// TestS3ReadResumesAfterTheStoreRestarts: an object's body whose connection
// breaks in the middle (the store restarts) is read on from where it
// stopped, with the same content as written.
func TestS3ReadResumesAfterTheStoreRestarts(t *testing.T) {
	s := startStore(t)
	want := make([]byte, 48<<20)
	for i := range want {
		want[i] = byte(i*7 + i>>12)
	}
	key := prefix + "/team-a/dbgpt/0/year=2026/month=12/day=01/spans_2026-12-01.jsonl"
	s.put(t, key, want)
	client, err := s.srv.NewClient(testContext(t, time.Minute), s.srv.AccessKey, s.srv.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 3*time.Minute)
	body, err := (&s3read.Store{Client: client}).Open(ctx, url3(key))
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	head := make([]byte, 1<<20)
	if _, err := io.ReadFull(body, head); err != nil {
		t.Fatal(err)
	}
	if err := s.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	restarted := make(chan error, 1)
	go func() { restarted <- s.srv.Start(ctx) }()
	rest, err := io.ReadAll(body)
	if err != nil {
		t.Fatalf("read after the restart: %v", err)
	}
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	got := append(head, rest...)
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want %d, equal %v", len(got), len(want), bytes.Equal(got[:min(len(got), len(want))], want[:min(len(got), len(want))]))
	}
}
