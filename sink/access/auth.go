package access

import (
	"fmt"
	"strings"
	"sync/atomic"
)

// Authenticator accepts the bearer tokens of a token file. The tokens in
// force change atomically when the file does: a request is checked either
// against the old tokens or the new ones, never a mix.
type Authenticator struct {
	file    string
	tokens  atomic.Pointer[tokenSet]
	metrics *Metrics
}

func newAuthenticator(file string, m *Metrics) *Authenticator {
	return &Authenticator{file: file, metrics: m}
}

// kind, paths and apply make the token file a watched source.
func (a *Authenticator) kind() string    { return kindBearerTokens }
func (a *Authenticator) paths() []string { return []string{a.file} }

func (a *Authenticator) apply(contents [][]byte) error {
	set, err := parseTokens(contents[0])
	if err != nil {
		return fmt.Errorf("bearer token file %s: %w", a.file, err)
	}
	a.tokens.Store(set)
	return nil
}

// check returns "" when authorization (the Authorization header or the
// authorization metadata) carries an accepted token, and otherwise the
// reason it does not.
func (a *Authenticator) check(authorization string) string {
	if authorization == "" {
		return reasonMissing
	}
	scheme, token, _ := strings.Cut(authorization, " ")
	token = strings.TrimSpace(token)
	// The scheme is case-insensitive (RFC 9110 section 11.1).
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return reasonNotBearer
	}
	if !a.tokens.Load().match(token) {
		return reasonWrong
	}
	return ""
}

// refused counts a refusal.
func (a *Authenticator) refused(protocol, reason string) {
	a.metrics.unauthenticated.WithLabelValues(protocol, reason).Inc()
}
