package localnode

import (
	"context"
	"fmt"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
)

// defaultTokenExpirationSeconds is a projected token's lifetime when the
// pod names none; the API server defaults the field to the same value, so
// this applies only to a pod built without it (a unit test's).
const defaultTokenExpirationSeconds = 3600

// minTokenExpirationSeconds is the shortest lifetime the API server
// accepts for a projected token (pod validation): ten minutes.
const minTokenExpirationSeconds = 600

// maxTokenAge is the age at which the kubelet asks for a new token however
// long the old one is valid: a day.
const maxTokenAge = 24 * time.Hour

// tokenRefreshFraction is the part of a token's lifetime after which the
// kubelet asks for a new one: with 20% of it left, a pod that re-reads its
// token file (client-go does so every minute) always holds a valid one.
const tokenRefreshFraction = 0.8

// tokenNeedsRefresh is the kubelet's rule for a cached token issued at
// issued for ttl: ask again once it is older than 80% of its lifetime or
// older than a day. The issue time is the API server's answer (expiry less
// the lifetime asked for), not the node's, so that the rule holds when the
// API server extends a token's real validity (a kube-api-access token asked
// for 3607 s is valid for a year) or the clocks differ.
func tokenNeedsRefresh(issued time.Time, ttl time.Duration, now time.Time) bool {
	age := now.Sub(issued)
	return age >= time.Duration(float64(ttl)*tokenRefreshFraction) || age >= maxTokenAge
}

// tokenKey names one token a pod holds: the kubelet asks once per pod,
// account, audience and lifetime, however many volumes or containers use it.
type tokenKey struct {
	pod               types.UID
	serviceAccount    string
	audience          string
	expirationSeconds int64
}

// issuedToken is a token from the TokenRequest API and when it was issued.
type issuedToken struct {
	token  string
	issued time.Time
	ttl    time.Duration
}

// tokenManager obtains service-account tokens bound to pods from the
// TokenRequest API and keeps each until tokenNeedsRefresh says to replace
// it, as the kubelet's token manager does.
type tokenManager struct {
	clock  clock.PassiveClock
	create func(ctx context.Context, namespace, serviceAccount string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error)

	mu     sync.Mutex
	tokens map[tokenKey]issuedToken
}

func newTokenManager(clk clock.PassiveClock, create func(context.Context, string, string, *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error)) *tokenManager {
	return &tokenManager{clock: clk, create: create, tokens: map[tokenKey]issuedToken{}}
}

// token is the pod's current token for the projection, asked for anew when
// none is cached or the cached one is due. A failed request returns the
// error: the caller keeps the files it has, whose token is still valid for
// a fifth of its lifetime.
func (m *tokenManager) token(ctx context.Context, pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection) (string, error) {
	expiration := ptr.Deref(src.ExpirationSeconds, defaultTokenExpirationSeconds)
	if expiration < minTokenExpirationSeconds {
		return "", fmt.Errorf("service-account token %s: expirationSeconds %d is below the minimum of %d: %w", src.Path, expiration, minTokenExpirationSeconds, errPermanent)
	}
	account := pod.Spec.ServiceAccountName
	if account == "" {
		account = "default"
	}
	key := tokenKey{pod: pod.UID, serviceAccount: account, audience: src.Audience, expirationSeconds: expiration}
	m.mu.Lock()
	cached, ok := m.tokens[key]
	m.mu.Unlock()
	if ok && !tokenNeedsRefresh(cached.issued, cached.ttl, m.clock.Now()) {
		return cached.token, nil
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To(expiration),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID},
	}}
	// No audience means the API server's own (its --api-audiences), as
	// the kubelet asks.
	if src.Audience != "" {
		req.Spec.Audiences = []string{src.Audience}
	}
	resp, err := m.create(ctx, pod.Namespace, account, req)
	if err != nil {
		return "", fmt.Errorf("token for service account %s: %w", account, err)
	}
	if resp.Status.Token == "" {
		return "", fmt.Errorf("token for service account %s: the API server returned no token", account)
	}
	ttl := time.Duration(ptr.Deref(resp.Spec.ExpirationSeconds, expiration)) * time.Second
	fresh := issuedToken{token: resp.Status.Token, issued: resp.Status.ExpirationTimestamp.Add(-ttl), ttl: ttl}
	m.mu.Lock()
	m.tokens[key] = fresh
	m.mu.Unlock()
	return fresh.token, nil
}

// forget drops the tokens of a pod that stopped.
func (m *tokenManager) forget(pod types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key := range m.tokens {
		if key.pod == pod {
			delete(m.tokens, key)
		}
	}
}

// tokenRequester asks the API server for a token through client-go.
func (n *Node) tokenRequester(ctx context.Context, namespace, serviceAccount string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	return n.client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, serviceAccount, req, metav1.CreateOptions{})
}
