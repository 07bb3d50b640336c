package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/spansink/spansink/sink/format"
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
func DecodeOTLPJSON(body []byte) (td ptrace.Traces, malformed int, err error) {
	return decodeOTLP(body, ptraceotlp.ExportRequest.UnmarshalJSON, salvageJSON, "JSON")
}

func decodeOTLP(body []byte, unmarshal func(ptraceotlp.ExportRequest, []byte) error, salvage func([]byte) ([]byte, int, bool), encoding string) (ptrace.Traces, int, error) {
	req := ptraceotlp.NewExportRequest()
	err := unmarshal(req, body)
	if err == nil {
		return req.Traces(), 0, nil
	}
	if fixed, dropped, ok := salvage(body); ok {
		req = ptraceotlp.NewExportRequest()
		if unmarshal(req, fixed) == nil {
			return req.Traces(), dropped, nil
		}
	}
	return ptrace.Traces{}, 0, fmt.Errorf("decode OTLP %s ExportTraceServiceRequest: %w", encoding, err)
}

// DBGPTBatch is a decoded DB-GPT request: the records that passed validation
// with their positions in the request, and why the others did not.
type DBGPTBatch struct {
	// Spans are the valid records, in request order.
	Spans []format.DBGPTSpan
	// Indexes[i] is the position of Spans[i] in the request.
	Indexes []int
	// Rejections are the records that failed decoding or validation.
	Rejections []format.Rejection
}

// Total is the number of records in the request.
func (b DBGPTBatch) Total() int { return len(b.Spans) + len(b.Rejections) }

// DecodeDBGPT decodes DB-GPT span records sent as a JSON array of objects or
// as JSON lines (one object per non-blank line; a record's index counts
// non-blank lines). A record that is not a valid span object is rejected on
// its own; an error means the body as a whole cannot be read.
func DecodeDBGPT(body []byte) (DBGPTBatch, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return DBGPTBatch{}, errors.New("empty body: want JSON lines or a JSON array of DB-GPT span objects")
	}
	var batch DBGPTBatch
	if trimmed[0] == '[' {
		var elems []json.RawMessage
		if err := json.Unmarshal(trimmed, &elems); err != nil {
			return DBGPTBatch{}, fmt.Errorf("decode JSON array of DB-GPT spans: %w", err)
		}
		for i, raw := range elems {
			batch.add(i, raw)
		}
		return batch, nil
	}
	index := 0
	for rest := trimmed; len(rest) > 0; {
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
		batch.add(index, line)
		index++
	}
	return batch, nil
}

func (b *DBGPTBatch) add(index int, raw []byte) {
	span, err := decodeDBGPTSpan(raw)
	if err == nil {
		err = span.Validate()
	}
	if err != nil {
		b.Rejections = append(b.Rejections, format.Rejection{Index: index, Message: err.Error()})
		return
	}
	b.Spans = append(b.Spans, span)
	b.Indexes = append(b.Indexes, index)
}

// wireDBGPTSpan keeps each field raw so that a wrong JSON type gets a
// message naming the field rather than encoding/json's generic one.
type wireDBGPTSpan struct {
	SpanType      json.RawMessage `json:"span_type"`
	TraceID       json.RawMessage `json:"trace_id"`
	SpanID        json.RawMessage `json:"span_id"`
	ParentSpanID  json.RawMessage `json:"parent_span_id"`
	OperationName json.RawMessage `json:"operation_name"`
	StartTime     json.RawMessage `json:"start_time"`
	EndTime       json.RawMessage `json:"end_time"`
	Metadata      json.RawMessage `json:"metadata"`
}

func decodeDBGPTSpan(raw []byte) (format.DBGPTSpan, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return format.DBGPTSpan{}, fmt.Errorf("record must be a JSON object, got %s", describeJSON(raw))
	}
	var w wireDBGPTSpan
	if err := json.Unmarshal(raw, &w); err != nil {
		return format.DBGPTSpan{}, fmt.Errorf("decode record: %w", err)
	}
	var s format.DBGPTSpan
	var errs []error
	var err error
	if s.SpanType, err = requiredString("span_type", w.SpanType, "base"); err != nil {
		errs = append(errs, err)
	}
	if s.TraceID, err = requiredString("trace_id", w.TraceID, ""); err != nil {
		errs = append(errs, err)
	}
	if s.SpanID, err = requiredString("span_id", w.SpanID, ""); err != nil {
		errs = append(errs, err)
	}
	if s.ParentSpanID, err = optionalString("parent_span_id", w.ParentSpanID); err != nil {
		errs = append(errs, err)
	}
	if s.OperationName, err = requiredString("operation_name", w.OperationName, ""); err != nil {
		errs = append(errs, err)
	}
	if s.StartTime, err = optionalString("start_time", w.StartTime); err != nil {
		errs = append(errs, err)
	}
	if s.EndTime, err = optionalString("end_time", w.EndTime); err != nil {
		errs = append(errs, err)
	}
	if !isNull(w.Metadata) {
		if w.Metadata[0] != '{' {
			errs = append(errs, fmt.Errorf("metadata must be a JSON object or null, got %s", describeJSON(w.Metadata)))
		} else {
			s.Metadata = w.Metadata
		}
	}
	return s, errors.Join(errs...)
}

// requiredString reads a string field; absent or null gives def.
func requiredString(name string, raw json.RawMessage, def string) (string, error) {
	if isNull(raw) {
		return def, nil
	}
	if raw[0] != '"' {
		return "", fmt.Errorf("%s must be a string, got %s", name, describeJSON(raw))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// optionalString reads a string-or-null field.
func optionalString(name string, raw json.RawMessage) (*string, error) {
	if isNull(raw) {
		return nil, nil
	}
	if raw[0] != '"' {
		return nil, fmt.Errorf("%s must be a string or null, got %s", name, describeJSON(raw))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &s, nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// describeJSON names the kind of a JSON value for error messages.
func describeJSON(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	if raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9') {
		return "a number"
	}
	const maxShown = 40
	if len(raw) > maxShown {
		return fmt.Sprintf("%q...", raw[:maxShown])
	}
	return fmt.Sprintf("%q", raw)
}
