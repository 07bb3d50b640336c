//go:build e2e

package e2e

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"google.golang.org/grpc/credentials"

	"github.com/spansink/spansink/sink/access/accesstest"
)

// secureSinkName is the SpanSink of the TLS spec; its Service is
// secureSinkName-collector.
const secureSinkName = "secure"

var _ = Describe("a SpanSink with TLS, mutual TLS and a bearer token", func() {
	It("serves https endpoints, refuses clients without credentials and stores what authenticated SDK and telemetrygen clients send", func(ctx SpecContext) {
		ns := newNamespace(ctx, nil)
		files := GinkgoT().TempDir()

		// The certificates a person would make with cert-manager: one CA
		// for the server and the clients, a server certificate for the
		// Service's names and for the local node's proxy address.
		ca := accesstest.NewCA(GinkgoTB(), "e2e spansink CA")
		service := secureSinkName + "-collector"
		server := ca.Server(GinkgoTB(), service, service+"."+ns+".svc", service+"."+ns+".svc.cluster.local")
		client := ca.Client(GinkgoTB(), "e2e-client")
		write := func(name string, data []byte) string {
			path := filepath.Join(files, name)
			Expect(os.WriteFile(path, data, 0o600)).To(Succeed())
			return path
		}
		caFile := write("ca.crt", ca.PEM)
		certFile, keyFile := write("tls.crt", server.CertPEM), write("tls.key", server.KeyPEM)
		clientCert, clientKey := write("client.crt", client.CertPEM), write("client.key", client.KeyPEM)
		const token = "e2e-token-4f1b0c9a7d"
		kubectl("-n", ns, "create", "secret", "tls", "sink-tls", "--cert", certFile, "--key", keyFile)
		kubectl("-n", ns, "create", "secret", "generic", "sink-client-ca", "--from-file=ca.crt="+caFile)
		// Two tokens, one per line: the old one of a rotation stays valid.
		kubectl("-n", ns, "create", "secret", "generic", "sink-token", "--from-literal=token=retired-token\n"+token+"\n")

		apply := kubectlCommand("apply", "-n", ns, "-f", "-")
		apply.Stdin = strings.NewReader(fmt.Sprintf(`apiVersion: tracing.spansink.dev/v1alpha1
kind: SpanSink
metadata:
  name: %s
spec:
  batch:
    size: 100
    flushInterval: 500ms
  auth:
    bearerTokenSecretRef:
      name: sink-token
  tls:
    secretRef:
      name: sink-tls
    clientCASecretRef:
      name: sink-client-ca
`, secureSinkName))
		out, err := apply.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "kubectl apply: %s", out)

		sink := waitReady(ctx, ns, secureSinkName)
		Expect(sink.Status.Endpoints.OTLPHTTP).To(HavePrefix("https://"))
		Expect(sink.Status.Endpoints.OTLPGRPC).To(HavePrefix("https://"))

		// The collector reads the Secrets from volumes: its service account
		// mounts no token and has no Secret access.
		pods := collectorPods(ctx, ns, secureSinkName)
		Expect(pods).To(HaveLen(1))
		mounted := map[string]bool{}
		for _, v := range pods[0].Spec.Volumes {
			if v.Secret != nil {
				mounted[v.Secret.SecretName] = true
			}
		}
		Expect(mounted).To(Equal(map[string]bool{"sink-tls": true, "sink-client-ca": true, "sink-token": true}))
		Expect(pods[0].Spec.AutomountServiceAccountToken).To(HaveValue(BeFalse()))

		httpAddr := serviceAddress(ctx, sink, "otlp-http")
		grpcAddr := serviceAddress(ctx, sink, "otlp-grpc")
		clientTLS := &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{client.TLS}, MinVersion: tls.VersionTLS12}

		By("refusing a client without a client certificate, one without a token and one in plain text")
		noCert := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
		_, err = noCert.Post("https://"+httpAddr+"/v1/traces", "application/json", strings.NewReader("{}"))
		Expect(err).To(HaveOccurred(), "a client without a certificate was let in")
		withCert := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: clientTLS}}
		resp, err := withCert.Post("https://"+httpAddr+"/v1/traces", "application/json", strings.NewReader(`{"resourceSpans":[]}`))
		Expect(err).NotTo(HaveOccurred())
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusUnauthorized), "%s", body)
		Expect(resp.Header.Get("WWW-Authenticate")).To(HavePrefix("Bearer"))
		plain, err := (&http.Client{Timeout: 5 * time.Second}).Post("http://"+httpAddr+"/v1/traces", "application/json", bytes.NewReader([]byte("{}")))
		if err == nil {
			plain.Body.Close()
			Expect(plain.StatusCode).NotTo(Equal(http.StatusOK), "a plain-text request was served")
		}

		By("storing what the SDK exporters and telemetrygen send with the certificate and the token")
		headers := map[string]string{"Authorization": "Bearer " + token}
		httpExporter, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(httpAddr), otlptracehttp.WithTLSClientConfig(clientTLS), otlptracehttp.WithHeaders(headers))
		Expect(err).NotTo(HaveOccurred())
		sentHTTP := sendWithExporter(ctx, httpExporter, "e2e-tls-sdk-http", 60)
		grpcExporter, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(grpcAddr), otlptracegrpc.WithTLSCredentials(credentials.NewTLS(clientTLS)), otlptracegrpc.WithHeaders(headers))
		Expect(err).NotTo(HaveOccurred())
		sentGRPC := sendWithExporter(ctx, grpcExporter, "e2e-tls-sdk-grpc", 40)
		tgFlags := []string{"--ca-cert", caFile, "--mtls", "--client-cert", clientCert, "--client-key", clientKey,
			"--otlp-header", `authorization="Bearer ` + token + `"`}
		tgHTTP := sendWithTelemetrygenArgs(ctx, "http", httpAddr, "e2e-tls-tg-http", 20, tgFlags...)
		tgGRPC := sendWithTelemetrygenArgs(ctx, "grpc", grpcAddr, "e2e-tls-tg-grpc", 20, tgFlags...)

		dir := volumeDir(ctx, sink)
		Eventually(func(g Gomega) {
			stored := readSpans(dir, "dbgpt")
			g.Expect(spansOf(stored, "e2e-tls-sdk-http")).To(Equal(onceEach(sentHTTP)))
			g.Expect(spansOf(stored, "e2e-tls-sdk-grpc")).To(Equal(onceEach(sentGRPC)))
			g.Expect(distinctOnce(spansOf(stored, "e2e-tls-tg-http"))).To(Equal(tgHTTP))
			g.Expect(distinctOnce(spansOf(stored, "e2e-tls-tg-grpc"))).To(Equal(tgGRPC))
			// Nothing from the refused requests: only the four clients' spans.
			g.Expect(stored).To(HaveLen(len(sentHTTP) + len(sentGRPC) + tgHTTP + tgGRPC))
		}).WithContext(ctx).WithTimeout(30*time.Second).WithPolling(500*time.Millisecond).Should(Succeed(), func() string {
			return describe(ctx, ns)
		})
	})
})
