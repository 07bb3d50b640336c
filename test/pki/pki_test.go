package pki

import (
	"crypto/x509"
	"encoding/pem"
	"testing"
)

func TestCertificatesVerifyAgainstTheirCA(t *testing.T) {
	ca, err := NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.Server("sink-collector.ns.svc", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Client("sdk")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		pair  Pair
		host  string
		usage x509.ExtKeyUsage
	}{
		{"server by DNS name", server, "sink-collector.ns.svc", x509.ExtKeyUsageServerAuth},
		{"server by IP", server, "127.0.0.1", x509.ExtKeyUsageServerAuth},
		{"client", client, "", x509.ExtKeyUsageClientAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.pair.TLSCertificate(); err != nil {
				t.Fatalf("pair does not load: %v", err)
			}
			block, _ := pem.Decode(tc.pair.CertPEM)
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.CertPool(), DNSName: tc.host, KeyUsages: []x509.ExtKeyUsage{tc.usage}}); err != nil {
				t.Fatalf("does not verify: %v", err)
			}
		})
	}
	other, err := NewCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(server.CertPEM)
	cert, _ := x509.ParseCertificate(block.Bytes)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: other.CertPool()}); err == nil {
		t.Fatal("a certificate verified against a CA that did not sign it")
	}
}
