package service

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// What arrives is only what the API defines. A request that cannot be
// decoded, or that carries a field the API does not define (an unknown
// number, or a known one with the wrong wire type, which the decoder keeps
// aside as unknown), is refused naming the field, never stored: unknown
// bytes would ride along in the stored case past every text limit and
// break every client that reads it back.
//
// Both listeners' decoders mark a request they could not decode instead of
// failing it (MarkUndecodable), so that it reaches the interceptor like any
// call: the caller is signed in and checked against the access table
// first, and the refusal is audited.

// undecodableField is the unknown field a decoder's mark is kept in; no
// Banli message uses it.
const undecodableField = protowire.MaxValidNumber

// MarkUndecodable empties m and marks it as a request that could not be
// decoded, for the reason given.
func MarkUndecodable(m proto.Message, reason string) {
	proto.Reset(m)
	AddUndecodableMark(m, reason)
}

// AddUndecodableMark marks m as a request that could not be decoded whole,
// keeping what was decoded (a REST call's path, whose resource name the
// access check needs, when its query parameters fail).
func AddUndecodableMark(m proto.Message, reason string) {
	mark := protowire.AppendTag(nil, undecodableField, protowire.BytesType)
	mark = protowire.AppendString(mark, reason)
	m.ProtoReflect().SetUnknown(append(mark, m.ProtoReflect().GetUnknown()...))
}

// markFieldSeparator parts a mark's field from its reason.
const markFieldSeparator = "\x1f"

// AddUndecodableFieldMark is AddUndecodableMark for one field of the
// request (a REST query parameter), which the refusal names.
func AddUndecodableFieldMark(m proto.Message, field, reason string) {
	AddUndecodableMark(m, field+markFieldSeparator+reason)
}

// Malformed returns INVALID_ARGUMENT, naming the field, for a request that
// was marked undecodable or holds fields the API does not define; nil for
// anything else (a request that is not a message included).
func Malformed(req any) error {
	m, ok := req.(proto.Message)
	if !ok || m == nil {
		return nil
	}
	if field, problem, found := strayField(m.ProtoReflect(), ""); found {
		return toStatus(invalidField(field, "%s", problem))
	}
	return nil
}

// strayField finds the first undecodable mark or unknown field in m or the
// messages below it, and names where it is ("(request)" for the top).
func strayField(m protoreflect.Message, path string) (field, problem string, found bool) {
	if unknown := m.GetUnknown(); len(unknown) > 0 {
		where := path
		if where == "" {
			where = "(request)"
		}
		num, typ, n := protowire.ConsumeTag(unknown)
		switch {
		case n < 0:
			return where, "holds bytes that are not protobuf", true
		case num == undecodableField && typ == protowire.BytesType:
			reason, _ := protowire.ConsumeString(unknown[n:])
			if field, why, ok := strings.Cut(reason, markFieldSeparator); ok {
				if path != "" {
					field = path + "." + field // marked on the body, a field of the request
				}
				return field, why, true
			}
			return where, "the request could not be decoded: " + reason, true
		case m.Descriptor().Fields().ByNumber(num) != nil:
			fd := m.Descriptor().Fields().ByNumber(num)
			return where, fmt.Sprintf("field %d (%s) was sent with the wrong wire type (%d)", num, fd.Name(), typ), true
		default:
			return where, fmt.Sprintf("field number %d is not a field of %s", num, m.Descriptor().FullName()), true
		}
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := string(fd.Name())
		if path != "" {
			name = path + "." + name
		}
		switch {
		case fd.IsList() && fd.Message() != nil:
			list := v.List()
			for i := range list.Len() {
				if field, problem, found = strayField(list.Get(i).Message(), name+"["+strconv.Itoa(i)+"]"); found {
					return false
				}
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				field, problem, found = strayField(mv.Message(), name+"["+k.String()+"]")
				return !found
			})
			return !found
		case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
			field, problem, found = strayField(v.Message(), name)
			return !found
		}
		return true
	})
	return field, problem, found
}
