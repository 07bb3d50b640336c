package access

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/spansink/spansink/sink/access/accesstest"
	"github.com/spansink/spansink/sink/config"
)

// open opens credentials with a short poll interval and closes them at
// the end of the test.
func open(t *testing.T, opts Options) (*Credentials, *Metrics) {
	t.Helper()
	m := NewMetrics(prometheus.NewRegistry())
	opts.Metrics = m
	opts.Logger = testr.New(t)
	if opts.PollInterval == 0 {
		opts.PollInterval = time.Hour // events only, unless a test says
	}
	c, err := Open(opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c, m
}

// eventually waits up to bound for cond, failing with what it waited for.
func eventually(t *testing.T, bound time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > bound {
			t.Fatalf("after %v: still waiting for %s", bound, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestHTTPMiddleware(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "tokens")
	writeFile(t, file, "alpha\nbeta\n")
	creds, m := open(t, Options{Auth: config.Auth{BearerTokenFile: file}})
	var served int
	srv := httptest.NewServer(creds.Authenticator().HTTPMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served++
		body, _ := io.ReadAll(r.Body)
		w.Write(append([]byte("got "), body...))
	}), func(*http.Request) string { return "otlp_http" }))
	t.Cleanup(srv.Close)

	cases := []struct {
		name, authorization string
		wantStatus          int
		wantChallenge       string
		wantBody            string
		reason              string
	}{
		{"accepted", "Bearer beta", 200, "", "got span", ""},
		{"no header", "", 401, `Bearer realm="spansink"`, `requires a bearer token: send the header "Authorization: Bearer <token>"`, reasonMissing},
		{"basic auth", "Basic YWxwaGE6", 401, `Bearer realm="spansink"`, "holds no bearer token", reasonNotBearer},
		{"wrong token", "Bearer gamma", 401, `Bearer realm="spansink", error="invalid_token"`, "not one this collector accepts", reasonWrong},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/traces", strings.NewReader("span"))
		if tc.authorization != "" {
			req.Header.Set("Authorization", tc.authorization)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.wantStatus || !strings.Contains(string(body), tc.wantBody) || resp.Header.Get("WWW-Authenticate") != tc.wantChallenge {
			t.Errorf("%s: %d %q WWW-Authenticate %q; want %d, a body saying %q, challenge %q",
				tc.name, resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"), tc.wantStatus, tc.wantBody, tc.wantChallenge)
		}
		if tc.reason != "" {
			if got := testutil.ToFloat64(m.unauthenticated.WithLabelValues("otlp_http", tc.reason)); got != 1 {
				t.Errorf("%s: refusals counted %v, want 1", tc.name, got)
			}
		}
	}
	if served != 1 {
		t.Fatalf("the handler served %d requests, want only the authenticated one", served)
	}
}

// TestHTTPRefusesBeforeTheBody sends headers that announce a 20 MiB body
// and no body at all: the refusal must come without waiting for it, and
// the connection must close rather than be drained.
func TestHTTPRefusesBeforeTheBody(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "tokens")
	writeFile(t, file, "alpha\n")
	creds, _ := open(t, Options{Auth: config.Auth{BearerTokenFile: file}})
	srv := httptest.NewServer(creds.Authenticator().HTTPMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("an unauthenticated request reached the handler")
	}), func(*http.Request) string { return "dbgpt" }))
	t.Cleanup(srv.Close)

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "POST /v1/spans HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\nContent-Length: 20971520\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	if resp.StatusCode != http.StatusUnauthorized || !resp.Close {
		t.Fatalf("got %d (close %v), want 401 and the connection closed", resp.StatusCode, resp.Close)
	}
}

func TestGRPCTap(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "tokens")
	writeFile(t, file, "alpha\n")
	creds, m := open(t, Options{Auth: config.Auth{BearerTokenFile: file}})
	handle := creds.Authenticator().GRPCTap("otlp_grpc")
	cases := []struct {
		name    string
		md      metadata.MD
		wantMsg string
	}{
		{"accepted", metadata.Pairs("authorization", "Bearer alpha"), ""},
		{"no metadata", metadata.MD{}, `send the metadata "authorization: Bearer <token>"`},
		{"not bearer", metadata.Pairs("authorization", "alpha"), "holds no bearer token"},
		{"wrong", metadata.Pairs("authorization", "Bearer beta"), "not one this collector accepts"},
	}
	for _, tc := range cases {
		_, err := handle(context.Background(), &tap.Info{FullMethodName: "/x/Export", Header: tc.md})
		if tc.wantMsg == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if st, _ := status.FromError(err); st.Code() != codes.Unauthenticated || !strings.Contains(st.Message(), tc.wantMsg) {
			t.Errorf("%s: got %v, want Unauthenticated saying %q", tc.name, err, tc.wantMsg)
		}
	}
	if got := testutil.ToFloat64(m.unauthenticated.WithLabelValues("otlp_grpc", reasonWrong)); got != 1 {
		t.Fatalf("wrong-token refusals counted %v, want 1", got)
	}
}

func TestOpenRefusesBadFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := accesstest.NewCA(t, "ca")
	server := ca.Server(t, "server")
	other := ca.Server(t, "other")
	files := map[string]string{
		"tokens": "alpha\n", "empty": "", "comments": "# none\n",
		"tls.crt": string(server.CertPEM), "tls.key": string(server.KeyPEM), "other.key": string(other.KeyPEM),
		"ca.crt": string(ca.PEM), "garbage": "not pem\n",
	}
	for name, data := range files {
		writeFile(t, filepath.Join(dir, name), data)
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	cases := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"missing token file", Options{Auth: config.Auth{BearerTokenFile: p("nope")}}, "load the bearer tokens: open " + p("nope") + ": no such file or directory"},
		{"empty token file", Options{Auth: config.Auth{BearerTokenFile: p("empty")}}, "bearer token file " + p("empty") + ": no token in it"},
		{"only comments", Options{Auth: config.Auth{BearerTokenFile: p("comments")}}, "no token in it"},
		{"missing key", Options{TLS: config.TLS{CertFile: p("tls.crt"), KeyFile: p("nope")}}, "load the TLS certificate: open " + p("nope")},
		{"key of another certificate", Options{TLS: config.TLS{CertFile: p("tls.crt"), KeyFile: p("other.key")}}, "private key does not match public key"},
		{"certificate not PEM", Options{TLS: config.TLS{CertFile: p("garbage"), KeyFile: p("tls.key")}}, "TLS certificate " + p("garbage")},
		{"CA not PEM", Options{TLS: config.TLS{CertFile: p("tls.crt"), KeyFile: p("tls.key"), ClientCAFile: p("garbage")}}, "client CA file " + p("garbage") + ": no PEM CERTIFICATE block in it"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := Open(tc.opts)
			if err == nil {
				c.Close()
				t.Fatalf("opened, want an error saying %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q, want one saying %q", err, tc.wantErr)
			}
		})
	}
}

// TestTokensFollowTheSecret rotates a token the way the kubelet does and
// checks that the new one is in force (and the old one is not) within a
// bound, and that a broken update keeps the tokens in force.
func TestTokensFollowTheSecret(t *testing.T) {
	t.Parallel()
	vol := accesstest.NewSecretVolume(t)
	vol.Update(t, map[string][]byte{"token": []byte("first\n")})
	creds, m := open(t, Options{Auth: config.Auth{BearerTokenFile: vol.Path("token")}})
	auth := creds.Authenticator()
	if auth.check("Bearer first") != "" {
		t.Fatal("first token refused")
	}

	vol.Update(t, map[string][]byte{"token": []byte("second\n")})
	took := eventually(t, 5*time.Second, "the rotated token", func() bool { return auth.check("Bearer second") == "" })
	t.Logf("the rotated token was in force after %v", took)
	if auth.check("Bearer first") != reasonWrong {
		t.Fatal("the old token is still accepted after the rotation")
	}
	if got := testutil.ToFloat64(m.reloads.WithLabelValues(kindBearerTokens, "success")); got != 1 {
		t.Fatalf("successful reloads %v, want 1", got)
	}

	vol.Update(t, map[string][]byte{"token": []byte("# emptied by mistake\n")})
	eventually(t, 5*time.Second, "the failed reload counted", func() bool {
		return testutil.ToFloat64(m.reloads.WithLabelValues(kindBearerTokens, "failure")) == 1
	})
	if auth.check("Bearer second") != "" {
		t.Fatal("a broken token file replaced the tokens in force")
	}

	vol.Update(t, map[string][]byte{"token": []byte("third\n")})
	eventually(t, 5*time.Second, "recovery from the broken file", func() bool { return auth.check("Bearer third") == "" })
}

// TestPollingCatchesWhatEventsMiss changes a token file that is a symlink
// into a directory nobody watches: no event reaches the watcher, and the
// poll must pick the change up.
func TestPollingCatchesWhatEventsMiss(t *testing.T) {
	t.Parallel()
	elsewhere := filepath.Join(t.TempDir(), "tokens")
	writeFile(t, elsewhere, "first\n")
	link := filepath.Join(t.TempDir(), "tokens")
	if err := os.Symlink(elsewhere, link); err != nil {
		t.Fatal(err)
	}
	creds, _ := open(t, Options{Auth: config.Auth{BearerTokenFile: link}, PollInterval: 100 * time.Millisecond})
	writeFile(t, elsewhere, "second\n")
	eventually(t, 5*time.Second, "the poll to reload", func() bool { return creds.Authenticator().check("Bearer second") == "" })
}

// handshake connects to a TLS listener serving cfg and returns what the
// client saw, or the handshake error.
func handshake(t *testing.T, addr string, client *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, client)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	// With TLS 1.3 a refused client certificate shows on the first read.
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := conn.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
		return conn.ConnectionState(), err
	}
	return conn.ConnectionState(), nil
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// serveTLS accepts connections with cfg and keeps them open until the
// client closes.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				io.Copy(io.Discard, conn)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestServerTLS(t *testing.T) {
	t.Parallel()
	vol := accesstest.NewSecretVolume(t)
	ca := accesstest.NewCA(t, "ca-1")
	first := ca.Server(t, "server-1")
	clientCA := accesstest.NewCA(t, "client-ca-1")
	vol.Update(t, map[string][]byte{"tls.crt": first.CertPEM, "tls.key": first.KeyPEM, "ca.crt": clientCA.PEM})
	creds, m := open(t, Options{TLS: config.TLS{CertFile: vol.Path("tls.crt"), KeyFile: vol.Path("tls.key"), ClientCAFile: vol.Path("ca.crt")}})
	addr := serveTLS(t, creds.ServerTLS().Config("h2", "http/1.1"))

	clientCert := clientCA.Client(t, "client").TLS
	client := func(roots *accesstest.CA, mutate func(*tls.Config)) *tls.Config {
		cfg := &tls.Config{RootCAs: roots.Pool(), ServerName: "localhost", Certificates: []tls.Certificate{clientCert}, NextProtos: []string{"h2"}}
		if mutate != nil {
			mutate(cfg)
		}
		return cfg
	}
	st, err := handshake(t, addr, client(ca, nil))
	if err != nil {
		t.Fatalf("mutual TLS with a client certificate: %v", err)
	}
	if st.PeerCertificates[0].SerialNumber.Cmp(first.Cert.SerialNumber) != 0 || st.NegotiatedProtocol != "h2" {
		t.Fatalf("server presented serial %v over %q, want %v over h2", st.PeerCertificates[0].SerialNumber, st.NegotiatedProtocol, first.Cert.SerialNumber)
	}
	refusals := []struct {
		name    string
		cfg     *tls.Config
		wantErr string
	}{
		{"no client certificate", client(ca, func(c *tls.Config) { c.Certificates = nil }), "certificate required"},
		{"client certificate of another CA", client(ca, func(c *tls.Config) {
			// Sent whatever CAs the server asks for, as a misconfigured
			// client would.
			stranger := accesstest.NewCA(t, "stranger").Client(t, "x").TLS
			c.Certificates = nil
			c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &stranger, nil }
		}), "unknown certificate authority"},
		{"TLS 1.1", client(ca, func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 }), "protocol version"},
	}
	for _, tc := range refusals {
		if _, err := handshake(t, addr, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: handshake error %v, want one saying %q", tc.name, err, tc.wantErr)
		}
	}

	// Renew the server certificate from a new CA, and replace the client CA.
	ca2 := accesstest.NewCA(t, "ca-2")
	second := ca2.Server(t, "server-2")
	clientCA2 := accesstest.NewCA(t, "client-ca-2")
	vol.Update(t, map[string][]byte{"tls.crt": second.CertPEM, "tls.key": second.KeyPEM, "ca.crt": clientCA2.PEM})
	eventually(t, 5*time.Second, "the renewed certificate", func() bool {
		st, err := handshake(t, addr, client(ca2, func(c *tls.Config) { c.Certificates = []tls.Certificate{clientCA2.Client(t, "c2").TLS} }))
		return err == nil && st.PeerCertificates[0].SerialNumber.Cmp(second.Cert.SerialNumber) == 0
	})
	if _, err := handshake(t, addr, client(ca2, nil)); err == nil {
		t.Fatal("a client certificate of the replaced CA is still accepted")
	}

	// A broken update (a key that does not match) keeps the renewed pair.
	vol.Update(t, map[string][]byte{"tls.crt": second.CertPEM, "tls.key": first.KeyPEM, "ca.crt": clientCA2.PEM})
	eventually(t, 5*time.Second, "the failed reload counted", func() bool {
		return testutil.ToFloat64(m.reloads.WithLabelValues(kindTLSCertificate, "failure")) == 1
	})
	st, err = handshake(t, addr, client(ca2, func(c *tls.Config) { c.Certificates = []tls.Certificate{clientCA2.Client(t, "c3").TLS} }))
	if err != nil || st.PeerCertificates[0].SerialNumber.Cmp(second.Cert.SerialNumber) != 0 {
		t.Fatalf("after a broken update: %v, serial %v; want the renewed certificate still served", err, st.PeerCertificates)
	}
}
