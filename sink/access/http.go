package access

import (
	"net/http"
)

// bearerChallenge is the WWW-Authenticate challenge of RFC 6750.
const bearerChallenge = `Bearer realm="spansink"`

// httpMessages tell an HTTP client what was missing or wrong.
var httpMessages = map[string]string{
	reasonMissing:   `401 unauthorized: this collector requires a bearer token: send the header "Authorization: Bearer <token>"`,
	reasonNotBearer: `401 unauthorized: the Authorization header holds no bearer token: send "Authorization: Bearer <token>"`,
	reasonWrong:     `401 unauthorized: the bearer token is not one this collector accepts`,
}

// HTTPMiddleware serves next only to requests that carry an accepted
// bearer token, and answers the others 401 with a WWW-Authenticate
// challenge before anything reads their body. protocolOf names the
// protocol of a request for the refusal metric.
func (a *Authenticator) HTTPMiddleware(next http.Handler, protocolOf func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reason := a.check(r.Header.Get("Authorization"))
		if reason == "" {
			next.ServeHTTP(w, r)
			return
		}
		a.refused(protocolOf(r), reason)
		challenge := bearerChallenge
		if reason == reasonWrong {
			challenge += `, error="invalid_token"`
		}
		h := w.Header()
		h.Set("WWW-Authenticate", challenge)
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		if r.ContentLength != 0 && r.ProtoMajor == 1 {
			// Otherwise the server reads up to 256 KiB of the unread body
			// to reuse the connection: work for a client that is not
			// allowed any.
			h.Set("Connection", "close")
		}
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(httpMessages[reason] + "\n"))
	})
}
