package format

import (
	"encoding/base64"
	"math"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// The walk of attribute values on the wire (KeyValue, AnyValue, ArrayValue,
// KeyValueList), shared by the wire paths of both formats: it decides what
// the wire paths take (one oneof per value, nesting, value lengths, count
// limits) and writes each value in the JSON shape of the format.

// keyValue is a decoded KeyValue: the last key sent and its value.
type keyValue struct {
	key      []byte
	value    []byte
	hasValue bool
}

// parseKeyValue reads a KeyValue. A repeated value (pdata merges) or a key
// string index (profiles only) takes the pdata path.
func parseKeyValue(b []byte) (keyValue, bool) {
	// The usual encoding: the key, then the value, each with a one-byte
	// length and nothing else.
	if len(b) >= 4 && b[0] == keyValueKey<<3|byte(protowire.BytesType) && b[1] < 0x80 {
		k := 2 + int(b[1])
		if k+2 <= len(b) && b[k] == keyValueValue<<3|byte(protowire.BytesType) && b[k+1] < 0x80 && k+2+int(b[k+1]) == len(b) {
			return keyValue{key: b[2:k], value: b[k+2:], hasValue: true}, true
		}
	}
	return parseKeyValueFields(b)
}

// parseKeyValueFields is parseKeyValue for any encoding.
func parseKeyValueFields(b []byte) (kv keyValue, ok bool) {
	for rest := b; len(rest) > 0; {
		fnum, ftyp, _, fdata, n := readField(rest)
		if n < 0 {
			return kv, false
		}
		rest = rest[n:]
		known, ok := keyValueTypes.known(fnum, ftyp)
		switch {
		case !ok:
			return kv, false
		case !known:
		case fnum == keyValueKey:
			kv.key = fdata
		case fnum == keyValueValue:
			if kv.hasValue {
				return kv, false
			}
			kv.hasValue, kv.value = true, fdata
		case fnum == keyValueKeyStrindex:
			return kv, false
		}
	}
	return kv, true
}

// appendAttributes appends the KeyValue fields num of msg as one JSON
// object, duplicates and all, as appendMap does. level is the nesting of
// the values (0 for an attribute collection); more than lim.maxCount
// KeyValues, or a value longer than lim.maxValueBytes, decline.
func appendAttributes(b, msg []byte, num protowire.Number, level int, lim wireLimits) ([]byte, bool) {
	b = append(b, '{')
	first, count := true, 0
	for rest := msg; len(rest) > 0; {
		fnum, _, _, fdata, n := readField(rest)
		if n < 0 {
			return b, false
		}
		rest = rest[n:]
		if fnum != num {
			continue
		}
		if count++; count > lim.maxCount {
			return b, false
		}
		kv, ok := parseKeyValue(fdata)
		if !ok {
			return b, false
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		if b, ok = appendKeyValue(b, &kv, level, lim.maxValueBytes); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

// appendKeyValue appends kv as a JSON member; level is the nesting of its
// value and maxLen the longest string or bytes value taken.
func appendKeyValue(b []byte, kv *keyValue, level, maxLen int) ([]byte, bool) {
	b = appendBytesString(b, kv.key)
	b = append(b, ':')
	if !kv.hasValue {
		return append(b, "null"...), true
	}
	return appendAnyValue(b, kv.value, level, maxLen)
}

// stringValue reads an AnyValue for its string form: isStr reports a
// string value (str holds it). ok is false when it does not decode.
func stringValue(b []byte) (str []byte, isStr, ok bool) {
	oneofs := 0
	for rest := b; len(rest) > 0; {
		fnum, ftyp, _, fdata, n := readField(rest)
		if n < 0 {
			return nil, false, false
		}
		rest = rest[n:]
		known, ok := anyValueTypes.known(fnum, ftyp)
		if !ok {
			return nil, false, false
		}
		if known {
			oneofs++
			isStr, str = fnum == anyString, fdata
		}
	}
	if oneofs > 1 {
		return nil, false, false
	}
	return str, isStr, true
}

// appendAnyValue appends an AnyValue as appendValue does. Of a oneof sent
// more than once pdata keeps the last; such values take the pdata path, as
// do values nested in more than maxWireNesting arrays and lists (level
// counts those around this one) and strings and bytes longer than maxLen.
func appendAnyValue(b, value []byte, level, maxLen int) ([]byte, bool) {
	// The usual value: a string with a one-byte length and nothing else.
	if len(value) >= 2 && value[0] == anyString<<3|byte(protowire.BytesType) && value[1] < 0x80 && 2+int(value[1]) == len(value) && int(value[1]) <= maxLen {
		return appendBytesString(b, value[2:]), true
	}
	seen := false
	for rest := value; len(rest) > 0; {
		fnum, ftyp, fval, fdata, n := readField(rest)
		if n < 0 {
			return b, false
		}
		rest = rest[n:]
		known, ok := anyValueTypes.known(fnum, ftyp)
		if !ok {
			return b, false
		}
		if !known {
			continue
		}
		if seen {
			return b, false
		}
		seen = true
		switch fnum {
		case anyString:
			if len(fdata) > maxLen {
				return b, false
			}
			b = appendBytesString(b, fdata)
		case anyBool:
			b = strconv.AppendBool(b, fval != 0)
		case anyInt:
			b = strconv.AppendInt(b, int64(fval), 10)
		case anyDouble:
			b = appendFloat(b, math.Float64frombits(fval))
		case anyArray:
			if level >= maxWireNesting {
				return b, false
			}
			if b, ok = appendArray(b, fdata, level+1, maxLen); !ok {
				return b, false
			}
		case anyKvlist:
			if level >= maxWireNesting {
				return b, false
			}
			if b, ok = appendKvlist(b, fdata, level+1, maxLen); !ok {
				return b, false
			}
		case anyBytes:
			if len(fdata) > maxLen {
				return b, false
			}
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, fdata)
			b = append(b, '"')
		default:
			// anyStringStrindex: profiles only.
			return b, false
		}
	}
	if !seen {
		b = append(b, "null"...)
	}
	return b, true
}

func appendArray(b, array []byte, level, maxLen int) ([]byte, bool) {
	if !checkList(array) {
		return b, false
	}
	b = append(b, '[')
	first, ok := true, true
	for rest := array; len(rest) > 0; {
		fnum, _, _, fdata, n := readField(rest)
		if n < 0 {
			return b, false
		}
		rest = rest[n:]
		if fnum != listValues {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		if b, ok = appendAnyValue(b, fdata, level, maxLen); !ok {
			return b, false
		}
	}
	return append(b, ']'), true
}

// appendKvlist appends a KeyValueList; the count limit is for attribute
// collections, not for the lists inside their values.
func appendKvlist(b, list []byte, level, maxLen int) ([]byte, bool) {
	if !checkList(list) {
		return b, false
	}
	return appendAttributes(b, list, listValues, level, wireLimits{maxCount: math.MaxInt, maxValueBytes: maxLen})
}

// checkList checks the wire types of an ArrayValue or KeyValueList.
func checkList(b []byte) bool {
	for rest := b; len(rest) > 0; {
		fnum, ftyp, _, _, n := readField(rest)
		if n < 0 {
			return false
		}
		rest = rest[n:]
		if _, ok := listTypes.known(fnum, ftyp); !ok {
			return false
		}
	}
	return true
}
