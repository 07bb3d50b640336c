package replay

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/spansink/spansink/sink/access/accesstest"
)

// The exporters are tested against in-process OTLP servers built from the
// same pdata packages receivers use; the test/replay suite runs them
// against real Jaeger and spansink collectors.

// received is what a test server got.
type received struct {
	mu       sync.Mutex
	requests []ptrace.Traces
	headers  []map[string][]string
}

func (r *received) add(td ptrace.Traces, headers map[string][]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, td)
	r.headers = append(r.headers, headers)
}

func (r *received) spans() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, td := range r.requests {
		n += td.SpanCount()
	}
	return n
}

// grpcReceiver is an OTLP/gRPC server that keeps what it gets and answers
// with answer (nil: acknowledge).
type grpcReceiver struct {
	ptraceotlp.UnimplementedGRPCServer
	got    *received
	answer func(ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error)
}

func (g *grpcReceiver) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	td := ptrace.NewTraces()
	req.Traces().CopyTo(td)
	g.got.add(td, md)
	if g.answer != nil {
		return g.answer(req)
	}
	return ptraceotlp.NewExportResponse(), nil
}

func startGRPCReceiver(t *testing.T, tlsConfig *tls.Config, answer func(ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error)) (string, *received) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var opts []grpc.ServerOption
	if tlsConfig != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsConfig)))
	}
	srv := grpc.NewServer(opts...)
	got := &received{}
	ptraceotlp.RegisterGRPCServer(srv, &grpcReceiver{got: got, answer: answer})
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return l.Addr().String(), got
}

// startHTTPReceiver is an OTLP/HTTP server; handle may answer instead of
// the default 200 with an empty ExportTraceServiceResponse.
func startHTTPReceiver(t *testing.T, tlsConfig *tls.Config, handle func(http.ResponseWriter, *http.Request) bool) (string, *received) {
	t.Helper()
	got := &received{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+TracesPath, func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want a protobuf body", http.StatusBadRequest)
			return
		}
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got.add(req.Traces(), r.Header)
		if handle != nil && handle(w, r) {
			return
		}
		answer, _ := ptraceotlp.NewExportResponse().MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(answer)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, TLSConfig: tlsConfig}
	if tlsConfig != nil {
		go srv.ServeTLS(l, "", "")
	} else {
		go srv.Serve(l)
	}
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String(), got
}

// sampleTraces is two spans under one resource and scope.
func sampleTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("shop")
	for i := range 2 {
		span := ss.Spans().AppendEmpty()
		span.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
		span.SetSpanID(pcommon.SpanID{byte(i + 1), 2, 3, 4, 5, 6, 7, 8})
		span.SetName("op")
		span.SetStartTimestamp(pcommon.Timestamp(1e18))
		span.SetEndTimestamp(pcommon.Timestamp(1e18 + 5e6))
	}
	return td
}

func mustExport(t *testing.T, target Target) Result {
	t.Helper()
	e, err := NewExporter(target)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	result, err := e.Export(ctx, sampleTraces())
	if err != nil {
		t.Fatalf("export to %s: %v", target.Endpoint, err)
	}
	return result
}

func sameTraces(t *testing.T, got, want ptrace.Traces) {
	t.Helper()
	g, _ := (&ptrace.JSONMarshaler{}).MarshalTraces(got)
	w, _ := (&ptrace.JSONMarshaler{}).MarshalTraces(want)
	if string(g) != string(w) {
		t.Fatalf("the receiver got\n%s\nwant\n%s", g, w)
	}
}

func TestGRPCExporterSendsWithHeaders(t *testing.T) {
	addr, got := startGRPCReceiver(t, nil, nil)
	mustExport(t, Target{Endpoint: addr, Insecure: true, Headers: []Header{{"Authorization", "Bearer s3cret"}, {"x-scope-orgid", "team-a"}}})
	if len(got.requests) != 1 {
		t.Fatalf("%d requests", len(got.requests))
	}
	sameTraces(t, got.requests[0], sampleTraces())
	md := got.headers[0]
	if md["authorization"][0] != "Bearer s3cret" || md["x-scope-orgid"][0] != "team-a" {
		t.Fatalf("metadata %v lacks the headers", md)
	}
}

func TestHTTPExporterSendsWithHeaders(t *testing.T) {
	addr, got := startHTTPReceiver(t, nil, nil)
	mustExport(t, Target{Endpoint: addr, HTTP: true, Insecure: true, Headers: []Header{{"Authorization", "Bearer s3cret"}}})
	if len(got.requests) != 1 {
		t.Fatalf("%d requests", len(got.requests))
	}
	sameTraces(t, got.requests[0], sampleTraces())
	if h := got.headers[0]["Authorization"]; len(h) != 1 || h[0] != "Bearer s3cret" {
		t.Fatalf("headers %v", got.headers[0])
	}
}

// tlsFiles writes a CA, a server certificate and a client certificate, and
// returns the server's TLS config requiring a client certificate of the CA.
func tlsFiles(t *testing.T) (caFile, certFile, keyFile string, server *tls.Config) {
	t.Helper()
	ca := accesstest.NewCA(t, "replay-test-ca")
	srv := ca.Server(t, "receiver")
	client := ca.Client(t, "replay")
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	caFile = write("ca.pem", ca.PEM)
	certFile = write("client.pem", client.CertPEM)
	keyFile = write("client.key", client.KeyPEM)
	server = &tls.Config{Certificates: []tls.Certificate{srv.TLS}, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	return caFile, certFile, keyFile, server
}

func TestExportersSpeakMutualTLS(t *testing.T) {
	caFile, certFile, keyFile, serverTLS := tlsFiles(t)
	for _, useHTTP := range []bool{false, true} {
		name := map[bool]string{false: "grpc", true: "http"}[useHTTP]
		t.Run(name, func(t *testing.T) {
			var addr string
			var got *received
			if useHTTP {
				addr, got = startHTTPReceiver(t, serverTLS, nil)
			} else {
				addr, got = startGRPCReceiver(t, serverTLS, nil)
			}
			mustExport(t, Target{Endpoint: addr, HTTP: useHTTP, CAFile: caFile, CertFile: certFile, KeyFile: keyFile})
			if got.spans() != 2 {
				t.Fatalf("%d spans arrived", got.spans())
			}

			// Without the client certificate the handshake fails; without
			// the CA the receiver's certificate is not trusted.
			for what, target := range map[string]Target{
				"no client certificate": {Endpoint: addr, HTTP: useHTTP, CAFile: caFile},
				"unknown CA":            {Endpoint: addr, HTTP: useHTTP, CertFile: certFile, KeyFile: keyFile},
			} {
				e, err := NewExporter(target)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err = e.Export(ctx, sampleTraces())
				cancel()
				e.Close()
				if err == nil {
					t.Errorf("%s: the export succeeded", what)
				}
			}
		})
	}
}

func TestNewExporterRefusesBadTLSFiles(t *testing.T) {
	caFile, certFile, _, _ := tlsFiles(t)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	cases := map[string]Target{
		"missing CA file":  {Endpoint: "127.0.0.1:1", CAFile: "/does/not/exist.pem"},
		"CA file not PEM":  {Endpoint: "127.0.0.1:1", CAFile: notPEM},
		"key not matching": {Endpoint: "127.0.0.1:1", CAFile: caFile, CertFile: certFile, KeyFile: caFile},
		"no port":          {Endpoint: "localhost", Insecure: true},
	}
	for name, target := range cases {
		if _, err := NewExporter(target); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestExportersReadPartialSuccess(t *testing.T) {
	partial := func() ptraceotlp.ExportResponse {
		resp := ptraceotlp.NewExportResponse()
		resp.PartialSuccess().SetRejectedSpans(1)
		resp.PartialSuccess().SetErrorMessage("span 2 is too old")
		return resp
	}
	grpcAddr, _ := startGRPCReceiver(t, nil, func(ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) { return partial(), nil })
	httpAddr, _ := startHTTPReceiver(t, nil, func(w http.ResponseWriter, _ *http.Request) bool {
		body, _ := partial().MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(body)
		return true
	})
	for name, target := range map[string]Target{
		"grpc": {Endpoint: grpcAddr, Insecure: true},
		"http": {Endpoint: httpAddr, HTTP: true, Insecure: true},
	} {
		result := mustExport(t, target)
		if result.RejectedSpans != 1 || result.Message != "span 2 is too old" {
			t.Errorf("%s: partial success %+v", name, result)
		}
	}
}

func TestHTTPExporterClassifiesAnswers(t *testing.T) {
	answers := []struct {
		status     int
		retryAfter string
		retryable  bool
	}{{503, "2", true}, {429, "", true}, {400, "", false}, {404, "", false}}
	for _, a := range answers {
		addr, _ := startHTTPReceiver(t, nil, func(w http.ResponseWriter, _ *http.Request) bool {
			if a.retryAfter != "" {
				w.Header().Set("Retry-After", a.retryAfter)
			}
			http.Error(w, "answer from the test", a.status)
			return true
		})
		e, _ := NewExporter(Target{Endpoint: addr, HTTP: true, Insecure: true})
		_, err := e.Export(context.Background(), sampleTraces())
		e.Close()
		var exportErr *ExportError
		if !errors.As(err, &exportErr) {
			t.Fatalf("%d: error %v is not an ExportError", a.status, err)
		}
		if exportErr.Retryable != a.retryable || !strings.Contains(exportErr.Error(), "answer from the test") {
			t.Errorf("%d: %+v", a.status, exportErr)
		}
		if a.retryAfter == "2" && exportErr.RetryAfter != 2*time.Second {
			t.Errorf("Retry-After 2 read as %s", exportErr.RetryAfter)
		}
	}
}

func TestExportersRetryAnUnreachableReceiver(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	for _, useHTTP := range []bool{false, true} {
		e, _ := NewExporter(Target{Endpoint: addr, HTTP: useHTTP, Insecure: true})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := e.Export(ctx, sampleTraces())
		cancel()
		e.Close()
		var exportErr *ExportError
		if !errors.As(err, &exportErr) || !exportErr.Retryable {
			t.Errorf("http=%v: error %v, want a retryable ExportError", useHTTP, err)
		}
	}
}
