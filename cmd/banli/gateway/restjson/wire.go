package restjson

import (
	"encoding/base64"
	"math"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// appendWire writes the JSON of the message that wire encodes, straight
// from the bytes: nothing is decoded into Go values, so a page of cases
// costs a walk over its bytes and no allocation beyond the output.
//
// It handles the form Go's protobuf encoder writes: each field's entries
// together (in any order of fields, as known fields come before unknown
// ones), each singular field and each oneof once. Anything else - a field
// twice, a list's elements apart, a wire type the field does not have,
// bytes that do not parse - returns false, and the caller decodes the
// message instead. So whenever it answers, it answers what decoding and
// then encoding would; the tests hold it to that on arbitrary bytes.
func (p *plan) appendWire(b, wire []byte) ([]byte, bool) {
	if p.timestamp {
		return appendWireTimestamp(b, wire)
	}
	b = append(b, '{')
	first := true
	var last *fieldPlan // the field the previous entry belonged to
	var seen uint64     // the fields already written, by index
	var oneofs uint64   // the oneofs already set
	inList := false
	for len(wire) > 0 {
		num, typ, n := protowire.ConsumeTag(wire)
		if n < 0 || num > protowire.MaxValidNumber {
			return nil, false
		}
		wire = wire[n:]
		var f *fieldPlan
		if int(num) < len(p.byNumber) {
			f = p.byNumber[num]
		}
		if f == nil {
			// Unknown to this message: decoding keeps it aside and
			// encoding leaves it out.
			m := protowire.ConsumeFieldValue(num, typ, wire)
			if m < 0 {
				return nil, false
			}
			wire = wire[m:]
			continue
		}
		if f == last && !f.fd.IsList() {
			return nil, false // a singular field again
		}
		if f != last {
			index := f.fd.Index()
			if index >= 64 || seen&(1<<index) != 0 {
				return nil, false // seen before, apart from this entry
			}
			seen |= 1 << index
			if inList {
				b, inList = append(b, ']'), false
			}
			if f.oneof >= 0 {
				if f.oneof >= 64 || oneofs&(1<<f.oneof) != 0 {
					return nil, false // the oneof was set before
				}
				oneofs |= 1 << f.oneof
			}
		}
		var ok bool
		if f.fd.IsList() {
			if f != last {
				key := f.key
				if first {
					key, first = key[1:], false
				}
				b, inList = append(append(b, key...), '['), true
			} else {
				b = append(b, ',')
			}
			if typ == protowire.BytesType && isPackable(f.fd.Kind()) {
				b, wire, ok = f.appendWirePacked(b, wire)
			} else {
				b, wire, ok = f.appendWireValue(b, typ, wire)
			}
		} else {
			b, wire, ok = f.appendWireField(b, typ, wire, &first)
		}
		if !ok {
			return nil, false
		}
		last = f
	}
	if inList {
		b = append(b, ']')
	}
	return append(b, '}'), true
}

// appendWireField writes a singular field, leaving out the zero value of a
// field without presence, as encoding the decoded message would.
func (f *fieldPlan) appendWireField(b []byte, typ protowire.Type, wire []byte, first *bool) ([]byte, []byte, bool) {
	mark := len(b)
	key := f.key
	if *first {
		key = key[1:]
	}
	b = append(b, key...)
	valueAt := len(b)
	b, rest, ok := f.appendWireValue(b, typ, wire)
	if !ok {
		return nil, nil, false
	}
	if !f.fd.HasPresence() && f.isZeroJSON(b[valueAt:]) {
		return b[:mark], rest, true
	}
	*first = false
	return b, rest, true
}

// isZeroJSON says whether a scalar written as v is its kind's zero value.
func (f *fieldPlan) isZeroJSON(v []byte) bool {
	switch f.fd.Kind() {
	case protoreflect.BoolKind:
		return string(v) == "false"
	case protoreflect.StringKind, protoreflect.BytesKind:
		return string(v) == `""`
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return string(v) == `"0"`
	case protoreflect.EnumKind:
		return string(v) == f.zeroEnum
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return false
	}
	// Numbers; -0 is not zero (its bits differ, and decoding keeps it).
	return string(v) == "0"
}

// appendWireValue writes one value of f's kind from wire.
func (f *fieldPlan) appendWireValue(b []byte, typ protowire.Type, wire []byte) ([]byte, []byte, bool) {
	kind := f.fd.Kind()
	switch kind {
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind:
		if typ != protowire.BytesType {
			return nil, nil, false
		}
		v, n := protowire.ConsumeBytes(wire)
		if n < 0 {
			return nil, nil, false
		}
		var ok bool
		switch kind {
		case protoreflect.StringKind:
			if !utf8.Valid(v) {
				return nil, nil, false
			}
			b = appendEscaped(b, v)
		case protoreflect.BytesKind:
			b = append(b, '"')
			b = append(base64.StdEncoding.AppendEncode(b, v), '"')
		default:
			if b, ok = f.message.appendWire(b, v); !ok {
				return nil, nil, false
			}
		}
		return b, wire[n:], true
	}
	if !isPackable(kind) || typ != wireTypeOf(kind) {
		return nil, nil, false
	}
	b, n, ok := f.appendWireScalar(b, wire)
	if !ok {
		return nil, nil, false
	}
	return b, wire[n:], true
}

// appendWirePacked writes the elements of one packed run.
func (f *fieldPlan) appendWirePacked(b, wire []byte) ([]byte, []byte, bool) {
	v, n := protowire.ConsumeBytes(wire)
	if n < 0 || len(v) == 0 {
		return nil, nil, false // an empty run leaves the list empty: let decoding say so
	}
	for i := 0; len(v) > 0; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		var m int
		var ok bool
		if b, m, ok = f.appendWireScalar(b, v); !ok {
			return nil, nil, false
		}
		v = v[m:]
	}
	return b, wire[n:], true
}

// appendWireScalar writes one number, bool or enum and says how many bytes
// it took.
func (f *fieldPlan) appendWireScalar(b, wire []byte) ([]byte, int, bool) {
	kind := f.fd.Kind()
	var x uint64
	var n int
	switch wireTypeOf(kind) {
	case protowire.VarintType:
		x, n = protowire.ConsumeVarint(wire)
	case protowire.Fixed32Type:
		var v uint32
		v, n = protowire.ConsumeFixed32(wire)
		x = uint64(v)
	case protowire.Fixed64Type:
		x, n = protowire.ConsumeFixed64(wire)
	}
	if n < 0 {
		return nil, 0, false
	}
	switch kind {
	case protoreflect.BoolKind:
		b = strconv.AppendBool(b, x != 0)
	case protoreflect.Int32Kind, protoreflect.Sfixed32Kind:
		b = strconv.AppendInt(b, int64(int32(x)), 10)
	case protoreflect.Sint32Kind:
		b = strconv.AppendInt(b, int64(int32(protowire.DecodeZigZag(x&math.MaxUint32))), 10)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		b = strconv.AppendUint(b, uint64(uint32(x)), 10)
	case protoreflect.Int64Kind, protoreflect.Sfixed64Kind:
		b = append(strconv.AppendInt(append(b, '"'), int64(x), 10), '"')
	case protoreflect.Sint64Kind:
		b = append(strconv.AppendInt(append(b, '"'), protowire.DecodeZigZag(x), 10), '"')
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		b = append(strconv.AppendUint(append(b, '"'), x, 10), '"')
	case protoreflect.FloatKind:
		b = appendFloat(b, float64(math.Float32frombits(uint32(x))), 32)
	case protoreflect.DoubleKind:
		b = appendFloat(b, math.Float64frombits(x), 64)
	case protoreflect.EnumKind:
		number := protoreflect.EnumNumber(int32(x))
		if ev := f.fd.Enum().Values().ByNumber(number); ev != nil {
			b = append(append(append(b, '"'), ev.Name()...), '"')
		} else {
			b = strconv.AppendInt(b, int64(number), 10)
		}
	default:
		return nil, 0, false
	}
	return b, n, true
}

// isPackable says whether a repeated field of kind may be packed: the
// numeric kinds, bools and enums.
func isPackable(kind protoreflect.Kind) bool {
	switch kind {
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind, protoreflect.GroupKind:
		return false
	}
	return true
}

func wireTypeOf(kind protoreflect.Kind) protowire.Type {
	switch kind {
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return protowire.Fixed64Type
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind:
		return protowire.BytesType
	}
	return protowire.VarintType
}

// appendWireTimestamp writes a Timestamp from its seconds (1) and nanos (2).
func appendWireTimestamp(b, wire []byte) ([]byte, bool) {
	var secs, nanos int64
	var last protowire.Number
	for len(wire) > 0 {
		num, typ, n := protowire.ConsumeTag(wire)
		if n < 0 || num > protowire.MaxValidNumber {
			return nil, false
		}
		wire = wire[n:]
		if num != 1 && num != 2 {
			m := protowire.ConsumeFieldValue(num, typ, wire)
			if m < 0 {
				return nil, false
			}
			wire = wire[m:]
			continue
		}
		if num <= last || typ != protowire.VarintType {
			return nil, false
		}
		last = num
		x, m := protowire.ConsumeVarint(wire)
		if m < 0 {
			return nil, false
		}
		wire = wire[m:]
		if num == 1 {
			secs = int64(x)
		} else {
			nanos = int64(int32(x))
		}
	}
	out, err := appendTime(b, secs, nanos)
	return out, err == nil
}
