package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/format"
)

// dbgptMediaTypes are the Content-Types DB-GPT records are taken with; an
// absent Content-Type is taken too, as hand-made clients often omit it.
var dbgptMediaTypes = []string{"", "application/json", "application/x-ndjson", "application/jsonl", "application/x-jsonlines", "text/plain"}

// DBGPTResponse is the body of every /v1/spans response.
type DBGPTResponse struct {
	// Accepted counts the records stored.
	Accepted int `json:"accepted"`
	// Rejected counts the records not stored because they were invalid.
	Rejected int `json:"rejected"`
	// Errors says why rejected records were refused: the first
	// config.MaxReportedRejections of them, in request order.
	Errors []format.Rejection `json:"errors"`
	// ErrorsOmitted counts the rejected records beyond Errors, which the
	// reply leaves out to stay small.
	ErrorsOmitted int `json:"errors_omitted,omitempty"`
	// Error says why the request as a whole failed, when it did.
	Error string `json:"error,omitempty"`
}

func (h *httpHandler) serveDBGPT(w http.ResponseWriter, r *http.Request) {
	pm := h.in.dbgpt
	if !checkMethod(w, r, pm) {
		return
	}
	if mt := mediaType(r); !slices.Contains(dbgptMediaTypes, mt) {
		h.dbgptReply(w, pm, http.StatusUnsupportedMediaType, DBGPTResponse{
			Error: fmt.Sprintf("unsupported Content-Type %q, send JSON lines or a JSON array as application/json or application/x-ndjson", mt),
		}, false)
		return
	}
	body := getBody()
	release := body.releaser()
	defer release()
	if err := h.readBody(r, pm, body); err != nil {
		f := bodyFailure(err)
		h.dbgptReply(w, pm, f.httpStatus, DBGPTResponse{Error: err.Error()}, f.retryable)
		return
	}
	batch, err := DecodeDBGPT(body.Bytes(), h.in.live.load().MaxSpansPerRequest)
	var tooMany *TooManySpansError
	if errors.As(err, &tooMany) {
		pm.received.Add(float64(tooMany.Spans))
		pm.reject(ReasonTooManySpans, tooMany.Spans)
		h.dbgptReply(w, pm, http.StatusRequestEntityTooLarge, DBGPTResponse{Error: err.Error()}, false)
		return
	}
	if err != nil {
		h.in.opts.Logger.V(1).Info("undecodable DB-GPT request", "error", err)
		h.dbgptReply(w, pm, http.StatusBadRequest, DBGPTResponse{Error: err.Error()}, false)
		return
	}
	pm.received.Add(float64(batch.Total()))
	pm.reject(ReasonInvalidRecord, batch.Rejected)
	rejections := batch.Rejections

	records, unconvertible, err := h.in.opts.Encoder.EncodeDBGPT(batch.Spans)
	if err != nil {
		pm.reject(ReasonInternal, len(batch.Spans))
		h.in.opts.Logger.Error(err, "encode DB-GPT records")
		h.dbgptReply(w, pm, http.StatusInternalServerError, DBGPTResponse{Error: fmt.Sprintf("encode records: %v", err)}, false)
		return
	}
	pm.reject(ReasonUnconvertible, len(unconvertible))
	for _, rej := range unconvertible {
		rejections = append(rejections, format.Rejection{Index: batch.Indexes[rej.Index], Message: capMessage(rej.Message)})
	}
	// The decoder kept its first rejections; with the unconvertible ones
	// merged in, the first of all are the first of these.
	slices.SortFunc(rejections, func(a, b format.Rejection) int { return a.Index - b.Index })
	rejected := batch.Rejected + len(unconvertible)
	if len(rejections) > config.MaxReportedRejections {
		rejections = rejections[:config.MaxReportedRejections]
	}

	stored := len(batch.Spans) - len(unconvertible)
	resp := DBGPTResponse{Accepted: stored, Rejected: rejected, Errors: rejections, ErrorsOmitted: rejected - len(rejections)}
	if resp.Errors == nil {
		resp.Errors = []format.Rejection{}
	}
	if stored == 0 && rejected > 0 {
		resp.Error = fmt.Sprintf("none of the %d records is a valid DB-GPT span", rejected)
		h.dbgptReply(w, pm, http.StatusBadRequest, resp, false)
		return
	}
	if err := h.in.submit(r.Context(), pm, records, stored, release); err != nil {
		f := classify(err)
		resp.Accepted = 0
		resp.Error = err.Error()
		h.dbgptReply(w, pm, f.httpStatus, resp, f.retryable)
		return
	}
	h.dbgptReply(w, pm, http.StatusOK, resp, false)
}

func (h *httpHandler) dbgptReply(w http.ResponseWriter, pm *protocolMetrics, httpStatus int, resp DBGPTResponse, retryable bool) {
	if resp.Errors == nil {
		resp.Errors = []format.Rejection{}
	}
	out, err := json.Marshal(resp)
	if err != nil {
		h.in.opts.Logger.Error(err, "marshal DB-GPT response")
		writeText(w, http.StatusInternalServerError, fmt.Sprintf("marshal response: %v", err))
		pm.request(strconv.Itoa(http.StatusInternalServerError))
		return
	}
	if retryable {
		w.Header().Set("Retry-After", h.in.retryAfterSeconds())
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	_, _ = w.Write(append(out, '\n'))
	pm.request(strconv.Itoa(httpStatus))
}
