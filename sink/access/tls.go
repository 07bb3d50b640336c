package access

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// ServerTLS is the TLS material of the ingest ports: a server certificate
// and, for mutual TLS, the CAs that sign client certificates. Every new
// handshake uses the material in force at its start, so a renewed
// certificate or CA bundle applies to new connections at once, while
// connections already open keep theirs.
type ServerTLS struct {
	cert *certSource
	ca   *caSource // nil without mutual TLS

	mu      sync.Mutex // serialises rebuilding current
	current atomic.Pointer[tlsState]
}

// tlsState is one consistent set of material.
type tlsState struct {
	certificate *tls.Certificate
	clientCAs   *x509.CertPool // nil without mutual TLS
	// ticketKey encrypts session tickets. A new one with every change
	// of material means a session from before cannot be resumed past it:
	// resumption would skip verifying a client certificate against a
	// replaced CA.
	ticketKey [32]byte
}

func newServerTLS(certFile, keyFile, caFile string) *ServerTLS {
	s := &ServerTLS{}
	s.cert = &certSource{certFile: certFile, keyFile: keyFile, server: s}
	if caFile != "" {
		s.ca = &caSource{file: caFile, server: s}
	}
	return s
}

// sources are what the watcher reloads.
func (s *ServerTLS) sources() []source {
	if s.ca == nil {
		return []source{s.cert}
	}
	return []source{s.cert, s.ca}
}

// update rebuilds the state in force after one source changed.
func (s *ServerTLS) update(change func(*tlsState)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := tlsState{}
	if cur := s.current.Load(); cur != nil {
		next = *cur
	}
	change(&next)
	if _, err := rand.Read(next.ticketKey[:]); err != nil {
		return fmt.Errorf("make a session ticket key: %w", err)
	}
	s.current.Store(&next)
	return nil
}

// MutualTLS reports whether clients must present a certificate.
func (s *ServerTLS) MutualTLS() bool { return s.ca != nil }

// Config returns the tls.Config of a listener that negotiates nextProtos
// by ALPN ("h2" for gRPC; "h2" and "http/1.1" for HTTP). It accepts TLS 1.2
// and later, and with mutual TLS requires and verifies a client
// certificate.
func (s *ServerTLS) Config(nextProtos ...string) *tls.Config {
	protos := append([]string(nil), nextProtos...)
	clientAuth := tls.NoClientCert
	if s.ca != nil {
		clientAuth = tls.RequireAndVerifyClientCert
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: protos,
		ClientAuth: clientAuth,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			st := s.current.Load()
			cfg := &tls.Config{
				MinVersion:   tls.VersionTLS12,
				NextProtos:   protos,
				Certificates: []tls.Certificate{*st.certificate},
				ClientAuth:   clientAuth,
				ClientCAs:    st.clientCAs,
			}
			cfg.SetSessionTicketKeys([][32]byte{st.ticketKey})
			return cfg, nil
		},
	}
}

// certSource is the server certificate and its key, loaded as a pair.
type certSource struct {
	certFile, keyFile string
	server            *ServerTLS
}

func (c *certSource) kind() string    { return kindTLSCertificate }
func (c *certSource) paths() []string { return []string{c.certFile, c.keyFile} }

func (c *certSource) apply(contents [][]byte) error {
	cert, err := tls.X509KeyPair(contents[0], contents[1])
	if err != nil {
		return fmt.Errorf("TLS certificate %s with key %s: %w", c.certFile, c.keyFile, err)
	}
	return c.server.update(func(st *tlsState) { st.certificate = &cert })
}

// caSource is the PEM bundle of CAs that client certificates must chain to.
type caSource struct {
	file   string
	server *ServerTLS
}

func (c *caSource) kind() string    { return kindClientCA }
func (c *caSource) paths() []string { return []string{c.file} }

func (c *caSource) apply(contents [][]byte) error {
	pool, err := parseCAs(contents[0])
	if err != nil {
		return fmt.Errorf("client CA file %s: %w", c.file, err)
	}
	return c.server.update(func(st *tlsState) { st.clientCAs = pool })
}

// parseCAs reads every CERTIFICATE block of a PEM bundle; one that does
// not parse fails the whole bundle, rather than trusting a subset.
func parseCAs(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, errors.New("no PEM CERTIFICATE block in it")
	}
	return pool, nil
}
