package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

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
		if err := validateJSON(trimmed); err != nil {
			return DBGPTBatch{}, fmt.Errorf("decode JSON array of DB-GPT spans: %w", err)
		}
		each = func(b []byte, fn func(int, []byte, bool) bool) {
			index := 0
			forEachElement(b, func(raw []byte) bool {
				ok := fn(index, raw, true)
				index++
				return ok
			})
		}
	}
	if maxRecords > 0 {
		// Count before decoding anything: a request the queue cannot take
		// is refused before it costs memory.
		n := 0
		each(trimmed, func(int, []byte, bool) bool { n++; return true })
		if n > maxRecords {
			return DBGPTBatch{}, &TooManySpansError{Spans: n, Limit: maxRecords}
		}
	}
	var batch DBGPTBatch
	each(trimmed, func(index int, raw []byte, valid bool) bool {
		batch.add(index, raw, valid)
		return true
	})
	return batch, nil
}

// forEachLine calls fn with each non-blank line of b and its index among
// them; the lines are not yet known to be valid JSON.
func forEachLine(b []byte, fn func(index int, raw []byte, valid bool) bool) {
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
		if !fn(index, line, false) {
			return
		}
		index++
	}
}

// add decodes one record; valid says raw is known to be valid JSON.
func (b *DBGPTBatch) add(index int, raw []byte, valid bool) {
	span, err := decodeDBGPTSpan(raw, valid)
	if err == nil {
		err = span.Validate()
	}
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

// wireDBGPTSpan keeps each field raw so that a wrong JSON type gets a
// message naming the field rather than encoding/json's generic one.
type wireDBGPTSpan struct {
	SpanType, TraceID, SpanID, ParentSpanID, OperationName []byte
	StartTime, EndTime, Metadata                           []byte
	// metadataDepth is how deeply Metadata nests, itself included.
	metadataDepth int
}

// set takes one member of the record object; key is as written, quotes
// included. Of a key sent twice the last value counts, as in encoding/json.
func (w *wireDBGPTSpan) set(key, value []byte, depth int) {
	if bytes.IndexByte(key, '\\') >= 0 {
		// An escaped key is compared by what it says.
		var k string
		if json.Unmarshal(key, &k) != nil {
			return
		}
		key = strconv.AppendQuote(nil, k)
	}
	switch string(key) {
	case `"span_type"`:
		w.SpanType = value
	case `"trace_id"`:
		w.TraceID = value
	case `"span_id"`:
		w.SpanID = value
	case `"parent_span_id"`:
		w.ParentSpanID = value
	case `"operation_name"`:
		w.OperationName = value
	case `"start_time"`:
		w.StartTime = value
	case `"end_time"`:
		w.EndTime = value
	case `"metadata"`:
		w.Metadata, w.metadataDepth = value, depth
	}
}

// notObject are the errors of records that are not objects, made once: a
// body of millions of them must not cost an allocation each.
var notObject = func() map[byte]error {
	m := map[byte]error{}
	for _, sample := range []string{`[`, `"`, `t`, `n`, `0`} {
		m[sample[0]] = fmt.Errorf("record must be a JSON object, got %s", describeJSON([]byte(sample)))
	}
	for c := byte('1'); c <= '9'; c++ {
		m[c] = m['0']
	}
	m['-'], m['f'] = m['0'], m['t']
	return m
}()

func decodeDBGPTSpan(raw []byte, valid bool) (format.DBGPTSpan, error) {
	if len(raw) == 0 || raw[0] != '{' {
		if len(raw) > 0 {
			if err, ok := notObject[raw[0]]; ok {
				return format.DBGPTSpan{}, err
			}
		}
		return format.DBGPTSpan{}, fmt.Errorf("record must be a JSON object, got %s", describeJSON(raw))
	}
	if !valid {
		if err := validateJSON(raw); err != nil {
			return format.DBGPTSpan{}, fmt.Errorf("decode record: %w", err)
		}
	}
	var w wireDBGPTSpan
	forEachMember(raw, w.set)
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
		switch {
		case w.Metadata[0] != '{':
			errs = append(errs, fmt.Errorf("metadata must be a JSON object or null, got %s", describeJSON(w.Metadata)))
		case w.metadataDepth-1 > config.MaxNestingDepth:
			// The object itself is one level; its values are what OTLP
			// attributes become in otlp-json, held to the same limit.
			errs = append(errs, fmt.Errorf("metadata values nest arrays and objects %d deep, more than the %d accepted (the limit of every ingest path, config.MaxNestingDepth)", w.metadataDepth-1, config.MaxNestingDepth))
		default:
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
	s, err := jsonString(raw)
	if err != nil {
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
	s, err := jsonString(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &s, nil
}

// jsonString decodes a JSON string; one without escapes and in valid UTF-8
// (nearly every id and name) is taken as it is.
func jsonString(raw []byte) (string, error) {
	if len(raw) >= 2 && raw[len(raw)-1] == '"' {
		inner := raw[1 : len(raw)-1]
		if bytes.IndexByte(inner, '\\') < 0 && bytes.IndexByte(inner, '"') < 0 && utf8.Valid(inner) {
			return string(inner), nil
		}
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
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
