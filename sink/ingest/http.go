package ingest

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
)

// Paths served by the HTTP handler.
const (
	// TracesPath is OTLP/HTTP's traces endpoint.
	TracesPath = "/v1/traces"
	// DBGPTPath takes DB-GPT span records.
	DBGPTPath = "/v1/spans"
)

// NewHTTPHandler serves OTLP/HTTP traces at TracesPath and DB-GPT span
// records at DBGPTPath; any other path is 404. It serves at most
// Options.MaxConcurrentRequests requests at once and holds their bodies
// within Options.Inflight; serve it with an HTTPServer, whose timeouts
// bound how long a request may take to arrive.
func NewHTTPHandler(opts Options) http.Handler {
	in := newIngester(opts)
	return &httpHandler{in: in, budget: in.opts.inflight()}
}

// HTTPServer returns the server for handler with the transport limits of
// opts: the whole request must arrive within RequestTimeout (headers
// within readHeaderTimeout of that), its headers within MaxHeaderBytes,
// and a keep-alive connection with no request closes after IdleTimeout.
func HTTPServer(handler http.Handler, opts Options) *http.Server {
	opts = opts.withTransportDefaults()
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: min(readHeaderTimeout, opts.RequestTimeout),
		ReadTimeout:       opts.RequestTimeout,
		// Counted from the end of the headers, like ReadTimeout: reading
		// may take RequestTimeout, and the answer (in Durable mode after
		// an fsync) as long again.
		WriteTimeout:   2 * opts.RequestTimeout,
		IdleTimeout:    opts.IdleTimeout,
		MaxHeaderBytes: opts.MaxHeaderBytes,
	}
}

// readHeaderTimeout stops clients that open connections and never finish a
// request's headers from holding them for the whole RequestTimeout.
const readHeaderTimeout = 10 * time.Second

type httpHandler struct {
	in     *ingester
	budget *InflightBudget
	// serving counts the requests being served, against the live
	// MaxConcurrentRequests; a counter rather than a channel of slots, so
	// that the limit can change while requests hold them.
	serving atomic.Int64
}

func (h *httpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	limit := h.in.live.load().MaxConcurrentRequests
	if h.serving.Add(1) > int64(limit) {
		h.serving.Add(-1)
		h.refuseBusy(w, r, limit)
		return
	}
	defer h.serving.Add(-1)
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

// refuseBusy answers a request beyond MaxConcurrentRequests with 503 and
// Retry-After, in the form its path answers errors in.
func (h *httpHandler) refuseBusy(w http.ResponseWriter, r *http.Request, limit int) {
	msg := fmt.Sprintf("the collector is serving its limit of %d concurrent requests (limits.maxConcurrentRequests); retry later", limit)
	switch r.URL.Path {
	case TracesPath:
		enc := otlpProto
		if mediaType(r) == contentTypeJSON {
			enc = otlpJSON
		}
		h.in.otlpHTTP.refused(RefusedConcurrentRequests)
		h.otlpError(w, enc, h.in.otlpHTTP, http.StatusServiceUnavailable, codes.Unavailable, msg, true)
	case DBGPTPath:
		h.in.dbgpt.refused(RefusedConcurrentRequests)
		h.dbgptReply(w, h.in.dbgpt, http.StatusServiceUnavailable, DBGPTResponse{Error: msg}, true)
	default:
		h.in.otlpHTTP.refused(RefusedConcurrentRequests)
		w.Header().Set("Retry-After", h.in.retryAfterSeconds())
		writeText(w, http.StatusServiceUnavailable, msg)
	}
}

// readBody reads r's body into body within the request limits and counts
// the refusals of the transport limits.
func (h *httpHandler) readBody(r *http.Request, pm *protocolMetrics, body *requestBody) error {
	err := readBody(r, h.in.opts.MaxRequestBytes, h.budget, body)
	var full errInflightFull
	var timeout errRequestTimeout
	switch {
	case errors.As(err, &full):
		pm.refused(RefusedInflightBytes)
	case errors.As(err, &timeout):
		pm.refused(RefusedRequestTimeout)
		err = errRequestTimeout{timeout: h.in.opts.RequestTimeout}
	}
	return err
}

// bodyFailure maps a readBody error to its answer.
func bodyFailure(err error) failure {
	var tooLarge errBodyTooLarge
	var unsupported errUnsupportedEncoding
	var full errInflightFull
	var timeout errRequestTimeout
	switch {
	case errors.As(err, &tooLarge):
		return failure{httpStatus: http.StatusRequestEntityTooLarge, grpcCode: codes.InvalidArgument}
	case errors.As(err, &unsupported):
		return failure{httpStatus: http.StatusUnsupportedMediaType, grpcCode: codes.InvalidArgument}
	case errors.As(err, &full):
		return failure{httpStatus: http.StatusServiceUnavailable, grpcCode: codes.Unavailable, retryable: true}
	case errors.As(err, &timeout):
		return failure{httpStatus: http.StatusRequestTimeout, grpcCode: codes.DeadlineExceeded}
	}
	return failure{httpStatus: http.StatusBadRequest, grpcCode: codes.InvalidArgument}
}

func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}
