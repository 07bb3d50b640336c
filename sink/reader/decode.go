package reader

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fastjson"

	"github.com/spansink/spansink/sink/format"
)

// decoder turns lines into spans. It is not safe for concurrent use: each
// scan worker has its own, so the parsers' memory is reused line after line.
type decoder struct {
	// parser parses a line's metadata, or a line that is not a dbgpt
	// record.
	parser fastjson.Parser
	// stringParser decodes, as fastjson does, a string that encoding/json
	// would refuse (see text).
	stringParser fastjson.Parser
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
//
// A dbgpt line's members are found by the collector's own decoder of
// DB-GPT records (format.ScanDBGPTLine), in the reading of stored lines:
// the structure only, since stored lines have always been read as fastjson
// reads them; the metadata is then parsed by fastjson.
func (d *decoder) decodeLine(line []byte, file string, lineNo int, out []Span) ([]Span, error) {
	otlp := looksLikeOTLP(line)
	if !d.filter.prefilter(line, otlp) {
		return out, errSkipped
	}
	if otlp {
		return d.decodeOTLPLine(line, file, lineNo, out)
	}
	members, meta, ok, metaErr := format.ScanDBGPTLine(line, &d.parser)
	if !ok || members.TraceID == nil {
		// Not a dbgpt record: say what fastjson finds wrong with the line,
		// or read it as otlp-json written with another first key.
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
		if !ok {
			return out, errors.New("corrupt JSON: an object whose members are not all well formed")
		}
	}
	if metaErr != nil {
		return out, fmt.Errorf("corrupt JSON: metadata: %w", metaErr)
	}
	var span Span
	if err := d.decodeDBGPT(&members, meta, &span); err != nil {
		return out, err
	}
	if !d.filter.matchRecord(&span) {
		return out, nil
	}
	if d.filter.Search != "" && !searchRecord(&span, meta, d.filter.Search) {
		return out, nil
	}
	if d.needMetadata && meta != nil {
		span.Metadata = appendJSONValue(nil, meta)
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

// metadataFields are the members of a dbgpt line's metadata the reader
// uses, found in one pass over its keys (cheaper than a lookup per key):
// the service, the status, DB-GPT's error and the exact times of spans
// that came in over OTLP.
type metadataFields struct {
	service, status, errorValue, startNanos, endNanos *fastjson.Value
}

func (f *metadataFields) collect(meta *fastjson.Value) {
	if meta == nil {
		return
	}
	meta.GetObject().Visit(func(key []byte, value *fastjson.Value) {
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

// decodeDBGPT reads the eight members of a "dbgpt" line, whose metadata
// is meta (nil for none). The reader is more lenient than ingest, on
// purpose, since it reads lines ingest never judged: an id may be a number
// (taken as its text), an absent span_type stays empty, the times take more
// layouts (parseSpanTime) and the metadata's nesting is not limited.
func (d *decoder) decodeDBGPT(m *format.DBGPTMembers, meta *fastjson.Value, span *Span) error {
	var err error
	if span.TraceID, err = d.idField(m.TraceID, "trace_id", true); err != nil {
		return err
	}
	if span.SpanID, err = d.idField(m.SpanID, "span_id", true); err != nil {
		return err
	}
	if span.ParentSpanID, err = d.idField(m.ParentSpanID, "parent_span_id", false); err != nil {
		return err
	}
	if span.SpanType, err = d.stringField(m.SpanType, "span_type"); err != nil {
		return err
	}
	if span.Operation, err = d.stringField(m.OperationName, "operation_name"); err != nil {
		return err
	}
	if meta != nil && meta.Type() != fastjson.TypeObject {
		return fmt.Errorf("metadata is %s, want an object or null", meta.Type())
	}
	var f metadataFields
	f.collect(meta)
	// Spans that came in over OTLP keep nanosecond times in their metadata;
	// prefer them to the millisecond strings.
	if span.Start, err = d.timeField(m.StartTime, "start_time", unixNanos(f.startNanos)); err != nil {
		return err
	}
	if span.End, err = d.timeField(m.EndTime, "end_time", unixNanos(f.endNanos)); err != nil {
		return err
	}
	if f.service != nil {
		span.Service = string(f.service.GetStringBytes())
	}
	span.Status = metadataStatus(f.status, f.errorValue)
	return nil
}

// text decodes a JSON string member as the collector does
// (format.JSONString), or, for a string encoding/json refuses (a raw
// control character, an unknown escape), as fastjson does.
func (d *decoder) text(raw []byte) string {
	if s, err := format.JSONString(raw); err == nil {
		return s
	}
	v, err := d.stringParser.ParseBytes(raw)
	if err != nil {
		return ""
	}
	return string(v.GetStringBytes())
}

// isJSONNumber tells a number member by its first byte; the line's
// structure has been checked.
func isJSONNumber(raw []byte) bool {
	return len(raw) > 0 && (raw[0] == '-' || '0' <= raw[0] && raw[0] <= '9')
}

// idField reads an id; DB-GPT writes strings, but a number is taken as its text.
func (d *decoder) idField(raw []byte, key string, required bool) (string, error) {
	switch {
	case format.IsJSONNull(raw):
		if required {
			return "", fmt.Errorf("span record has no %s", key)
		}
		return "", nil
	case raw[0] == '"':
		id := d.text(raw)
		if required && id == "" {
			return "", fmt.Errorf("empty %s", key)
		}
		return id, nil
	case isJSONNumber(raw):
		return string(raw), nil
	}
	return "", fmt.Errorf("%s is %s, want a string", key, format.DescribeJSON(raw))
}

// stringField reads an optional string.
func (d *decoder) stringField(raw []byte, key string) (string, error) {
	if format.IsJSONNull(raw) {
		return "", nil
	}
	if raw[0] != '"' {
		return "", fmt.Errorf("%s is %s, want a string", key, format.DescribeJSON(raw))
	}
	return d.text(raw), nil
}

// timeField reads a span time string, or uses the exact nanoseconds when the
// metadata had them.
func (d *decoder) timeField(raw []byte, key string, nanos int64) (time.Time, error) {
	if format.IsJSONNull(raw) {
		return time.Time{}, nil
	}
	if nanos > 0 {
		return time.Unix(0, nanos).UTC(), nil
	}
	if raw[0] != '"' {
		return time.Time{}, fmt.Errorf("%s is %s, want a string", key, format.DescribeJSON(raw))
	}
	// A time holds no escapes; its bytes are read where they are.
	text := raw[1 : len(raw)-1]
	if bytes.IndexByte(text, '\\') >= 0 {
		text = []byte(d.text(raw))
	}
	t, err := parseSpanTime(text)
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
