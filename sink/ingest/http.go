package ingest

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Paths served by the HTTP handler.
const (
	// TracesPath is OTLP/HTTP's traces endpoint.
	TracesPath = "/v1/traces"
	// DBGPTPath takes DB-GPT span records.
	DBGPTPath = "/v1/spans"
)

// NewHTTPHandler serves OTLP/HTTP traces at TracesPath and DB-GPT span
// records at DBGPTPath; any other path is 404.
func NewHTTPHandler(opts Options) http.Handler {
	return &httpHandler{in: newIngester(opts)}
}

type httpHandler struct {
	in *ingester
}

func (h *httpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case TracesPath:
		h.serveOTLP(w, r)
	case DBGPTPath:
		h.serveDBGPT(w, r)
	default:
		writeText(w, http.StatusNotFound, fmt.Sprintf("404 page not found: %s; OTLP traces go to POST %s, DB-GPT spans to POST %s", r.URL.Path, TracesPath, DBGPTPath))
	}
}

// checkMethod answers a method other than POST with 405 and an Allow header.
func checkMethod(w http.ResponseWriter, r *http.Request, pm *protocolMetrics) bool {
	if r.Method == http.MethodPost {
		return true
	}
	w.Header().Set("Allow", http.MethodPost)
	writeText(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s, use POST", r.Method, r.URL.Path))
	pm.request(strconv.Itoa(http.StatusMethodNotAllowed))
	return false
}

// mediaType returns the lowercased media type of the Content-Type header,
// without parameters such as charset.
func mediaType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

// bodyErrorStatus maps a readBody error to its HTTP status.
func bodyErrorStatus(err error) int {
	var tooLarge errBodyTooLarge
	var unsupported errUnsupportedEncoding
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.As(err, &unsupported):
		return http.StatusUnsupportedMediaType
	}
	return http.StatusBadRequest
}

func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}
