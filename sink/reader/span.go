// Package reader reads spans back from the collector's span files: the
// active file, its rotated and compressed siblings, in both on-disk formats
// ("dbgpt" and "otlp-json"), streaming, so memory stays flat however large
// the files are. The `spansink spans` commands are built on it.
package reader

import (
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spansink/spansink/sink/format"
)

// Status is a span's outcome as the reader reports it.
type Status string

const (
	// StatusUnset is a span that reported no outcome.
	StatusUnset Status = "unset"
	// StatusOK is a span explicitly marked successful.
	StatusOK Status = "ok"
	// StatusError is a span that failed: an OTLP error status, or a DB-GPT
	// record whose metadata carries an "error".
	StatusError Status = "error"
)

// Span is one span as read from disk. A DB-GPT span written as a start record
// and an end record is one Span once the two are paired (see Pairer).
type Span struct {
	// SpanType is DB-GPT's span type ("base", "run", "chat", ...).
	SpanType string
	// TraceID and SpanID identify the span; lowercase hex for OTLP spans.
	TraceID string
	SpanID  string
	// ParentSpanID is empty for a root span.
	ParentSpanID string
	// Operation is the span's operation name.
	Operation string
	// Start and End are zero when the record carries no such time (a DB-GPT
	// start record has no end yet).
	Start time.Time
	End   time.Time
	// Service is the resource's service.name, empty when unknown.
	Service string
	// Status is the span's outcome.
	Status Status
	// Metadata is the span's metadata as a JSON object, or nil. It is only
	// filled when the scan asks for it, since copying it costs more than
	// everything else together.
	Metadata []byte
	// OTLP is the span as pdata decoded it from an otlp-json line, when
	// the scan keeps it (Scanner.KeepOTLP); Metadata is nil then.
	OTLP *OTLPSpan
	// File and Line say where the span's (last) record was read.
	File string
	Line int
}

// OTLPSpan is a span of an otlp-json line with the resource and scope it is
// under. The three share the line's decoded request, which is only read
// after decoding, so spans of one line may be handled on any goroutine.
type OTLPSpan struct {
	Resource ptrace.ResourceSpans
	Scope    ptrace.ScopeSpans
	Span     ptrace.Span
}

// Duration is End-Start, and false when either end is unknown.
func (s *Span) Duration() (time.Duration, bool) {
	if s.Start.IsZero() || s.End.IsZero() {
		return 0, false
	}
	return s.End.Sub(s.Start), true
}

// isStartRecord tells a DB-GPT start record: it has begun but not ended, and
// its end record is expected later in the stream.
func (s *Span) isStartRecord() bool {
	return s.End.IsZero() && !s.Start.IsZero()
}

// TimeLayout is how DB-GPT and the collector write span times: UTC with
// milliseconds.
const TimeLayout = format.TimeLayout
