package ingest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Media types of OTLP/HTTP.
const (
	contentTypeProto = "application/x-protobuf"
	contentTypeJSON  = "application/json"
)

// otlpEncoding is how an OTLP/HTTP request and its response are encoded.
type otlpEncoding struct {
	contentType string
	// export stores the spans of a request body and calls releaseBody
	// once they are encoded (see ingester.submit); decodeErr says it does
	// not decode.
	export     func(in *ingester, ctx context.Context, pm *protocolMetrics, body []byte, releaseBody func()) (p partial, decodeErr, err error)
	marshal    func(ptraceotlp.ExportResponse) ([]byte, error)
	marshalMsg func(proto.Message) ([]byte, error)
}

var (
	otlpProto = otlpEncoding{
		contentType: contentTypeProto,
		export:      (*ingester).exportOTLPProto,
		marshal:     ptraceotlp.ExportResponse.MarshalProto,
		marshalMsg:  proto.Marshal,
	}
	otlpJSON = otlpEncoding{
		contentType: contentTypeJSON,
		export:      (*ingester).exportOTLPJSON,
		marshal:     ptraceotlp.ExportResponse.MarshalJSON,
		marshalMsg:  protojson.Marshal,
	}
)

func (h *httpHandler) serveOTLP(w http.ResponseWriter, r *http.Request) {
	pm := h.in.otlpHTTP
	if !checkMethod(w, r, pm) {
		return
	}
	var enc otlpEncoding
	switch mt := mediaType(r); mt {
	case contentTypeProto:
		enc = otlpProto
	case contentTypeJSON:
		enc = otlpJSON
	default:
		writeText(w, http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported Content-Type %q, supported: %s, %s", mt, contentTypeProto, contentTypeJSON))
		pm.request(strconv.Itoa(http.StatusUnsupportedMediaType))
		return
	}

	body := getBody()
	release := body.releaser()
	defer release()
	if err := h.readBody(r, pm, body); err != nil {
		f := bodyFailure(err)
		h.otlpError(w, enc, pm, f.httpStatus, f.grpcCode, err.Error(), f.retryable)
		return
	}
	p, decodeErr, err := enc.export(h.in, r.Context(), pm, body.Bytes(), release)
	if decodeErr != nil {
		h.in.opts.Logger.V(1).Info("undecodable OTLP/HTTP request", "error", decodeErr)
		h.otlpError(w, enc, pm, http.StatusBadRequest, codes.InvalidArgument, decodeErr.Error(), false)
		return
	}
	if err != nil {
		f := classify(err)
		h.otlpError(w, enc, pm, f.httpStatus, f.grpcCode, err.Error(), f.retryable)
		return
	}
	resp := ptraceotlp.NewExportResponse()
	if p.rejected > 0 {
		resp.PartialSuccess().SetRejectedSpans(int64(p.rejected))
		resp.PartialSuccess().SetErrorMessage(p.message)
	}
	out, err := enc.marshal(resp)
	if err != nil {
		h.in.opts.Logger.Error(err, "marshal OTLP/HTTP response")
		h.otlpError(w, enc, pm, http.StatusInternalServerError, codes.Internal, fmt.Sprintf("marshal response: %v", err), false)
		return
	}
	w.Header().Set("Content-Type", enc.contentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	pm.request(strconv.Itoa(http.StatusOK))
}

// otlpError answers with a google.rpc.Status in the request's encoding, as
// the OTLP/HTTP specification asks; retryable errors also carry Retry-After
// and a RetryInfo detail.
func (h *httpHandler) otlpError(w http.ResponseWriter, enc otlpEncoding, pm *protocolMetrics, httpStatus int, code codes.Code, msg string, retryable bool) {
	st := status.New(code, msg)
	if retryable {
		w.Header().Set("Retry-After", h.in.retryAfterSeconds())
		if withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(h.in.opts.RetryAfter)}); err == nil {
			st = withInfo
		}
	}
	out, err := enc.marshalMsg(st.Proto())
	if err != nil {
		// Status messages always marshal; fall back to text rather than
		// leave the client without the reason.
		writeText(w, httpStatus, msg)
	} else {
		w.Header().Set("Content-Type", enc.contentType)
		w.WriteHeader(httpStatus)
		_, _ = w.Write(out)
	}
	pm.request(strconv.Itoa(httpStatus))
}
