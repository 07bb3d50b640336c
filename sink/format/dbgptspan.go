package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// DBGPTTimeLayout is the layout of DB-GPT's start_time and end_time. Parsing
// also takes a fractional second of one to nine digits after the seconds
// (DB-GPT writes milliseconds or microseconds depending on the version).
const DBGPTTimeLayout = "2006-01-02 15:04:05"

// ParseDBGPTTime parses a DB-GPT timestamp. DB-GPT writes naive local times;
// they are read as UTC because the sender's zone is not known.
func ParseDBGPTTime(s string) (time.Time, error) {
	t, err := time.Parse(DBGPTTimeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want \"YYYY-MM-DD HH:MM:SS[.ffffff]\", got %q", s)
	}
	return t, nil
}

// Validate checks what both formats rely on: non-empty ids, timestamps in
// DB-GPT's layout and metadata that is a JSON object or absent.
func (s DBGPTSpan) Validate() error {
	var errs []error
	if s.TraceID == "" {
		errs = append(errs, errors.New("trace_id must be a non-empty string"))
	}
	if s.SpanID == "" {
		errs = append(errs, errors.New("span_id must be a non-empty string"))
	}
	if s.StartTime != nil {
		if _, err := ParseDBGPTTime(*s.StartTime); err != nil {
			errs = append(errs, fmt.Errorf("start_time: %w", err))
		}
	}
	if s.EndTime != nil {
		if _, err := ParseDBGPTTime(*s.EndTime); err != nil {
			errs = append(errs, fmt.Errorf("end_time: %w", err))
		}
	}
	if m := bytes.TrimSpace(s.Metadata); len(m) > 0 && !bytes.Equal(m, []byte("null")) && m[0] != '{' {
		errs = append(errs, errors.New("metadata must be a JSON object or null"))
	}
	return errors.Join(errs...)
}

// AppendDBGPTSpan appends s as one dbgpt line (without the newline) with its
// values as sent: the eight keys in the format's order, strings as valid
// UTF-8, metadata compacted onto the line. It fails only when the metadata
// is not valid JSON. The span reader writes its JSON output with it, so that
// output reads back like the collector's own files.
func AppendDBGPTSpan(b []byte, s *DBGPTSpan) ([]byte, error) {
	l := beginLine(b, s.SpanType).
		traceIDText(s.TraceID).
		spanIDText(s.SpanID).
		parentSpanIDText(s.ParentSpanID).
		operationName(s.OperationName).
		startTimeText(s.StartTime).
		endTimeText(s.EndTime).
		metadataKey()
	l, err := l.rawMetadata(s.Metadata)
	if err != nil {
		return l, err
	}
	return l.endLine(), nil
}

func appendOptString(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendString(b, *s)
}

// appendRawObject appends a JSON object received from a client as one line
// of valid UTF-8: whitespace is compacted away (a line must not contain a
// newline) and invalid bytes inside strings are repaired.
func appendRawObject(b []byte, raw json.RawMessage) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return append(b, "null"...), nil
	}
	if !utf8.Valid(raw) {
		// Only string contents can hold bytes >= 0x80, so repairing the bytes
		// keeps the structure; re-encoding through encoding/json gives the
		// same U+FFFD per invalid byte as appendString.
		fixed, err := repairUTF8(raw)
		if err != nil {
			return b, fmt.Errorf("metadata: %w", err)
		}
		raw = fixed
	}
	if bytes.IndexAny(raw, "\r\n") < 0 {
		return append(b, raw...), nil
	}
	// A newline can only be whitespace between tokens (JSON strings hold
	// none raw), so compacting loses nothing the client said.
	var out bytes.Buffer
	if err := json.Compact(&out, raw); err != nil {
		return b, fmt.Errorf("metadata: %w", err)
	}
	return append(b, out.Bytes()...), nil
}

// repairUTF8 re-encodes a JSON value so that its strings are valid UTF-8,
// keeping numbers exactly as written.
func repairUTF8(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(out.Bytes(), "\n"), nil
}
