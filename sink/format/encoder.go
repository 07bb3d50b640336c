// Package format turns decoded spans into the lines of a span file, in one of
// the two on-disk formats: "dbgpt" (one span per line with DB-GPT's keys) and
// "otlp-json" (one OTLP JSON ExportTraceServiceRequest per line).
//
// Encoders run on the request goroutine, so their output is final: the
// batcher behind record.Submitter only copies the bytes.
package format

import (
	"encoding/json"
	"fmt"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/record"
)

// Encoder encodes decoded spans into records of one on-disk format.
// Implementations are safe for concurrent use.
type Encoder interface {
	// Format names the on-disk format the encoder writes.
	Format() config.Format
	// EncodeTraces encodes every span in td. The caller has already dropped
	// spans it rejects (see ingest.DropInvalidSpans), so every span is encoded.
	EncodeTraces(td ptrace.Traces) ([]record.Record, error)
	// EncodeDBGPT encodes DB-GPT span records that passed Validate. Records
	// the format cannot represent are left out and reported in the returned
	// rejections, by their index in spans; the others are encoded.
	EncodeDBGPT(spans []DBGPTSpan) ([]record.Record, []Rejection, error)
}

// Rejection says why one input record was not stored.
type Rejection struct {
	// Index is the record's position in the request, counting from zero.
	Index int `json:"index"`
	// Message says what was wrong with it.
	Message string `json:"message"`
}

// NewEncoder returns the encoder for format f with the format's default
// options.
func NewEncoder(f config.Format) (Encoder, error) {
	return EncoderFor(config.Storage{Format: f})
}

// EncoderFor returns the encoder for the storage's format and its options
// (storage.dbgpt for the dbgpt format).
func EncoderFor(s config.Storage) (Encoder, error) {
	switch s.Format {
	case config.FormatDBGPT:
		return dbgptEncoder{startEnd: s.DBGPT.StartEnd()}, nil
	case config.FormatOTLPJSON:
		return otlpJSONEncoder{}, nil
	}
	return nil, fmt.Errorf("unknown span file format %q, want %q or %q", s.Format, config.FormatDBGPT, config.FormatOTLPJSON)
}

// DBGPTSpan is one record as DB-GPT's tracer writes it: a start record
// (EndTime nil) or an end record of a span. Values are kept as sent so the
// dbgpt format stores them unchanged.
type DBGPTSpan struct {
	// SpanType is DB-GPT's span type ("base", "run", "chat", ...).
	SpanType string `json:"span_type"`
	// TraceID identifies the trace; DB-GPT uses 32 hex digits.
	TraceID string `json:"trace_id"`
	// SpanID identifies the span; DB-GPT writes "<trace_id>:<16 hex digits>".
	SpanID string `json:"span_id"`
	// ParentSpanID is the parent's span id, nil for a root span.
	ParentSpanID *string `json:"parent_span_id"`
	// OperationName names what the span measured.
	OperationName string `json:"operation_name"`
	// StartTime is "YYYY-MM-DD HH:MM:SS[.ffffff]", nil when unknown.
	StartTime *string `json:"start_time"`
	// EndTime is like StartTime; nil in a start record.
	EndTime *string `json:"end_time"`
	// Metadata is a JSON object, or nil when absent or null.
	Metadata json.RawMessage `json:"metadata"`
}
