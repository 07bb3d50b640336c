package reader

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fastjson"
)

// decoder turns lines into spans. It is not safe for concurrent use: each
// scan worker has its own, so the parser's memory is reused line after line.
type decoder struct {
	parser       fastjson.Parser
	searchParser fastjson.Parser
	filter       *Filter
	needMetadata bool
	keepOTLP     bool
}

// errSkipped marks a line the prefilter ruled out without decoding it.
var errSkipped = errors.New("skipped by filter")

// decodeLine appends the spans of one line that pass the record-level filter
// to out. It returns errSkipped when the raw bytes alone showed that nothing
// on the line can match, and a descriptive error for a corrupt line.
func (d *decoder) decodeLine(line []byte, file string, lineNo int, out []Span) ([]Span, error) {
	otlp := looksLikeOTLP(line)
	if !d.filter.prefilter(line, otlp) {
		return out, errSkipped
	}
	if otlp {
		return d.decodeOTLPLine(line, file, lineNo, out)
	}
	v, err := d.parser.ParseBytes(line)
	if err != nil {
		return out, fmt.Errorf("corrupt JSON: %w", err)
	}
	if v.Type() != fastjson.TypeObject {
		return out, fmt.Errorf("not a JSON object but %s", v.Type())
	}
	if v.Get("resourceSpans") != nil && v.Get("trace_id") == nil {
		return d.decodeOTLPLine(line, file, lineNo, out)
	}
	var span Span
	if err := d.decodeDBGPT(v, &span); err != nil {
		return out, err
	}
	if !d.filter.matchRecord(&span) {
		return out, nil
	}
	if d.filter.Search != "" && !searchRecord(&span, v.Get("metadata"), d.filter.Search) {
		return out, nil
	}
	if d.needMetadata {
		if meta := v.Get("metadata"); meta != nil && meta.Type() != fastjson.TypeNull {
			span.Metadata = appendJSONValue(nil, meta)
		}
	}
	span.File, span.Line = file, lineNo
	return append(out, span), nil
}

// looksLikeOTLP tells an otlp-json line by its first key, which is how the
// collector (and any protojson encoder) writes an ExportTraceServiceRequest.
func looksLikeOTLP(line []byte) bool {
	rest := bytes.TrimLeft(line, " \t\r")
	if len(rest) == 0 || rest[0] != '{' {
		return false
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r")
	return bytes.HasPrefix(rest, []byte(`"resourceSpans"`))
}

// dbgptFields are the values of a "dbgpt" record that the reader uses,
// found in one pass over the object's keys (cheaper than a lookup per key).
type dbgptFields struct {
	traceID, spanID, parentSpanID, spanType, operation, start, end, metadata *fastjson.Value
	// From metadata: the service, the status, DB-GPT's error and the exact
	// times of spans that came in over OTLP.
	service, status, errorValue, startNanos, endNanos *fastjson.Value
}

func (f *dbgptFields) collect(v *fastjson.Value) {
	v.GetObject().Visit(func(key []byte, value *fastjson.Value) {
		switch string(key) {
		case "trace_id":
			f.traceID = value
		case "span_id":
			f.spanID = value
		case "parent_span_id":
			f.parentSpanID = value
		case "span_type":
			f.spanType = value
		case "operation_name":
			f.operation = value
		case "start_time":
			f.start = value
		case "end_time":
			f.end = value
		case "metadata":
			f.metadata = value
		}
	})
	if f.metadata == nil || f.metadata.Type() != fastjson.TypeObject {
		return
	}
	f.metadata.GetObject().Visit(func(key []byte, value *fastjson.Value) {
		switch string(key) {
		case "service.name":
			f.service = value
		case "status":
			f.status = value
		case "error":
			f.errorValue = value
		case "start_time_unix_nano":
			f.startNanos = value
		case "end_time_unix_nano":
			f.endNanos = value
		}
	})
}

// decodeDBGPT reads the eight top-level keys of a "dbgpt" line.
func (d *decoder) decodeDBGPT(v *fastjson.Value, span *Span) error {
	var f dbgptFields
	f.collect(v)
	var err error
	if span.TraceID, err = idField(f.traceID, "trace_id", true); err != nil {
		return err
	}
	if span.SpanID, err = idField(f.spanID, "span_id", true); err != nil {
		return err
	}
	if span.ParentSpanID, err = idField(f.parentSpanID, "parent_span_id", false); err != nil {
		return err
	}
	if span.SpanType, err = stringField(f.spanType, "span_type"); err != nil {
		return err
	}
	if span.Operation, err = stringField(f.operation, "operation_name"); err != nil {
		return err
	}
	meta := f.metadata
	if meta != nil && meta.Type() != fastjson.TypeObject && meta.Type() != fastjson.TypeNull {
		return fmt.Errorf("metadata is %s, want an object or null", meta.Type())
	}
	// Spans that came in over OTLP keep nanosecond times in their metadata;
	// prefer them to the millisecond strings.
	if span.Start, err = timeField(f.start, "start_time", unixNanos(f.startNanos)); err != nil {
		return err
	}
	if span.End, err = timeField(f.end, "end_time", unixNanos(f.endNanos)); err != nil {
		return err
	}
	if f.service != nil {
		span.Service = string(f.service.GetStringBytes())
	}
	span.Status = metadataStatus(f.status, f.errorValue)
	return nil
}

// idField reads an id; DB-GPT writes strings, but a number is taken as its text.
func idField(field *fastjson.Value, key string, required bool) (string, error) {
	if field == nil || field.Type() == fastjson.TypeNull {
		if required {
			return "", fmt.Errorf("span record has no %s", key)
		}
		return "", nil
	}
	switch field.Type() {
	case fastjson.TypeString:
		b, _ := field.StringBytes()
		if required && len(b) == 0 {
			return "", fmt.Errorf("empty %s", key)
		}
		return string(b), nil
	case fastjson.TypeNumber:
		return string(field.MarshalTo(nil)), nil
	}
	return "", fmt.Errorf("%s is %s, want a string", key, field.Type())
}

// stringField reads an optional string.
func stringField(field *fastjson.Value, key string) (string, error) {
	if field == nil || field.Type() == fastjson.TypeNull {
		return "", nil
	}
	b, err := field.StringBytes()
	if err != nil {
		return "", fmt.Errorf("%s is %s, want a string", key, field.Type())
	}
	return string(b), nil
}

// timeField reads a span time string, or uses the exact nanoseconds when the
// metadata had them.
func timeField(field *fastjson.Value, key string, nanos int64) (time.Time, error) {
	if field == nil || field.Type() == fastjson.TypeNull {
		return time.Time{}, nil
	}
	if nanos > 0 {
		return time.Unix(0, nanos).UTC(), nil
	}
	b, err := field.StringBytes()
	if err != nil {
		return time.Time{}, fmt.Errorf("%s is %s, want a string", key, field.Type())
	}
	t, err := parseSpanTime(b)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", key, err)
	}
	return t, nil
}

// unixNanos reads an integer metadata field, 0 when absent or not a number.
func unixNanos(field *fastjson.Value) int64 {
	if field == nil || field.Type() != fastjson.TypeNumber {
		return 0
	}
	n, err := field.Int64()
	if err != nil {
		// Larger than int64 or written as a float: read the text.
		f, ferr := strconv.ParseFloat(string(field.MarshalTo(nil)), 64)
		if ferr != nil {
			return 0
		}
		return int64(f)
	}
	return n
}

// metadataStatus reads the outcome: the OTLP status the collector stores, or
// DB-GPT's habit of putting an "error" into the end record's metadata.
func metadataStatus(status, errorValue *fastjson.Value) Status {
	if code := status.GetStringBytes("code"); status != nil && len(code) > 0 {
		switch string(code) {
		case "error", "ERROR", "STATUS_CODE_ERROR":
			return StatusError
		case "ok", "OK", "STATUS_CODE_OK":
			return StatusOK
		}
		return StatusUnset
	}
	if e := errorValue; e != nil {
		switch e.Type() {
		case fastjson.TypeNull, fastjson.TypeFalse:
		case fastjson.TypeString:
			if b, _ := e.StringBytes(); len(b) > 0 {
				return StatusError
			}
		default:
			return StatusError
		}
	}
	return StatusUnset
}
