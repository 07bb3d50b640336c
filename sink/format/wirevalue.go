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

// valueShape is the JSON shape a wire path writes attribute values in.
type valueShape uint8

const (
	// dbgptValues writes a collection as a JSON object of plain values,
	// as appendMap and appendValue do: {"k":"v","n":1,"l":[true]}.
	dbgptValues valueShape = iota
	// otlpValues writes OTLP JSON's shape, as pdata's JSON marshaler
	// does: [{"key":"k","value":{"stringValue":"v"}}], with the int64 of
	// intValue as a string and empty fields left out.
	otlpValues
)

// appendAttributes appends the KeyValue fields num of msg as one JSON
// collection of the shape, duplicates and all. level is the nesting of
// the values (0 for an attribute collection); more than lim.maxCount
// KeyValues, or a value longer than lim.maxValueBytes, decline.
func appendAttributes(b, msg []byte, num protowire.Number, level int, lim wireLimits, shape valueShape) ([]byte, bool) {
	open, end := byte('{'), byte('}')
	if shape == otlpValues {
		open, end = '[', ']'
	}
	b = append(b, open)
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
		if b, ok = appendKeyValue(b, &kv, level, lim.maxValueBytes, shape); !ok {
			return b, false
		}
	}
	return append(b, end), true
}

// appendKeyValue appends kv as a member of a collection of the shape;
// level is the nesting of its value and maxLen the longest string or
// bytes value taken.
func appendKeyValue(b []byte, kv *keyValue, level, maxLen int, shape valueShape) ([]byte, bool) {
	if shape == otlpValues {
		b = append(b, '{')
		if len(kv.key) > 0 {
			b = append(b, `"key":`...)
			b = appendBytesString(b, kv.key)
			b = append(b, ',')
		}
		b = append(b, `"value":`...)
		if !kv.hasValue {
			return append(b, "{}}"...), true
		}
		b, ok := appendAnyValue(b, kv.value, level, maxLen, shape)
		return append(b, '}'), ok
	}
	b = appendBytesString(b, kv.key)
	b = append(b, ':')
	if !kv.hasValue {
		return append(b, "null"...), true
	}
	return appendAnyValue(b, kv.value, level, maxLen, shape)
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

// otlpValueNames opens an AnyValue in OTLP JSON, by the field number of
// the oneof it holds.
var otlpValueNames = [...]string{
	anyString: `{"stringValue":`, anyBool: `{"boolValue":`, anyInt: `{"intValue":"`, anyDouble: `{"doubleValue":`,
	anyArray: `{"arrayValue":`, anyKvlist: `{"kvlistValue":`, anyBytes: `{"bytesValue":`,
}

// appendAnyValue appends an AnyValue in the shape. Of a oneof sent more
// than once pdata keeps the last; such values take the pdata path, as do
// values nested in more than maxWireNesting arrays and lists (level counts
// those around this one) and strings and bytes longer than maxLen.
func appendAnyValue(b, value []byte, level, maxLen int, shape valueShape) ([]byte, bool) {
	// The usual value: a string with a one-byte length and nothing else.
	if len(value) >= 2 && value[0] == anyString<<3|byte(protowire.BytesType) && value[1] < 0x80 && 2+int(value[1]) == len(value) && int(value[1]) <= maxLen {
		if shape == otlpValues {
			b = append(b, otlpValueNames[anyString]...)
			return append(appendBytesString(b, value[2:]), '}'), true
		}
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
		if seen || fnum == anyStringStrindex {
			// anyStringStrindex: profiles only.
			return b, false
		}
		seen = true
		if shape == otlpValues {
			b = append(b, otlpValueNames[fnum]...)
		}
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
			if shape == otlpValues {
				// OTLP JSON writes an int64 as a string.
				b = append(b, '"')
			}
		case anyDouble:
			if shape == otlpValues {
				b = appendOTLPFloat(b, math.Float64frombits(fval))
			} else {
				b = appendFloat(b, math.Float64frombits(fval))
			}
		case anyArray:
			if level >= maxWireNesting {
				return b, false
			}
			if b, ok = appendArray(b, fdata, level+1, maxLen, shape); !ok {
				return b, false
			}
		case anyKvlist:
			if level >= maxWireNesting {
				return b, false
			}
			if b, ok = appendKvlist(b, fdata, level+1, maxLen, shape); !ok {
				return b, false
			}
		case anyBytes:
			if len(fdata) > maxLen {
				return b, false
			}
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, fdata)
			b = append(b, '"')
		}
		if shape == otlpValues {
			b = append(b, '}')
		}
	}
	if !seen {
		if shape == otlpValues {
			return append(b, "{}"...), true
		}
		b = append(b, "null"...)
	}
	return b, true
}

// appendArray appends an ArrayValue: a JSON array of its values, in OTLP
// JSON inside {"values":...}, which is left out when there are none.
func appendArray(b, array []byte, level, maxLen int, shape valueShape) ([]byte, bool) {
	if !checkList(array) {
		return b, false
	}
	open := len(b)
	if shape == otlpValues {
		b = append(b, `{"values":`...)
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
		if b, ok = appendAnyValue(b, fdata, level, maxLen, shape); !ok {
			return b, false
		}
	}
	b = append(b, ']')
	if shape == otlpValues {
		return closeValues(b, open), true
	}
	return b, true
}

// appendKvlist appends a KeyValueList, in OTLP JSON inside {"values":...}
// as appendArray does; the count limit is for attribute collections, not
// for the lists inside their values.
func appendKvlist(b, list []byte, level, maxLen int, shape valueShape) ([]byte, bool) {
	if !checkList(list) {
		return b, false
	}
	open := len(b)
	if shape == otlpValues {
		b = append(b, `{"values":`...)
	}
	b, ok := appendAttributes(b, list, listValues, level, wireLimits{maxCount: math.MaxInt, maxValueBytes: maxLen}, shape)
	if shape == otlpValues && ok {
		return closeValues(b, open), true
	}
	return b, ok
}

// closeValues ends the OTLP JSON ArrayValue or KeyValueList that begins at
// b[open:] with `{"values":[...]`, or makes it {} when the list is empty:
// pdata leaves out an empty repeated field.
func closeValues(b []byte, open int) []byte {
	if len(b) == open+len(`{"values":[]`) {
		return append(b[:open], "{}"...)
	}
	return append(b, '}')
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
