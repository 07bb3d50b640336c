package replay

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// Exporter sends one OTLP request and says what the receiver made of it.
type Exporter interface {
	// Export sends td. A nil error means the receiver acknowledged the
	// request; it may still have rejected some spans (Result). An error
	// is an *ExportError when the receiver answered or could not be
	// reached, classified as retryable or not.
	Export(ctx context.Context, td ptrace.Traces) (Result, error)
	// Close releases the connection.
	Close() error
}

// Result is an acknowledged request's partial success: the spans the
// receiver took but dropped, and why. OTLP forbids sending them again.
type Result struct {
	RejectedSpans int64
	Message       string
}

// Target says where the spans go and how to connect.
type Target struct {
	// Endpoint is host:port.
	Endpoint string
	// HTTP sends OTLP/HTTP protobuf to /v1/traces instead of OTLP/gRPC.
	HTTP bool
	// Insecure connects in plain text; otherwise TLS with the system's
	// roots and CAFile's.
	Insecure bool
	// CAFile is a PEM bundle of extra roots; CertFile and KeyFile a client
	// certificate for mutual TLS.
	CAFile, CertFile, KeyFile string
	// Headers go with every request: HTTP headers, or gRPC metadata.
	Headers []Header
}

// Header is one --header key=value.
type Header struct{ Key, Value string }

// TracesPath is where OTLP/HTTP takes traces.
const TracesPath = "/v1/traces"

// NewExporter connects to the target's receiver. Nothing is sent yet: a
// receiver that is down shows on the first export, which is retried.
func NewExporter(t Target) (Exporter, error) {
	if _, _, err := net.SplitHostPort(t.Endpoint); err != nil {
		return nil, fmt.Errorf("OTLP endpoint %q: want HOST:PORT: %w", t.Endpoint, err)
	}
	var tlsConfig *tls.Config
	if !t.Insecure {
		var err error
		if tlsConfig, err = clientTLS(t); err != nil {
			return nil, err
		}
	}
	if t.HTTP {
		return newHTTPExporter(t, tlsConfig), nil
	}
	return newGRPCExporter(t, tlsConfig)
}

// clientTLS is the TLS configuration of the target.
func clientTLS(t Target) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read --ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load --cert-file %s and --key-file %s: %w", t.CertFile, t.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// grpcExporter sends with the OTLP gRPC client of pdata.
type grpcExporter struct {
	conn    *grpc.ClientConn
	client  ptraceotlp.GRPCClient
	headers metadata.MD
}

// maxGRPCMessage lifts grpc-go's own bound on what the client may receive
// (responses are small; the bound that matters, the receiver's on what it
// takes, is kept by splitting requests, see MaxRequestBytes).
const maxGRPCMessage = 64 << 20

func newGRPCExporter(t Target, tlsConfig *tls.Config) (*grpcExporter, error) {
	creds := insecure.NewCredentials()
	if tlsConfig != nil {
		creds = credentials.NewTLS(tlsConfig)
	}
	conn, err := grpc.NewClient(t.Endpoint,
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxGRPCMessage)))
	if err != nil {
		return nil, fmt.Errorf("OTLP/gRPC client for %s: %w", t.Endpoint, err)
	}
	md := metadata.MD{}
	for _, h := range t.Headers {
		md.Append(strings.ToLower(h.Key), h.Value)
	}
	return &grpcExporter{conn: conn, client: ptraceotlp.NewGRPCClient(conn), headers: md}, nil
}

func (e *grpcExporter) Export(ctx context.Context, td ptrace.Traces) (Result, error) {
	if len(e.headers) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, e.headers)
	}
	resp, err := e.client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
	if err != nil {
		return Result{}, classifyGRPC(err)
	}
	partial := resp.PartialSuccess()
	return Result{RejectedSpans: partial.RejectedSpans(), Message: partial.ErrorMessage()}, nil
}

func (e *grpcExporter) Close() error { return e.conn.Close() }

// httpExporter POSTs OTLP/HTTP protobuf.
type httpExporter struct {
	url     string
	client  *http.Client
	headers []Header
}

func newHTTPExporter(t Target, tlsConfig *tls.Config) *httpExporter {
	scheme := "https"
	if t.Insecure {
		scheme = "http"
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	return &httpExporter{
		url:     scheme + "://" + t.Endpoint + TracesPath,
		client:  &http.Client{Transport: transport},
		headers: t.Headers,
	}
}

// maxResponseBytes bounds what is read of a response: an answer is a short
// protobuf or a short text, and a receiver gone wrong must not fill memory.
const maxResponseBytes = 64 << 10

func (e *httpExporter) Export(ctx context.Context, td ptrace.Traces) (Result, error) {
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		return Result{}, &ExportError{Err: fmt.Errorf("encode the request: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return Result{}, &ExportError{Err: err}
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	for _, h := range e.headers {
		req.Header.Add(h.Key, h.Value)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return Result{}, classifyTransport(err)
	}
	defer resp.Body.Close()
	answer, readErr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if resp.StatusCode != http.StatusOK {
		return Result{}, classifyHTTP(resp, answer)
	}
	if readErr != nil {
		// The receiver said 200, so it has the spans; only the partial
		// success, if any, is lost.
		return Result{Message: fmt.Sprintf("reading the response: %v", readErr)}, nil
	}
	return partialSuccessOf(resp, answer), nil
}

// partialSuccessOf reads an OTLP/HTTP success response.
func partialSuccessOf(resp *http.Response, body []byte) Result {
	if len(body) == 0 {
		return Result{}
	}
	out := ptraceotlp.NewExportResponse()
	var err error
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		err = out.UnmarshalJSON(body)
	} else {
		err = out.UnmarshalProto(body)
	}
	if err != nil {
		return Result{}
	}
	partial := out.PartialSuccess()
	return Result{RejectedSpans: partial.RejectedSpans(), Message: partial.ErrorMessage()}
}

func (e *httpExporter) Close() error {
	e.client.CloseIdleConnections()
	return nil
}
