// Package s3server runs a real S3 server for tests: SeaweedFS's `weed mini`
// (master, volume server, filer and S3 gateway in one process), built from
// the Go module proxy by hack/test-servers.sh, on free loopback ports (or
// Options.BindAddress), with its data in a directory of its own.
//
// A fake S3 would agree with whatever the code under test believes about S3;
// a real server signs and checks requests (a wrong secret gets 403
// SignatureDoesNotMatch, an unknown key 403 InvalidAccessKeyId), stores
// objects on disk and can be stopped and started again on the same ports and
// data, which is what tests of an S3 outage need. Buckets must be created
// (CreateBucket) before use, as on real S3; names follow S3's rules (3-63
// characters).
//
//	srv, err := s3server.Start(ctx, s3server.Options{})
//	...
//	defer srv.Close()
//	srv.CreateBucket(ctx, "spans")
//	// point the code under test at srv.Endpoint(), srv.AccessKey, srv.SecretKey, srv.Region
package s3server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spansink/spansink/test/testservers"
)

// Defaults of Options; any access key and secret work, these are only
// recognisable in logs.
const (
	DefaultAccessKey = "spansink-test"
	DefaultSecretKey = "spansink-test-secret-key"
	// Region is what clients sign with. SeaweedFS accepts any region in the
	// signature; us-east-1 is what an S3 client assumes by default.
	Region = "us-east-1"
)

// Options configure Start. The zero value is a fresh, empty server.
type Options struct {
	// Dir holds the server's data. Empty: a new temporary directory, which
	// Close removes. A Dir given here is kept by Close, so a later Start on
	// it finds the objects again.
	Dir string
	// AccessKey and SecretKey are the one identity the server accepts (with
	// every S3 action); empty means DefaultAccessKey and DefaultSecretKey.
	AccessKey, SecretKey string
	// StartTimeout bounds each start until the server answers S3 requests;
	// default 90 s, generous because the machine is shared with builds.
	StartTimeout time.Duration
	// BindAddress is the IP address the server listens on and Endpoint
	// names; default 127.0.0.1. Set it when the clients are not on this
	// host's loopback, e.g. pods that reach the store at their node's
	// address as they would reach one outside the cluster. "0.0.0.0"
	// listens on every address, also those that appear later (a local
	// node's gateway exists only while it runs pods), and Endpoint then
	// names loopback: clients elsewhere use Port with an address of theirs.
	BindAddress string
}

// Server is a running (or stopped) SeaweedFS S3 server.
type Server struct {
	// AccessKey, SecretKey and Region are the credentials to sign with.
	AccessKey, SecretKey, Region string
	// Dir is the data directory (volumes, filer metadata, master state).
	Dir string
	// LogPath is weed's log, appended on every start (each start begins
	// with a "=== s3server: start" line); print it when a test fails. It
	// is in a temp dir of the Server's own, which Close removes.
	LogPath string

	bin          string
	root         string // the temp dir we made (Dir and the log live in it), "" if none
	configPath   string // the S3 identities file
	startTimeout time.Duration
	host         string // the IP address weed announces and Endpoint names
	bind         string // the IP address every port listens on
	ports        ports

	mu     sync.Mutex // serialises Start and Stop
	run    *run       // the running weed, nil when stopped
	client *s3.Client
}

// run is one weed process.
type run struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has exited
	err    error         // cmd's exit, set before exited closes
}

// kill SIGKILLs the process and waits until it has exited.
func (r *run) kill() {
	r.cmd.Process.Kill()
	<-r.exited
}

// ports are every TCP port weed listens on. All are given explicitly: weed
// derives a gRPC port as HTTP port + 10000 when none is given, which for a
// kernel-chosen port (32768-60999) may be taken or above 65535, and its
// defaults (9333, 8333, ...) would be shared by every server on the machine.
type ports struct {
	master, masterGRPC, volume, volumeGRPC, filer, filerGRPC, s3, s3GRPC, admin, adminGRPC int
}

// Start runs a SeaweedFS S3 server and returns once it serves reads and
// writes: an S3 ListBuckets signed with its credentials succeeds, its volume
// server has joined the master and the master assigns file ids. A fresh
// server takes ~4 s on a busy 2-core machine.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	s := &Server{
		AccessKey:    opts.AccessKey,
		SecretKey:    opts.SecretKey,
		Region:       Region,
		Dir:          opts.Dir,
		bin:          bin,
		startTimeout: opts.StartTimeout,
		host:         opts.BindAddress,
		bind:         opts.BindAddress,
	}
	if s.host == "" || s.host == "0.0.0.0" {
		s.host = "127.0.0.1"
	}
	if s.bind == "" {
		s.bind = s.host
	}
	if s.AccessKey == "" {
		s.AccessKey = DefaultAccessKey
	}
	if s.SecretKey == "" {
		s.SecretKey = DefaultSecretKey
	}
	if s.startTimeout == 0 {
		s.startTimeout = 90 * time.Second
	}
	if s.root, err = os.MkdirTemp("", "spansink-s3server-"); err != nil {
		return nil, err
	}
	ownDir := s.Dir == ""
	if ownDir {
		s.Dir = filepath.Join(s.root, "data")
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		s.Close()
		return nil, err
	}
	s.LogPath = filepath.Join(s.root, "weed.log")
	s.configPath = filepath.Join(s.root, "s3.json")
	if err := s.writeIdentities(); err != nil {
		s.Close()
		return nil, err
	}

	// The ports are free when chosen but nothing holds them until weed
	// listens; if another process takes one in between, weed exits, and a
	// fresh server simply tries again on new ports.
	const attempts = 3
	for i := 1; ; i++ {
		if s.ports, err = freePorts(s.bind); err != nil {
			s.Close()
			return nil, err
		}
		if s.client, err = s.NewClient(ctx, s.AccessKey, s.SecretKey); err != nil {
			s.Close()
			return nil, err
		}
		err = s.Start(ctx)
		if err == nil {
			return s, nil
		}
		if !ownDir || i == attempts || ctx.Err() != nil || !errors.Is(err, errExited) {
			s.Close()
			return nil, err
		}
		// The master's saved state names its old address: start empty.
		s.removeSockets()
		os.RemoveAll(s.Dir)
		if err := os.MkdirAll(s.Dir, 0o755); err != nil {
			s.Close()
			return nil, err
		}
	}
}

// Port is the S3 gateway's port.
func (s *Server) Port() int { return s.ports.s3 }

// Endpoint is the S3 endpoint, http://127.0.0.1:port (or BindAddress),
// for path-style requests.
func (s *Server) Endpoint() string {
	return "http://" + net.JoinHostPort(s.host, strconv.Itoa(s.ports.s3))
}

// Client is an S3 client for the server signed with its credentials, with
// path-style addressing (bucket names are not resolvable host names here).
func (s *Server) Client() *s3.Client { return s.client }

// NewClient returns an S3 client for the server that signs with the given
// keys, e.g. wrong ones to see the server refuse them.
func (s *Server) NewClient(ctx context.Context, accessKey, secretKey string) (*s3.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(s.Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(accessKey, secretKey, "")),
		// Files that do not exist, so that nothing in the machine's ~/.aws
		// changes what tests see (AWS_* variables still would).
		config.WithSharedConfigFiles([]string{filepath.Join(s.root, "no-aws-config")}),
		config.WithSharedCredentialsFiles([]string{filepath.Join(s.root, "no-aws-credentials")}),
	)
	if err != nil {
		return nil, fmt.Errorf("s3 client config: %w", err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(s.Endpoint())
		o.UsePathStyle = true
	}), nil
}

// CreateBucket creates the bucket name (3-63 characters, S3's rules). The
// server does not create buckets on a first PUT, as real S3 does not.
func (s *Server) CreateBucket(ctx context.Context, name string) error {
	if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	return nil
}

var errExited = errors.New("weed exited")

// Start starts the server again after Stop, on the same ports and data
// directory, and waits until it is ready as the package Start does. That
// takes ~15 s: a master restarting on existing volumes refuses writes for
// 15 s after electing itself (see masterWarm). The same ports matter: weed
// keeps the master's state in a directory named after its port. They were
// free when the server first started; another process could have taken
// one while it was stopped, and then Start fails.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run != nil {
		return errors.New("s3server: already running")
	}
	log, err := os.OpenFile(s.LogPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer log.Close() // the child has its own copy
	p := s.ports
	port := func(flag string, n int) string { return "-" + flag + "=" + strconv.Itoa(n) }
	args := []string{
		"-logtostderr", // glog writes files to /tmp otherwise
		// `weed mini`, not `weed server`: the same master, volume server,
		// filer and S3 gateway in one process, set up for one node. Its
		// filer announces itself at once (a `weed server` filer waits 3 s
		// to rule out peers, and S3 writes wait for it), so the first PUT
		// of a fresh server takes ~1 s instead of ~8 s.
		"mini",
		"-ip=" + s.host, "-ip.bind=" + s.bind,
		"-dir=" + s.Dir,
		port("master.port", p.master), port("master.port.grpc", p.masterGRPC),
		port("volume.port", p.volume), port("volume.port.grpc", p.volumeGRPC),
		port("filer.port", p.filer), port("filer.port.grpc", p.filerGRPC),
		port("s3.port", p.s3), port("s3.port.grpc", p.s3GRPC),
		"-s3.config=" + s.configPath,
		// mini always runs its admin server and maintenance worker; on
		// ports of ours, without the UI, and without the fixed legacy port
		// (23646) that two servers would share.
		port("admin.port", p.admin), port("admin.port.grpc", p.adminGRPC),
		"-admin.port.legacy=0", "-admin.ui=false",
		// Off: WebDAV and the Iceberg and Lance catalogs would listen on
		// fixed ports (7333, 8181, 9101).
		"-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
		// The machine has no internet, and tests report nothing anywhere.
		"-master.telemetry=false",
		// Volumes grow on demand; a small limit keeps a test's disk use small.
		"-master.volumeSizeLimitMB=64",
		// As on real S3, a PUT into a bucket that does not exist fails
		// (NoSuchBucket) instead of creating it.
		"-s3.autoCreateBucket=false",
	}
	fmt.Fprintf(log, "=== s3server: start %s %v\n", time.Now().Format(time.RFC3339Nano), args)
	cmd := exec.Command(s.bin, args...)
	// filer.toml and friends are looked up in the working directory (among
	// other places): the data directory has none.
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = log, log
	// If the test process dies without Close, weed dies with it instead
	// of holding the ports.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start weed: %w", err)
	}
	r := &run{cmd: cmd, exited: make(chan struct{})}
	go func() {
		r.err = cmd.Wait()
		close(r.exited)
	}()
	if err := s.waitReady(ctx, r); err != nil {
		r.kill()
		return err
	}
	s.run = r
	return nil
}

// waitReady polls until S3 answers a signed ListBuckets, the volume server
// has joined the master and the master assigns file ids. Right after a
// (re)start the S3 gateway answers listings from the filer before the master
// knows where any volume is (a GET then fails) and, after a restart, before
// it accepts writes (a PUT then hangs); the last two checks close those
// windows.
func (s *Server) waitReady(ctx context.Context, r *run) error {
	ctx, cancel := context.WithTimeout(ctx, s.startTimeout)
	defer cancel()
	var last error
	for {
		last = s.probe(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-r.exited:
			return fmt.Errorf("%w before serving S3 (%v); log %s:\n%s", errExited, r.err, s.LogPath, testservers.Tail(s.LogPath, 3000))
		case <-ctx.Done():
			return fmt.Errorf("s3server: not ready within %s (last: %v); log %s:\n%s", s.startTimeout, last, s.LogPath, testservers.Tail(s.LogPath, 3000))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *Server) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := s.client.ListBuckets(ctx, &s3.ListBucketsInput{}, func(o *s3.Options) {
		o.RetryMaxAttempts = 1
	}); err != nil {
		return fmt.Errorf("list buckets: %w", err)
	}
	if err := s.volumeServerJoined(ctx); err != nil {
		return err
	}
	return s.masterWarm(ctx)
}

// masterWarm fails while the master refuses to assign file ids. A master
// that restarts on existing volumes "warms up" for 15 s (three of its
// hard-wired 5 s pulses) after electing itself, waiting for volume servers
// to report, and every PUT meanwhile hangs in the gateway's retries; reads
// work. /dir/assign with a replication that cannot be (999) is answered 503
// while warming up and 406 after, with nothing assigned or grown either way.
func (s *Server) masterWarm(ctx context.Context) error {
	url := s.masterURL() + "/dir/assign?replication=999"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotAcceptable:
		return nil
	case http.StatusServiceUnavailable:
		return errors.New("master is warming up (assigns refused)")
	default:
		return fmt.Errorf("readiness probe %s: %s (want 406 or 503)", url, resp.Status)
	}
}

func (s *Server) masterURL() string {
	return "http://" + net.JoinHostPort(s.host, strconv.Itoa(s.ports.master))
}

// volumeServerJoined asks the master's /dir/status whether our volume
// server is in its topology.
func (s *Server) volumeServerJoined(ctx context.Context) error {
	url := s.masterURL() + "/dir/status"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var status struct {
		Topology struct {
			DataCenters []struct {
				Racks []struct {
					DataNodes []struct{ Url string }
				}
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
		return fmt.Errorf("master %s: %w", url, err)
	}
	want := net.JoinHostPort(s.host, strconv.Itoa(s.ports.volume))
	for _, dc := range status.Topology.DataCenters {
		for _, rack := range dc.Racks {
			for _, node := range rack.DataNodes {
				if node.Url == want {
					return nil
				}
			}
		}
	}
	return fmt.Errorf("volume server %s has not joined the master yet", want)
}

// Stop kills the server (SIGKILL) and waits until the process is gone; the
// data directory is kept for Start. Stopping a stopped server does nothing.
//
// SIGKILL, not SIGTERM: weed's graceful shutdown stops its volume server
// first and then spends ~15 s failing to flush the filer's metadata log into
// it, and loses nothing that a kill would. What S3 acknowledged is in the
// volume files and the filer's leveldb (written, not necessarily synced),
// which a killed process leaves to the kernel; the test checks that objects
// put right before Stop are there after Start.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run != nil {
		s.run.kill()
		s.run = nil
	}
	return nil
}

// Restart stops the server and starts it again on the same ports and data.
func (s *Server) Restart(ctx context.Context) error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.Start(ctx)
}

// Close stops the server and removes what Start made: the log, the data
// directory unless Options.Dir named it, and the Unix sockets weed leaves in
// /tmp.
func (s *Server) Close() error {
	s.Stop()
	s.removeSockets()
	if s.root == "" {
		return nil
	}
	return os.RemoveAll(s.root)
}

// removeSockets removes the Unix sockets weed listens on next to its TCP
// ports, at paths of its own choosing (/tmp/seaweedfs-<role>-<port>.sock)
// that it never removes: one set per server started would pile up in /tmp.
func (s *Server) removeSockets() {
	p := s.ports
	for role, port := range map[string]int{
		"master-grpc": p.masterGRPC, "volume-grpc": p.volumeGRPC,
		"filer": p.filer, "filer-grpc": p.filerGRPC,
		"s3": p.s3, "s3-grpc": p.s3GRPC, "admin-grpc": p.adminGRPC,
	} {
		if port != 0 {
			os.Remove(fmt.Sprintf("/tmp/seaweedfs-%s-%d.sock", role, port))
		}
	}
}

// writeIdentities writes the -s3.config file: one identity with every
// action. With any identity configured SeaweedFS checks every request's
// signature and refuses anonymous ones.
func (s *Server) writeIdentities() error {
	type credential struct {
		AccessKey string `json:"accessKey"`
		SecretKey string `json:"secretKey"`
	}
	type identity struct {
		Name        string       `json:"name"`
		Credentials []credential `json:"credentials"`
		Actions     []string     `json:"actions"`
	}
	cfg := struct {
		Identities []identity `json:"identities"`
	}{Identities: []identity{{
		Name:        "spansink-test",
		Credentials: []credential{{AccessKey: s.AccessKey, SecretKey: s.SecretKey}},
		Actions:     []string{"Admin", "Read", "List", "Tagging", "Write"},
	}}}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(s.configPath, b, 0o600)
}

// freePorts asks the kernel for ten distinct free ports on host, holding
// each until all are chosen so that none is picked twice. Each is also free
// on 127.0.0.1: mini's admin server, without a password, listens on loopback
// whatever the bind address.
func freePorts(host string) (ports, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var n []int
	for tries := 0; len(n) < 10; tries++ {
		if tries == 100 {
			return ports{}, errors.New("s3server: no free ports found")
		}
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return ports{}, fmt.Errorf("pick a free port on %s: %w", host, err)
		}
		ls = append(ls, l)
		port := l.Addr().(*net.TCPAddr).Port
		if host != "127.0.0.1" && host != "0.0.0.0" {
			lo, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				continue // taken on loopback: keep holding it, pick another
			}
			ls = append(ls, lo)
		}
		n = append(n, port)
	}
	return ports{n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7], n[8], n[9]}, nil
}
