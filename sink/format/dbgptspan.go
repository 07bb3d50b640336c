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
func ParseDBGPTTime(s string) (time.Time, error) { return parseDBGPTTime(s) }

// ParseDBGPTTimeBytes is ParseDBGPTTime of a time still in its line, so
// that a reader need not copy it into a string.
func ParseDBGPTTimeBytes(b []byte) (time.Time, error) { return parseDBGPTTime(b) }

// parseDBGPTTime accepts exactly what time.Parse(DBGPTTimeLayout) accepts.
// The times DB-GPT and the collector write, "YYYY-MM-DD HH:MM:SS" with up
// to nine fraction digits, are read by hand: time.Parse cost a sixth of
// DB-GPT ingest's CPU. Anything else (a one-digit hour, a comma before
// the fraction, ten fraction digits, and every malformed or impossible
// time) is left to time.Parse, so that the two can never disagree.
func parseDBGPTTime[T string | []byte](s T) (time.Time, error) {
	if t, ok := canonicalDBGPTTime(s); ok {
		return t, nil
	}
	t, err := time.Parse(DBGPTTimeLayout, string(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("want \"YYYY-MM-DD HH:MM:SS[.ffffff]\", got %q", s)
	}
	return t, nil
}

// canonicalDBGPTTime reads s when it is a valid time in the canonical
// shape, and reports false for anything else.
func canonicalDBGPTTime[T string | []byte](s T) (time.Time, bool) {
	if len(s) < 19 || len(s) == 20 || len(s) > 29 ||
		s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':' || (len(s) > 19 && s[19] != '.') {
		return time.Time{}, false
	}
	year, ok1 := decimal(s[0:4])
	month, ok2 := decimal(s[5:7])
	day, ok3 := decimal(s[8:10])
	hour, ok4 := decimal(s[11:13])
	minute, ok5 := decimal(s[14:16])
	second, ok6 := decimal(s[17:19])
	nanos, ok7 := 0, true
	if len(s) > 19 {
		frac := s[20:]
		nanos, ok7 = decimal(frac)
		for range 9 - len(frac) {
			nanos *= 10
		}
	}
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !ok7 ||
		month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, second, nanos, time.UTC)
	// time.Date carries 2024-02-30 over to 1 March; time.Parse refuses it.
	return t, t.Day() == day
}

// decimal parses a run of one to nine ASCII digits.
func decimal[T string | []byte](s T) (int, bool) {
	if len(s) == 0 || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := range len(s) {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
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
