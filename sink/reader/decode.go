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
			span.Metadata = meta.MarshalTo(nil)
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

// decodeDBGPT reads the eight top-level keys of a "dbgpt" line.
func (d *decoder) decodeDBGPT(v *fastjson.Value, span *Span) error {
	var err error
	if span.TraceID, err = idField(v, "trace_id", true); err != nil {
		return err
	}
	if span.SpanID, err = idField(v, "span_id", true); err != nil {
		return err
	}
	if span.ParentSpanID, err = idField(v, "parent_span_id", false); err != nil {
		return err
	}
	if span.SpanType, err = stringField(v, "span_type"); err != nil {
		return err
	}
	if span.Operation, err = stringField(v, "operation_name"); err != nil {
		return err
	}
	meta := v.Get("metadata")
	if meta != nil && meta.Type() != fastjson.TypeObject && meta.Type() != fastjson.TypeNull {
		return fmt.Errorf("metadata is %s, want an object or null", meta.Type())
	}
	// Spans that came in over OTLP keep nanosecond times in their metadata;
	// prefer them to the millisecond strings.
	startNanos, endNanos := unixNanos(meta, "start_time_unix_nano"), unixNanos(meta, "end_time_unix_nano")
	if span.Start, err = timeField(v, "start_time", startNanos); err != nil {
		return err
	}
	if span.End, err = timeField(v, "end_time", endNanos); err != nil {
		return err
	}
	if meta != nil && meta.Type() == fastjson.TypeObject {
		span.Service = string(meta.GetStringBytes("service.name"))
		span.Status = metadataStatus(meta)
	} else {
		span.Status = StatusUnset
	}
	return nil
}

// idField reads an id; DB-GPT writes strings, but a number is taken as its text.
func idField(v *fastjson.Value, key string, required bool) (string, error) {
	field := v.Get(key)
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
func stringField(v *fastjson.Value, key string) (string, error) {
	field := v.Get(key)
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
func timeField(v *fastjson.Value, key string, nanos int64) (time.Time, error) {
	field := v.Get(key)
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
func unixNanos(meta *fastjson.Value, key string) int64 {
	if meta == nil {
		return 0
	}
	field := meta.Get(key)
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
func metadataStatus(meta *fastjson.Value) Status {
	if code := meta.GetStringBytes("status", "code"); len(code) > 0 {
		switch string(code) {
		case "error", "ERROR", "STATUS_CODE_ERROR":
			return StatusError
		case "ok", "OK", "STATUS_CODE_OK":
			return StatusOK
		}
		return StatusUnset
	}
	if e := meta.Get("error"); e != nil {
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
