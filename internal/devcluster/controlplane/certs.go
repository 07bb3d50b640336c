package controlplane

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// ServiceCIDR is the API server's --service-cluster-ip-range. Its first
// address is the cluster IP of the `kubernetes` Service in `default`, the
// address an in-cluster client dials (KUBERNETES_SERVICE_HOST).
const ServiceCIDR = "10.0.0.0/24"

// KubernetesServiceIP is the first address of ServiceCIDR, which the API
// server gives the `kubernetes` Service.
var KubernetesServiceIP = net.IPv4(10, 0, 0, 1).To4()

// servingNames are the names an in-cluster client may use for the API
// server, as kubeadm puts them in its serving certificate.
var servingNames = []string{
	"localhost",
	"kubernetes",
	"kubernetes.default",
	"kubernetes.default.svc",
	"kubernetes.default.svc.cluster.local",
}

// File names in the API server's certificate directory. envtest generates
// apiserver.crt and apiserver.key itself only when they are missing, and its
// certificate names localhost and 127.0.0.1 alone; a pod's client dials the
// `kubernetes` Service's cluster IP and checks it against the certificate,
// so this package writes its own.
const (
	servingCertFile      = "apiserver.crt"
	servingKeyFile       = "apiserver.key"
	serviceAccountKey    = "service-account.key"
	certificateAuthority = "ca.crt"
)

// certValidity is long enough for any run; the files are made per start.
const certValidity = 7 * 24 * time.Hour

// writeAPIServerCerts writes into dir a new CA, a serving certificate it
// signs for 127.0.0.1, the `kubernetes` Service's cluster IP and names, and
// the key the API server signs service-account tokens with. It returns the
// CA certificate, the one clients (and pods, through the kube-root-ca.crt
// ConfigMap) verify the API server against.
func writeAPIServerCerts(dir string) ([]byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("API server CA key: %w", err)
	}
	ca, err := cert.NewSelfSignedCACert(cert.Config{CommonName: "spansink-devcluster-ca"}, caKey)
	if err != nil {
		return nil, fmt.Errorf("API server CA: %w", err)
	}
	servingKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("API server serving key: %w", err)
	}
	serving, err := signServingCert(ca, caKey, servingKey.Public())
	if err != nil {
		return nil, err
	}
	servingKeyPEM, err := keyutil.MarshalPrivateKeyToPEM(servingKey)
	if err != nil {
		return nil, fmt.Errorf("API server serving key: %w", err)
	}
	// ECDSA P-256 signs ES256 tokens, which every client library verifies.
	signingKeyPEM, err := keyutil.MakeEllipticPrivateKeyPEM()
	if err != nil {
		return nil, fmt.Errorf("service-account signing key: %w", err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: cert.CertificateBlockType, Bytes: ca.Raw})
	for name, data := range map[string][]byte{
		servingCertFile:      pem.EncodeToMemory(&pem.Block{Type: cert.CertificateBlockType, Bytes: serving}),
		servingKeyFile:       servingKeyPEM,
		serviceAccountKey:    signingKeyPEM,
		certificateAuthority: caPEM,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", name, err)
		}
	}
	return caPEM, nil
}

// signServingCert makes the API server's serving certificate, signed by ca.
func signServingCert(ca *x509.Certificate, caKey crypto.Signer, key crypto.PublicKey) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		DNSNames:     servingNames,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), KubernetesServiceIP},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca, key, caKey)
	if err != nil {
		return nil, fmt.Errorf("API server serving certificate: %w", err)
	}
	return der, nil
}
