package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/record"
	"github.com/spansink/spansink/sink/spanid"
)

// otlpJSONEncoder writes one OTLP JSON ExportTraceServiceRequest per line,
// as the OpenTelemetry Collector's otlpjsonfile receiver reads it.
type otlpJSONEncoder struct{}

var _ Encoder = otlpJSONEncoder{}

// DBGPTScopeName is the instrumentation scope of spans converted from DB-GPT
// records, so that readers of otlp-json files can tell where they came from.
const DBGPTScopeName = "spansink/dbgpt"

// DBGPTRecordAttribute marks converted start records (DB-GPT's end_time
// null) with the value "start"; such a span has end time = start time.
const DBGPTRecordAttribute = "dbgpt.record"

// DBGPTSpanTypeAttribute holds DB-GPT's span_type on converted spans; the
// dbgpt encoder reads it back.
const DBGPTSpanTypeAttribute = "dbgpt.span_type"

// Format implements Encoder.
func (otlpJSONEncoder) Format() config.Format { return config.FormatOTLPJSON }

// EncodeTraces writes the whole request as one line.
func (otlpJSONEncoder) EncodeTraces(td ptrace.Traces) ([]record.Record, error) {
	n := td.SpanCount()
	if n == 0 {
		return nil, nil
	}
	var m ptrace.JSONMarshaler
	line, err := m.MarshalTraces(td)
	if err != nil {
		return nil, fmt.Errorf("encode otlp-json: %w", err)
	}
	// pdata copies string fields from the wire without checking them; the
	// bytes that break UTF-8 can only sit inside JSON strings, so replacing
	// them keeps the line valid JSON.
	line = validUTF8(line)
	return []record.Record{{Line: line, Spans: n}}, nil
}

// EncodeDBGPT converts the records into OTLP spans of one request and writes
// it as one line. A record converts when its ids are hex: trace_id 32 hex
// digits (dashes of a UUID ignored), span_id and parent_span_id 16 hex
// digits, optionally prefixed by "<trace_id>:" as DB-GPT writes them.
// Start records (end_time null) become spans that end when they start,
// marked with dbgpt.record = "start".
//
// The line is written directly (encodeDBGPTDirect), leaving out the
// records that do not convert, unless a record needs the pdata path, which
// then writes the whole request.
func (otlpJSONEncoder) EncodeDBGPT(spans []DBGPTSpan) ([]record.Record, []Rejection, error) {
	if records, rejections, ok := encodeDBGPTDirect(spans); ok {
		return records, rejections, nil
	}
	return encodeDBGPTThroughPdata(spans)
}

// encodeDBGPTThroughPdata is EncodeDBGPT through convertDBGPT and pdata's
// marshaler, which says why each record it rejects cannot be a span.
func encodeDBGPTThroughPdata(spans []DBGPTSpan) ([]record.Record, []Rejection, error) {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	ss.Scope().SetName(DBGPTScopeName)
	var rejections []Rejection
	for i := range spans {
		if err := convertDBGPT(&spans[i], ss.Spans()); err != nil {
			rejections = append(rejections, Rejection{Index: i, Message: err.Error()})
		}
	}
	records, err := otlpJSONEncoder{}.EncodeTraces(td)
	if err != nil {
		return nil, nil, err
	}
	return records, rejections, nil
}

// convertDBGPT appends s to spans as an OTLP span, or leaves spans as they
// were and says why s cannot be one.
func convertDBGPT(s *DBGPTSpan, spans ptrace.SpanSlice) error {
	var errs []error
	traceID, err := parseTraceID(s.TraceID)
	if err != nil {
		errs = append(errs, fmt.Errorf("trace_id: %w", err))
	}
	spanID, err := parseSpanID(s.SpanID)
	if err != nil {
		errs = append(errs, fmt.Errorf("span_id: %w", err))
	}
	var parentID pcommon.SpanID
	if s.ParentSpanID != nil && *s.ParentSpanID != "" {
		if parentID, err = parseSpanID(*s.ParentSpanID); err != nil {
			errs = append(errs, fmt.Errorf("parent_span_id: %w", err))
		}
	}
	start, end, timeErrs := dbgptSpanTimes(s)
	errs = append(errs, timeErrs...)
	attrs := pcommon.NewMap()
	if err := putMetadata(attrs, s.Metadata); err != nil {
		errs = append(errs, fmt.Errorf("metadata: %w", err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("cannot convert to an OTLP span: %w", errors.Join(errs...))
	}
	if s.EndTime == nil {
		attrs.PutStr(DBGPTRecordAttribute, "start")
	}
	if s.SpanType != "" {
		attrs.PutStr(DBGPTSpanTypeAttribute, s.SpanType)
	}
	span := spans.AppendEmpty()
	if msg, failed := dbgptError(attrs); failed {
		// DB-GPT records a failure as an "error" in the end record's
		// metadata; OTLP readers look at the status.
		span.Status().SetCode(ptrace.StatusCodeError)
		span.Status().SetMessage(msg)
	}
	span.SetTraceID(traceID)
	span.SetSpanID(spanID)
	span.SetParentSpanID(parentID)
	span.SetName(s.OperationName)
	span.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	span.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
	attrs.MoveTo(span.Attributes())
	return nil
}

// dbgptSpanTimes are the start and end of the OTLP span that s becomes: a
// start record (end_time null) ends when it starts, and a record without
// start_time starts when it ends. errs say which time does not parse, or
// that both are missing.
func dbgptSpanTimes(s *DBGPTSpan) (start, end time.Time, errs []error) {
	var err error
	if s.StartTime != nil {
		if start, err = ParseDBGPTTime(*s.StartTime); err != nil {
			errs = append(errs, fmt.Errorf("start_time: %w", err))
		}
	}
	if s.EndTime != nil {
		if end, err = ParseDBGPTTime(*s.EndTime); err != nil {
			errs = append(errs, fmt.Errorf("end_time: %w", err))
		}
	}
	switch {
	case s.StartTime == nil && s.EndTime == nil:
		errs = append(errs, errors.New("an OTLP span needs start_time or end_time, both are null"))
	case s.StartTime == nil:
		start = end
	case s.EndTime == nil:
		end = start
	}
	return start, end, errs
}

// dbgptError reads the "error" that DB-GPT puts into the metadata of a
// failed span's end record: a failure unless it is absent, null, false or
// an empty string. The message is the string, or the value's JSON text.
func dbgptError(attrs pcommon.Map) (string, bool) {
	v, ok := attrs.Get("error")
	if !ok {
		return "", false
	}
	switch v.Type() {
	case pcommon.ValueTypeEmpty:
		return "", false
	case pcommon.ValueTypeBool:
		return "true", v.Bool()
	case pcommon.ValueTypeStr:
		return v.Str(), v.Str() != ""
	}
	return v.AsString(), true
}

func parseTraceID(s string) (pcommon.TraceID, error) {
	var id pcommon.TraceID
	h := strings.ReplaceAll(s, "-", "")
	if err := decodeHexID(id[:], h); err != nil {
		return id, fmt.Errorf("want 32 hex digits, got %q: %w", s, err)
	}
	return id, nil
}

func parseSpanID(s string) (pcommon.SpanID, error) {
	var id pcommon.SpanID
	h := s
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		h = s[i+1:]
	}
	if err := decodeHexID(id[:], h); err != nil {
		return id, fmt.Errorf("want 16 hex digits, optionally after \"<trace_id>:\", got %q: %w", s, err)
	}
	return id, nil
}

// decodeHexID decodes a DB-GPT record's id for an OTLP span, which must be
// present: OTLP forbids an all-zero trace or span id, and ingest drops such
// OTLP spans too.
func decodeHexID(dst []byte, h string) error {
	if err := spanid.DecodeHex(dst, h); err != nil {
		return err
	}
	if !spanid.Present(dst, len(dst)) {
		return errors.New("an all-zero id is invalid in OTLP")
	}
	return nil
}

// putMetadata copies the top-level keys of a DB-GPT metadata object into
// attrs, keeping integers exact.
func putMetadata(attrs pcommon.Map, raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var meta map[string]any
	if err := dec.Decode(&meta); err != nil {
		return err
	}
	// Sorted keys make the line the same whatever order Go's map yields.
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		if err := putRaw(attrs.PutEmpty(k), meta[k]); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

// putRaw sets dst from a value decoded by encoding/json with UseNumber.
func putRaw(dst pcommon.Value, v any) error {
	switch v := v.(type) {
	case nil:
		// Stays empty.
	case string:
		dst.SetStr(v)
	case bool:
		dst.SetBool(v)
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			dst.SetInt(i)
			return nil
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return fmt.Errorf("number %s: %w", v, err)
		}
		dst.SetDouble(f)
	case []any:
		s := dst.SetEmptySlice()
		s.EnsureCapacity(len(v))
		for _, e := range v {
			if err := putRaw(s.AppendEmpty(), e); err != nil {
				return err
			}
		}
	case map[string]any:
		m := dst.SetEmptyMap()
		m.EnsureCapacity(len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if err := putRaw(m.PutEmpty(k), v[k]); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
	default:
		return fmt.Errorf("unexpected JSON value of type %T", v)
	}
	return nil
}
