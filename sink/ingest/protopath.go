package ingest

import (
	"context"

	"github.com/spansink/spansink/sink/format"
)

// exportOTLPProto stores the spans of a binary protobuf
// ExportTraceServiceRequest, as OTLP/gRPC and OTLP/HTTP protobuf send it.
// An encoder with a wire path (format.ProtoEncoder: both formats) takes the
// well-formed requests straight from their bytes; everything it declines
// (undecodable bodies, invalid spans, values over the attribute or nesting
// limits, odd encodings) is decoded with pdata
// and takes the general path, which decides the answer. The outcome is the
// same either way, only cheaper on the wire path. decodeErr non-nil means
// the body does not decode (400 / InvalidArgument) and nothing was
// counted; err is as exportTraces returns it. releaseBody is as submit
// takes it: body must not be used once it has run.
func (in *ingester) exportOTLPProto(ctx context.Context, pm *protocolMetrics, body []byte, releaseBody func()) (p partial, decodeErr, err error) {
	if wire, ok := in.opts.Encoder.(format.ProtoEncoder); ok {
		limits := in.live.load()
		if records, spans, ok := wire.EncodeOTLPProto(body, limits.attrs); ok {
			pm.received.Add(float64(spans))
			if err := limits.checkSpanCount(spans); err != nil {
				pm.reject(ReasonTooManySpans, spans)
				return partial{}, nil, err
			}
			return partial{}, nil, in.submit(ctx, pm, records, spans, releaseBody)
		}
	}
	td, malformed, decodeErr := DecodeOTLPProto(body)
	if decodeErr != nil {
		return partial{}, decodeErr, nil
	}
	p, err = in.exportTraces(ctx, pm, td, malformed, releaseBody)
	return p, nil, err
}

// exportOTLPJSON is exportOTLPProto for the OTLP JSON mapping, which has
// only the pdata path.
func (in *ingester) exportOTLPJSON(ctx context.Context, pm *protocolMetrics, body []byte, releaseBody func()) (p partial, decodeErr, err error) {
	td, malformed, decodeErr := DecodeOTLPJSON(body)
	if decodeErr != nil {
		return partial{}, decodeErr, nil
	}
	p, err = in.exportTraces(ctx, pm, td, malformed, releaseBody)
	return p, nil, err
}
