package collector

import (
	"fmt"
	"net/http"
	"net/http/pprof"
	"strconv"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/spansink/spansink/sink/configstatus"
	"github.com/spansink/spansink/sink/record"
)

// defaultDebugLimit is how many records /debug/spans shows without ?limit.
const defaultDebugLimit = 100

// debugDisabled tells a client of /debug/ how to turn the endpoints on.
const debugDisabled = "404 page not found: %s: the debug endpoints (/debug/spans, /debug/pprof/) are off; " +
	"they show span contents and process internals, so they are served only when enabled: " +
	"debug.enabled: true in the collector config, or --debug-endpoints; with a bearer token file they require a token too"

// adminHandler serves what operators and the kubelet look at: metrics,
// liveness, readiness and, when enabled, the most recent spans and Go
// profiles. It listens on its own port, never on the ingest ones. Metrics
// and health stay open (Prometheus and the kubelet send no token); the
// debug endpoints expose span contents, so they are off by default and
// behind the bearer tokens when those are set.
func (c *Collector) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/debug/", c.debugHandler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(c.registry, promhttp.HandlerOpts{Registry: c.registry}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		// Liveness only: a failing volume is a readiness matter, and
		// restarting the pod would not fix it.
		writePlain(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", c.serveReady)
	mux.HandleFunc("GET "+configstatus.Path, c.serveConfigStatus)
	return mux
}

// debugHandler serves /debug/spans and /debug/pprof/ while enabled
// (debug.enabled, which a reload may change), and otherwise answers 404
// saying how to enable them.
func (c *Collector) debugHandler() http.Handler {
	enabled := c.enabledDebugHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.current().Debug.Enabled {
			writePlain(w, http.StatusNotFound, fmt.Sprintf(debugDisabled, r.URL.Path))
			return
		}
		enabled.ServeHTTP(w, r)
	})
}

func (c *Collector) enabledDebugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/spans", c.serveRecent)
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	if auth := c.creds.Authenticator(); auth != nil {
		return auth.HTTPMiddleware(mux, func(*http.Request) string { return protocolAdmin })
	}
	return mux
}

func (c *Collector) serveReady(w http.ResponseWriter, _ *http.Request) {
	err := c.batcher.Ready()
	if err == nil && c.stopping.Load() {
		err = record.ErrStopping
	}
	if err != nil {
		// The message names the cause (stopping, or which storage fails
		// and why) for `kubectl describe` and the operator.
		writePlain(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
		return
	}
	writePlain(w, http.StatusOK, "ok")
}

// serveRecent answers GET /debug/spans?limit=N with a JSON array of the N
// most recent records, oldest first. The ring's byte budget bounds the
// answer.
func (c *Collector) serveRecent(w http.ResponseWriter, r *http.Request) {
	limit := defaultDebugLimit
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > DefaultRecentSpans {
			writePlain(w, http.StatusBadRequest, fmt.Sprintf("limit must be a whole number from 1 to %d, got %q", DefaultRecentSpans, s))
			return
		}
		limit = n
	}
	lines := c.ring.Recent(limit)
	size := 3 + len(lines)
	for _, l := range lines {
		size += len(l)
	}
	body := make([]byte, 0, size)
	body = append(body, '[')
	for i, l := range lines {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, l...)
	}
	body = append(body, ']', '\n')
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(body) //nolint:errcheck // the client went away; nothing to do
}

func writePlain(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}
