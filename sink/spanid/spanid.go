// Package spanid decides what a valid OTLP trace or span id is. Every part
// of the sink that checks an id asks here: the wire paths of both formats,
// the salvage of requests pdata refuses, ingest's drop of spans without
// ids, the encoders that write a parent id or null, the conversion of
// DB-GPT records into OTLP spans and the reader of stored lines. The rules
// differ by where an id comes from, and each function says for what it is
// the rule:
//
//   - On the wire (protobuf bytes or OTLP JSON hex), an id is empty or of
//     its exact size; pdata reads an empty one as all zero (WireLength,
//     HexWireLength). Any other length makes the span malformed.
//   - A span is identified only by a trace id and a span id that are
//     present: of their size and not all zero (Present). Ingest drops a
//     span whose trace or span id is not. A parent span id that is not
//     present means a root span, written as null.
//   - Hex text that must become an id (DB-GPT records converted to OTLP,
//     stored lines read back) has exactly two digits per byte (DecodeHex).
//     Whether all zero is taken is the caller's decision, since lines
//     written for links without ids hold zeros.
package spanid

import (
	"encoding/hex"
	"fmt"
)

// The sizes OTLP gives ids, in bytes.
const (
	TraceIDSize = 16
	SpanIDSize  = 8
)

// WireLength reports whether an id as sent in binary protobuf has a length
// pdata takes: empty, which it reads as all zero, or exactly size bytes.
func WireLength(id []byte, size int) bool { return len(id) == 0 || len(id) == size }

// HexWireLength is WireLength for an id as OTLP JSON sends it: empty, or
// 2*size hex digits of either case.
func HexWireLength(id string, size int) bool {
	if id == "" {
		return true
	}
	if len(id) != 2*size {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !isHexDigit(id[i]) {
			return false
		}
	}
	return true
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// Present reports whether id identifies something: it has exactly size
// bytes and is not all zero. OTLP forbids spans whose trace or span id is
// not present, and a parent span id that is not present means none.
func Present(id []byte, size int) bool {
	if len(id) != size {
		return false
	}
	for _, c := range id {
		if c != 0 {
			return true
		}
	}
	return false
}

// DecodeHex decodes h, which must be exactly 2*len(dst) hex digits, into
// dst. It checks the form alone: all zeros decode, and a caller that needs
// the id present asks Present.
func DecodeHex(dst []byte, h string) error {
	if len(h) != 2*len(dst) {
		return fmt.Errorf("%d hex digits instead of %d", len(h), 2*len(dst))
	}
	_, err := hex.Decode(dst, []byte(h))
	return err
}
