package collector

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/go-logr/logr/testr"

	"github.com/spansink/spansink/sink/access/accesstest"
	"github.com/spansink/spansink/sink/config"
)

// secured is a collector with TLS and bearer tokens from Secret volumes
// that the test can rotate.
type secured struct {
	*running
	tokens, certs *accesstest.SecretVolume
	ca            *accesstest.CA
	server        *accesstest.Issued
	clientCA      *accesstest.CA // nil without mutual TLS
}

const (
	tokenKey  = "token"
	goodToken = "s3cret-token"
)

// startSecured runs a collector whose OTLP ports serve TLS with a
// certificate of a test CA, and accept goodToken.
func startSecured(t *testing.T, mutualTLS bool, mutate func(*config.Config)) *secured {
	t.Helper()
	s := &secured{tokens: accesstest.NewSecretVolume(t), certs: accesstest.NewSecretVolume(t), ca: accesstest.NewCA(t, "server-ca")}
	s.server = s.ca.Server(t, "collector")
	s.tokens.Update(t, map[string][]byte{tokenKey: []byte("# ingest clients\n" + goodToken + "\n")})
	files := map[string][]byte{"tls.crt": s.server.CertPEM, "tls.key": s.server.KeyPEM}
	if mutualTLS {
		s.clientCA = accesstest.NewCA(t, "client-ca")
		files["ca.crt"] = s.clientCA.PEM
	}
	s.certs.Update(t, files)
	s.running = start(t, func(cfg *config.Config) {
		cfg.Auth.BearerTokenFile = s.tokens.Path(tokenKey)
		cfg.TLS = config.TLS{CertFile: s.certs.Path("tls.crt"), KeyFile: s.certs.Path("tls.key")}
		if mutualTLS {
			cfg.TLS.ClientCAFile = s.certs.Path("ca.crt")
		}
		if mutate != nil {
			mutate(cfg)
		}
	})
	return s
}

// clientTLS trusts ca and presents cert when not nil.
func clientTLS(ca *accesstest.CA, cert *accesstest.Issued) *tls.Config {
	cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{cert.TLS}
	}
	return cfg
}

// exportGRPC sends spans named name with the SDK's gRPC exporter; a nil
// tlsCfg sends plain text, an empty token none.
func exportGRPC(t *testing.T, addr string, tlsCfg *tls.Config, token, name string, n int) error {
	t.Helper()
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(addr), otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}), otlptracegrpc.WithTimeout(5 * time.Second)}
	if tlsCfg == nil {
		opts = append(opts, otlptracegrpc.WithInsecure())
	} else {
		opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(tlsCfg)))
	}
	if token != "" {
		opts = append(opts, otlptracegrpc.WithHeaders(map[string]string{"authorization": "Bearer " + token}))
	}
	return export(t, func(ctx context.Context) (exporter, error) { return otlptracegrpc.New(ctx, opts...) }, name, n)
}

// exportHTTP is exportGRPC with the SDK's HTTP exporter.
func exportHTTP(t *testing.T, addr string, tlsCfg *tls.Config, token, name string, n int) error {
	t.Helper()
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(addr), otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}), otlptracehttp.WithTimeout(5 * time.Second)}
	if tlsCfg == nil {
		opts = append(opts, otlptracehttp.WithInsecure())
	} else {
		opts = append(opts, otlptracehttp.WithTLSClientConfig(tlsCfg))
	}
	if token != "" {
		opts = append(opts, otlptracehttp.WithHeaders(map[string]string{"Authorization": "Bearer " + token}))
	}
	return export(t, func(ctx context.Context) (exporter, error) { return otlptracehttp.New(ctx, opts...) }, name, n)
}

type exporter interface {
	ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error
	Shutdown(context.Context) error
}

func export(t *testing.T, newExporter func(context.Context) (exporter, error), name string, n int) error {
	t.Helper()
	ctx := context.Background()
	exp, err := newExporter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(ctx)
	return exp.ExportSpans(ctx, makeSpans(t, name, n))
}

// namesStored counts the stored spans by the name prefix before "-<i>".
func namesStored(t *testing.T, dir string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, l := range storedLines(t, dir) {
		name, _ := l["operation_name"].(string)
		if i := strings.LastIndexByte(name, '-'); i >= 0 {
			name = name[:i]
		}
		out[name]++
	}
	return out
}

// request sends one request and returns its status, headers and body.
func request(t *testing.T, client *http.Client, method, url, token string, body []byte) (int, http.Header, string, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(data), nil
}

func httpsClient(cfg *tls.Config) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
}

// rawCodec sends bytes as they are, to put any body on the wire.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }
func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}
func (rawCodec) Unmarshal(mem.BufferSlice, any) error { return nil }

// invokeRaw calls Export with body as the request message.
func invokeRaw(t *testing.T, addr string, tlsCfg *tls.Config, token string, body []byte) error {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	var out []byte
	return conn.Invoke(ctx, "/opentelemetry.proto.collector.trace.v1.TraceService/Export", body, &out, grpc.ForceCodecV2(rawCodec{}))
}

func TestTLSAndBearerTokensWithTheOTelExporters(t *testing.T) {
	t.Parallel()
	c := startSecured(t, false, nil)
	addrs := c.Addrs()
	trusted := clientTLS(c.ca, nil)

	// Accepted with TLS and the token, over both exporters.
	if err := exportGRPC(t, addrs.OTLPGRPC, trusted, goodToken, "grpc-ok", 30); err != nil {
		t.Fatalf("gRPC export with TLS and the token: %v", err)
	}
	if err := exportHTTP(t, addrs.OTLPHTTP, trusted, goodToken, "http-ok", 20); err != nil {
		t.Fatalf("HTTP export with TLS and the token: %v", err)
	}

	// Refused without the token or with a wrong one.
	for _, token := range []string{"", "wrong"} {
		err := exportGRPC(t, addrs.OTLPGRPC, trusted, token, "grpc-refused", 5)
		if st, _ := status.FromError(errors.Unwrap(err)); st.Code() != codes.Unauthenticated && !strings.Contains(fmt.Sprint(err), "Unauthenticated") {
			t.Errorf("gRPC export with token %q: %v, want Unauthenticated", token, err)
		}
		if err := exportHTTP(t, addrs.OTLPHTTP, trusted, token, "http-refused", 5); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("HTTP export with token %q: %v, want 401", token, err)
		}
	}
	client := httpsClient(trusted)
	body, _ := dbgptBody("refused", 3)
	code, header, msg, err := request(t, client, http.MethodPost, "https://"+addrs.OTLPHTTP+"/v1/spans", "", body)
	if err != nil || code != http.StatusUnauthorized || header.Get("WWW-Authenticate") != `Bearer realm="spansink"` || !strings.Contains(msg, `send the header "Authorization: Bearer <token>"`) {
		t.Errorf("DB-GPT post without a token: %d %v %q %v; want 401 with a challenge and a message", code, header, msg, err)
	}
	code, header, _, err = request(t, client, http.MethodPost, "https://"+addrs.OTLPHTTP+"/v1/spans", "wrong", body)
	if err != nil || code != http.StatusUnauthorized || header.Get("WWW-Authenticate") != `Bearer realm="spansink", error="invalid_token"` {
		t.Errorf("DB-GPT post with a wrong token: %d %v %v; want 401 invalid_token", code, header, err)
	}
	okBody, _ := dbgptBody("dbgpt-ok", 4)
	if code, _, msg, err := request(t, client, http.MethodPost, "https://"+addrs.OTLPHTTP+"/v1/spans", goodToken, okBody); err != nil || code != http.StatusOK {
		t.Errorf("DB-GPT post with the token: %d %q %v", code, msg, err)
	}

	// An undecodable body without a token is refused as unauthenticated,
	// not as undecodable: nobody decoded it.
	garbage := bytes.Repeat([]byte{0xff}, 1<<20)
	if err := invokeRaw(t, addrs.OTLPGRPC, trusted, "", garbage); status.Code(err) != codes.Unauthenticated {
		t.Errorf("garbage over gRPC without a token: %v, want Unauthenticated", err)
	}
	if err := invokeRaw(t, addrs.OTLPGRPC, trusted, goodToken, garbage); status.Code(err) != codes.InvalidArgument {
		t.Errorf("garbage over gRPC with the token: %v, want InvalidArgument (the control case)", err)
	}
	if code, _, _, err := request(t, client, http.MethodPost, "https://"+addrs.OTLPHTTP+"/v1/traces", "", garbage); err != nil || code != http.StatusUnauthorized {
		t.Errorf("garbage over HTTP without a token: %d %v, want 401", code, err)
	}

	// Plain text against the TLS ports fails.
	if err := exportGRPC(t, addrs.OTLPGRPC, nil, goodToken, "grpc-plain", 5); err == nil {
		t.Errorf("plain-text gRPC export to the TLS port succeeded")
	}
	if code, _, msg, err := request(t, &http.Client{Timeout: 5 * time.Second}, http.MethodPost, "http://"+addrs.OTLPHTTP+"/v1/spans", goodToken, body); err == nil && code != http.StatusBadRequest {
		t.Errorf("plain-text HTTP post to the TLS port: %d %q, want a failure", code, msg)
	}
	// TLS 1.1 is refused on both ports.
	for _, addr := range []string{addrs.OTLPGRPC, addrs.OTLPHTTP} {
		old := clientTLS(c.ca, nil)
		old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
		if conn, err := tls.Dial("tcp", addr, old); err == nil {
			conn.Close()
			t.Errorf("%s: a TLS 1.1 handshake succeeded", addr)
		} else if !strings.Contains(err.Error(), "protocol version") {
			t.Errorf("%s: TLS 1.1 handshake error %v, want one about the protocol version", addr, err)
		}
	}
	// HTTP/2 and HTTP/1.1 both serve the HTTP port.
	for _, proto := range []string{"h2", "http/1.1"} {
		cfg := clientTLS(c.ca, nil)
		cfg.NextProtos = []string{proto}
		conn, err := tls.Dial("tcp", addrs.OTLPHTTP, cfg)
		if err != nil {
			t.Fatalf("ALPN %s: %v", proto, err)
		}
		if got := conn.ConnectionState().NegotiatedProtocol; got != proto {
			t.Errorf("offered %s, negotiated %q", proto, got)
		}
		conn.Close()
	}

	_, metrics := get(t, "http://"+addrs.Admin+"/metrics")
	for _, want := range []string{
		`spansink_ingest_unauthenticated_total{protocol="otlp_grpc",reason="missing"} 2`,
		`spansink_ingest_unauthenticated_total{protocol="otlp_grpc",reason="wrong_token"} 1`,
		`spansink_ingest_unauthenticated_total{protocol="otlp_http",reason="missing"} 2`,
		`spansink_ingest_unauthenticated_total{protocol="dbgpt",reason="wrong_token"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	c.stop(t)
	got := namesStored(t, c.dir)
	want := map[string]int{"grpc-ok": 30, "http-ok": 20, "op": 4}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stored spans by name %v, want %v: only what authenticated clients sent", got, want)
	}
}

func TestMutualTLS(t *testing.T) {
	t.Parallel()
	c := startSecured(t, true, nil)
	addrs := c.Addrs()
	clientCert := c.clientCA.Client(t, "shop")
	stranger := accesstest.NewCA(t, "stranger").Client(t, "intruder")

	if err := exportGRPC(t, addrs.OTLPGRPC, clientTLS(c.ca, clientCert), goodToken, "grpc-mtls", 7); err != nil {
		t.Fatalf("gRPC with a client certificate: %v", err)
	}
	if err := exportHTTP(t, addrs.OTLPHTTP, clientTLS(c.ca, clientCert), goodToken, "http-mtls", 3); err != nil {
		t.Fatalf("HTTP with a client certificate: %v", err)
	}
	withStranger := clientTLS(c.ca, nil)
	withStranger.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &stranger.TLS, nil }
	for name, cfg := range map[string]*tls.Config{"no client certificate": clientTLS(c.ca, nil), "a stranger's certificate": withStranger} {
		if err := exportGRPC(t, addrs.OTLPGRPC, cfg, goodToken, "grpc-refused", 2); err == nil {
			t.Errorf("gRPC with %s succeeded", name)
		}
		if err := exportHTTP(t, addrs.OTLPHTTP, cfg, goodToken, "http-refused", 2); err == nil {
			t.Errorf("HTTP with %s succeeded", name)
		}
	}
	c.stop(t)
	if got, want := namesStored(t, c.dir), map[string]int{"grpc-mtls": 7, "http-mtls": 3}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
}

// TestRotationWithoutRestart rotates the token and the server certificate
// the way the kubelet updates mounted Secrets, and checks that they apply
// to the next requests and handshakes, and that a broken update keeps what
// is in force.
func TestRotationWithoutRestart(t *testing.T) {
	t.Parallel()
	c := startSecured(t, false, nil)
	addrs := c.Addrs()
	const bound = 5 * time.Second

	// Token: kubelet swap of ..data.
	c.tokens.Update(t, map[string][]byte{tokenKey: []byte("rotated-token\n")})
	start := time.Now()
	for exportGRPC(t, addrs.OTLPGRPC, clientTLS(c.ca, nil), "rotated-token", "grpc-new-token", 1) != nil {
		if time.Since(start) > bound {
			t.Fatalf("the rotated token is not accepted after %v", bound)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("rotated token in force after %v", time.Since(start))
	if err := exportHTTP(t, addrs.OTLPHTTP, clientTLS(c.ca, nil), "rotated-token", "http-new-token", 1); err != nil {
		t.Fatalf("HTTP with the rotated token: %v", err)
	}
	if err := exportGRPC(t, addrs.OTLPGRPC, clientTLS(c.ca, nil), goodToken, "grpc-old-token", 1); err == nil {
		t.Fatal("the old token is still accepted over gRPC")
	}
	if err := exportHTTP(t, addrs.OTLPHTTP, clientTLS(c.ca, nil), goodToken, "http-old-token", 1); err == nil {
		t.Fatal("the old token is still accepted over HTTP")
	}

	// Certificate: renewed from a new CA.
	newCA := accesstest.NewCA(t, "renewed-ca")
	renewed := newCA.Server(t, "collector-renewed")
	c.certs.Update(t, map[string][]byte{"tls.crt": renewed.CertPEM, "tls.key": renewed.KeyPEM})
	serial := func(addr string, ca *accesstest.CA) string {
		conn, err := tls.Dial("tcp", addr, clientTLS(ca, nil))
		if err != nil {
			return ""
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	start = time.Now()
	for serial(addrs.OTLPGRPC, newCA) != renewed.Cert.SerialNumber.String() || serial(addrs.OTLPHTTP, newCA) != renewed.Cert.SerialNumber.String() {
		if time.Since(start) > bound {
			t.Fatalf("the renewed certificate is not presented after %v", bound)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("renewed certificate presented after %v", time.Since(start))
	if err := exportGRPC(t, addrs.OTLPGRPC, clientTLS(newCA, nil), "rotated-token", "grpc-renewed", 2); err != nil {
		t.Fatalf("gRPC trusting the renewed CA: %v", err)
	}
	if err := exportHTTP(t, addrs.OTLPHTTP, clientTLS(newCA, nil), "rotated-token", "http-renewed", 2); err != nil {
		t.Fatalf("HTTP trusting the renewed CA: %v", err)
	}
	if err := exportGRPC(t, addrs.OTLPGRPC, clientTLS(c.ca, nil), "rotated-token", "grpc-old-ca", 1); err == nil {
		t.Fatal("a client trusting only the old CA still connects")
	}

	// Broken updates: a token file without tokens, a key of another
	// certificate. Both keep what is in force.
	c.tokens.Update(t, map[string][]byte{tokenKey: []byte("\n# all removed\n")})
	c.certs.Update(t, map[string][]byte{"tls.crt": renewed.CertPEM, "tls.key": c.server.KeyPEM})
	start = time.Now()
	for {
		_, metrics := get(t, "http://"+addrs.Admin+"/metrics")
		if strings.Contains(metrics, `spansink_credentials_reloads_total{kind="bearer_tokens",result="failure"} 1`) &&
			strings.Contains(metrics, `spansink_credentials_reloads_total{kind="tls_certificate",result="failure"} 1`) {
			break
		}
		if time.Since(start) > bound {
			t.Fatalf("the failed reloads are not counted after %v:\n%s", bound, metrics)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := exportGRPC(t, addrs.OTLPGRPC, clientTLS(newCA, nil), "rotated-token", "grpc-after-broken", 2); err != nil {
		t.Fatalf("after broken updates: %v", err)
	}
	if got := serial(addrs.OTLPHTTP, newCA); got != renewed.Cert.SerialNumber.String() {
		t.Fatalf("after a broken certificate update the HTTP port presents serial %q", got)
	}

	c.stop(t)
	want := map[string]int{"grpc-new-token": 1, "http-new-token": 1, "grpc-renewed": 2, "http-renewed": 2, "grpc-after-broken": 2}
	if got := namesStored(t, c.dir); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
}

func TestStartRefusesBadCredentials(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct {
		name    string
		mutate  func(*config.Config)
		wantErr string
	}{
		{"missing token file", func(c *config.Config) { c.Auth.BearerTokenFile = dir + "/nope" }, "load the bearer tokens: open " + dir + "/nope: no such file or directory"},
		{"missing certificate", func(c *config.Config) { c.TLS = config.TLS{CertFile: dir + "/tls.crt", KeyFile: dir + "/tls.key"} }, "load the TLS certificate: open " + dir + "/tls.crt"},
	}
	for _, tc := range cases {
		cfg := config.Default()
		cfg.Listen = config.Listen{OTLPGRPC: "127.0.0.1:0", OTLPHTTP: "127.0.0.1:0", Admin: "127.0.0.1:0"}
		cfg.Storage.Dir = t.TempDir()
		tc.mutate(&cfg)
		if c, err := New(cfg, testr.New(t)); err == nil {
			c.shutdown()
			t.Errorf("%s: started", tc.name)
		} else if !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.wantErr)
		}
	}
}

func TestAdminDebugEndpoints(t *testing.T) {
	t.Parallel()
	tokens := accesstest.NewSecretVolume(t)
	tokens.Update(t, map[string][]byte{tokenKey: []byte(goodToken + "\n")})
	type check struct {
		path, token string
		wantStatus  int
		wantBody    string
	}
	open := []check{
		{"/metrics", "", 200, "go_memstats_heap_alloc_bytes"},
		{"/healthz", "", 200, "ok"},
		{"/readyz", "", 200, "ok"},
	}
	cases := []struct {
		name   string
		mutate func(*config.Config)
		checks []check
	}{
		{"off", nil, []check{
			{"/debug/spans", "", 404, "the debug endpoints (/debug/spans, /debug/pprof/) are off"},
			{"/debug/spans", goodToken, 404, "--debug-endpoints"},
			{"/debug/pprof/", "", 404, "debug.enabled: true"},
			{"/debug/pprof/heap", goodToken, 404, "are off"},
		}},
		{"on with tokens", func(c *config.Config) {
			c.Debug.Enabled = true
			c.Auth.BearerTokenFile = tokens.Path(tokenKey)
		}, []check{
			{"/debug/spans", "", 401, "requires a bearer token"},
			{"/debug/spans", "wrong", 401, "not one this collector accepts"},
			{"/debug/pprof/", "", 401, "requires a bearer token"},
			{"/debug/spans", goodToken, 200, "["},
			{"/debug/pprof/", goodToken, 200, "goroutine"},
		}},
		{"on without tokens", func(c *config.Config) { c.Debug.Enabled = true }, []check{
			{"/debug/spans", "", 200, "["},
			{"/debug/pprof/", "", 200, "goroutine"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := start(t, tc.mutate)
			for _, ch := range append(tc.checks, open...) {
				code, header, body, err := request(t, http.DefaultClient, http.MethodGet, "http://"+c.Addrs().Admin+ch.path, ch.token, nil)
				if err != nil {
					t.Fatal(err)
				}
				if code != ch.wantStatus || !strings.Contains(body, ch.wantBody) {
					t.Errorf("GET %s (token %q): %d %.200q, want %d saying %q", ch.path, ch.token, code, body, ch.wantStatus, ch.wantBody)
				}
				if code == 401 && !strings.HasPrefix(header.Get("WWW-Authenticate"), "Bearer ") {
					t.Errorf("GET %s: 401 without a bearer challenge", ch.path)
				}
			}
		})
	}
	// The admin port's refusals are counted apart from ingest.
	c := start(t, func(cfg *config.Config) {
		cfg.Debug.Enabled = true
		cfg.Auth.BearerTokenFile = tokens.Path(tokenKey)
	})
	get(t, "http://"+c.Addrs().Admin+"/debug/spans")
	if _, metrics := get(t, "http://"+c.Addrs().Admin+"/metrics"); !strings.Contains(metrics, `spansink_ingest_unauthenticated_total{protocol="admin",reason="missing"} 1`) {
		t.Errorf("/metrics does not count the admin refusal")
	}
}

// TestDebugSpansBoundedInBytes sends records larger together than the
// ring's budget: /debug/spans answers at most the budget, the newest
// records whole, and a record larger than the budget is counted, not kept.
func TestDebugSpansBoundedInBytes(t *testing.T) {
	t.Parallel()
	const budget = 64 << 10
	c := start(t, func(cfg *config.Config) {
		cfg.Debug.Enabled = true
		cfg.Debug.RecentSpansBytes = budget
	})
	addrs := c.Addrs()
	pad := strings.Repeat("x", 10<<10)
	var body bytes.Buffer
	for i := range 30 {
		fmt.Fprintf(&body, `{"span_type":"chat","trace_id":"0123456789abcdef0123456789abcdef","span_id":"0123456789abcdef0123456789abcdef:%02d","parent_span_id":null,"operation_name":"op","start_time":"2024-01-02 03:04:05.678","end_time":null,"metadata":{"pad":"%s"}}`+"\n", i, pad)
	}
	huge := strings.Repeat("y", budget)
	fmt.Fprintf(&body, `{"span_type":"chat","trace_id":"0123456789abcdef0123456789abcdef","span_id":"huge","parent_span_id":null,"operation_name":"op","start_time":"2024-01-02 03:04:05.678","end_time":null,"metadata":{"pad":"%s"}}`+"\n", huge)
	if code, err := postDBGPT(http.DefaultClient, addrs.OTLPHTTP, body.Bytes()); err != nil || code != http.StatusOK {
		t.Fatalf("post: %d %v", code, err)
	}
	var recent string
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(recent, ":29") && time.Now().Before(deadline) {
		_, recent = get(t, "http://"+addrs.Admin+"/debug/spans?limit=1000")
		time.Sleep(10 * time.Millisecond)
	}
	if len(recent) > budget+1000 {
		t.Fatalf("/debug/spans answered %d bytes, over the %d-byte budget", len(recent), budget)
	}
	if !strings.Contains(recent, ":29") || strings.Contains(recent, ":00") || strings.Contains(recent, `"huge"`) {
		t.Fatalf("/debug/spans (%d bytes) should hold the newest records, not the oldest nor the one over budget", len(recent))
	}
	_, metrics := get(t, "http://"+addrs.Admin+"/metrics")
	for _, want := range []string{"spansink_recent_spans_too_large_total 1", "spansink_recent_spans_bytes 65536"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
