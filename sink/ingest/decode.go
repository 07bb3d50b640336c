package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/format"
	"github.com/spansink/spansink/sink/record"
)

// DecodeOTLPProto decodes a binary protobuf ExportTraceServiceRequest.
// Spans whose ids have a wrong length are dropped and counted in malformed
// rather than failing the request.
func DecodeOTLPProto(body []byte) (td ptrace.Traces, malformed int, err error) {
	return decodeOTLP(body, ptraceotlp.ExportRequest.UnmarshalProto, salvageProto, "protobuf")
}

// DecodeOTLPJSON decodes an ExportTraceServiceRequest in the OTLP JSON
// mapping (hex ids, int64 as strings), dropping spans with malformed ids
// like DecodeOTLPProto.
//
// A body nested deeper than any request within config.MaxNestingDepth is
// refused before pdata decodes it: pdata's JSON decoder has no depth limit
// of its own and spends seconds on a body of a million brackets.
func DecodeOTLPJSON(body []byte) (td ptrace.Traces, malformed int, err error) {
	if nestsDeeperThan(body, maxOTLPJSONDepth) {
		return ptrace.Traces{}, 0, fmt.Errorf("decode OTLP JSON ExportTraceServiceRequest: objects and arrays nest more than %d deep, deeper than a request whose attribute values nest at most %d arrays and key-value lists (the limit of every ingest path, config.MaxNestingDepth)", maxOTLPJSONDepth, config.MaxNestingDepth)
	}
	return decodeOTLP(body, ptraceotlp.ExportRequest.UnmarshalJSON, salvageJSON, "JSON")
}

// maxOTLPJSONDepth is how deeply an OTLP JSON request within
// config.MaxNestingDepth can nest objects and arrays: 12 levels down to an
// event attribute's AnyValue, and 4 more per key-value list level (3 per
// array level) below it.
const maxOTLPJSONDepth = 12 + 4*config.MaxNestingDepth

// Both decoders refuse attribute values nested deeper than
// config.MaxNestingDepth (format.CheckNesting), whichever part of the
// request holds them: a deeper value would be stored in a line the span
// reader cannot parse.
func decodeOTLP(body []byte, unmarshal func(ptraceotlp.ExportRequest, []byte) error, salvage func([]byte) ([]byte, int, bool), encoding string) (ptrace.Traces, int, error) {
	td, malformed, err := unmarshalOTLP(body, unmarshal, salvage)
	if err == nil {
		err = format.CheckNesting(td)
	}
	if err != nil {
		return ptrace.Traces{}, 0, fmt.Errorf("decode OTLP %s ExportTraceServiceRequest: %w", encoding, err)
	}
	return td, malformed, nil
}

func unmarshalOTLP(body []byte, unmarshal func(ptraceotlp.ExportRequest, []byte) error, salvage func([]byte) ([]byte, int, bool)) (ptrace.Traces, int, error) {
	req := ptraceotlp.NewExportRequest()
	err := unmarshal(req, body)
	if err == nil {
		return req.Traces(), 0, nil
	}
	if strings.Contains(err.Error(), pdataRecursionError) {
		// pdata's protobuf decoder stops at a recursion depth below what
		// its JSON decoder takes; say which limit that is.
		return ptrace.Traces{}, 0, fmt.Errorf("attribute values nest arrays and key-value lists more than %d deep (the limit of every ingest path, config.MaxNestingDepth): %w", config.MaxNestingDepth, err)
	}
	if fixed, dropped, ok := salvage(body); ok {
		req = ptraceotlp.NewExportRequest()
		if unmarshal(req, fixed) == nil {
			return req.Traces(), dropped, nil
		}
	}
	return ptrace.Traces{}, 0, err
}

// pdataRecursionError is the text of the error pdata's protobuf decoder
// returns for values nested past its recursion limit; the error itself is
// in an internal package. TestOTLPNesting fails if the text changes.
const pdataRecursionError = "exceeded max recursion depth"

// DBGPTBatch is a decoded DB-GPT request: the records that passed validation
// with their positions in the request, and why the others did not.
type DBGPTBatch struct {
	// Spans are the valid records, in request order.
	Spans []format.DBGPTSpan
	// Indexes[i] is the position of Spans[i] in the request.
	Indexes []int
	// Rejections are the first config.MaxReportedRejections records that
	// failed decoding or validation, in request order.
	Rejections []format.Rejection
	// Rejected counts every record that failed, also those beyond
	// Rejections.
	Rejected int
}

// Total is the number of records in the request.
func (b DBGPTBatch) Total() int { return len(b.Spans) + b.Rejected }

// TooManySpansError refuses a request of more spans than the span queue
// can ever hold (ingest's MaxSpansPerRequest).
type TooManySpansError struct {
	// Spans is how many the request holds.
	Spans int
	// Limit is the most one request may hold.
	Limit int
}

func (e *TooManySpansError) Error() string {
	return fmt.Sprintf("%v: %d spans, at most %d are taken in one request (batch.maxQueuedSpans, the size of the span queue); send them in smaller requests", record.ErrTooLarge, e.Spans, e.Limit)
}

// Unwrap makes the error a record.ErrTooLarge.
func (e *TooManySpansError) Unwrap() error { return record.ErrTooLarge }

// maxRejectionMessage bounds one rejection's message in a reply, so that
// MaxReportedRejections of them stay small whatever the records held.
const maxRejectionMessage = 512

// DecodeDBGPT decodes DB-GPT span records sent as a JSON array of objects or
// as JSON lines (one object per non-blank line; a record's index counts
// non-blank lines). A record that is not a valid span object is rejected on
// its own; an error means the body as a whole cannot be read, or holds
// more than maxRecords records (a *TooManySpansError; 0 takes any number).
//
// Keys are matched exactly, unlike encoding/json's case-insensitive
// matching: "TRACE_ID" is an unknown key, ignored like any other. Record
// metadata may nest arrays and objects config.MaxNestingDepth deep inside
// it, as OTLP attribute values may. The attribute count and value length
// limits do not apply to metadata: DB-GPT's records are stored as sent (in
// otlp-json too, as attributes), their size bounded by the request size
// limit, and the dbgpt format keeps metadata byte for byte. Only the first
// config.MaxReportedRejections rejections are kept, with their count, so a
// body of millions of bad records costs no more memory than a good one.
func DecodeDBGPT(body []byte, maxRecords int) (DBGPTBatch, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return DBGPTBatch{}, errors.New("empty body: want JSON lines or a JSON array of DB-GPT span objects")
	}
	each := forEachLine
	if trimmed[0] == '[' {
		if err := format.CheckJSON(trimmed); err != nil {
			return DBGPTBatch{}, fmt.Errorf("decode JSON array of DB-GPT spans: %w", err)
		}
		each = func(b []byte, fn func(int, []byte) bool) {
			index := 0
			forEachElement(b, func(raw []byte) bool {
				ok := fn(index, raw)
				index++
				return ok
			})
		}
	}
	var batch DBGPTBatch
	if maxRecords > 0 {
		// Count before decoding anything: a request the queue cannot take
		// is refused before it costs memory.
		n := 0
		each(trimmed, func(int, []byte) bool { n++; return true })
		if n > maxRecords {
			return DBGPTBatch{}, &TooManySpansError{Spans: n, Limit: maxRecords}
		}
		batch.Spans, batch.Indexes = make([]format.DBGPTSpan, 0, n), make([]int, 0, n)
	}
	each(trimmed, func(index int, raw []byte) bool {
		batch.add(index, raw)
		return true
	})
	return batch, nil
}

// forEachLine calls fn with each non-blank line of b and its index among
// them; the lines are not yet known to be valid JSON.
func forEachLine(b []byte, fn func(index int, raw []byte) bool) {
	index := 0
	for rest := b; len(rest) > 0; {
		line := rest
		if nl := bytes.IndexByte(rest, '\n'); nl >= 0 {
			line, rest = rest[:nl], rest[nl+1:]
		} else {
			rest = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if !fn(index, line) {
			return
		}
		index++
	}
}

// add decodes one record.
func (b *DBGPTBatch) add(index int, raw []byte) {
	span, err := format.DecodeDBGPTRecord(raw)
	if err != nil {
		b.Rejected++
		if len(b.Rejections) < config.MaxReportedRejections {
			b.Rejections = append(b.Rejections, format.Rejection{Index: index, Message: capMessage(err.Error())})
		}
		return
	}
	b.Spans = append(b.Spans, span)
	b.Indexes = append(b.Indexes, index)
}

// capMessage cuts a rejection message to maxRejectionMessage bytes: it may
// quote what the client sent.
func capMessage(msg string) string {
	if len(msg) <= maxRejectionMessage {
		return msg
	}
	return format.TruncateUTF8(msg, maxRejectionMessage) + "..."
}
