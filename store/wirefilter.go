package store

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Skip names the fields to leave out of a stored message: a nil value
// drops the field, a non-nil one keeps it but filters its own fields in
// turn. It lets a list copy only what it returns, without decoding.
type Skip map[protowire.Number]Skip

// AppendFiltered appends the wire-format message b less the skipped fields
// to dst. If a field cannot be parsed it appends b as it is, so that
// decoding reports the problem.
func (s Skip) AppendFiltered(dst, b []byte) []byte {
	if len(s) == 0 {
		return append(dst, b...)
	}
	out, ok := s.appendFields(dst, b)
	if !ok {
		return append(dst, b...)
	}
	return out
}

// appendFields does the work of AppendFiltered, reporting false if b
// cannot be parsed. Runs of kept fields are copied at once.
func (s Skip) appendFields(dst, b []byte) ([]byte, bool) {
	kept := 0 // start of the run of kept fields not yet copied
	for at := 0; at < len(b); {
		num, typ, n := protowire.ConsumeTag(b[at:])
		if n < 0 {
			return nil, false
		}
		m := protowire.ConsumeFieldValue(num, typ, b[at+n:])
		if m < 0 {
			return nil, false
		}
		next := at + n + m
		sub, listed := s[num]
		if !listed || (sub != nil && typ != protowire.BytesType) {
			at = next
			continue
		}
		dst = append(dst, b[kept:at]...)
		kept = next
		if sub != nil {
			inner, k := protowire.ConsumeBytes(b[at+n : next])
			if k < 0 {
				return nil, false
			}
			dst = protowire.AppendTag(dst, num, typ)
			// The filtered message is no longer than the original, so
			// its length fits where the original length did; the content
			// moves back if it needs fewer bytes.
			reserved := protowire.SizeVarint(uint64(len(inner)))
			start := len(dst)
			dst = append(dst, make([]byte, reserved)...)
			var ok bool
			if dst, ok = sub.appendFields(dst, inner); !ok {
				return nil, false
			}
			length := len(dst) - start - reserved
			size := protowire.SizeVarint(uint64(length))
			protowire.AppendVarint(dst[start:start], uint64(length))
			if size < reserved {
				copy(dst[start+size:], dst[start+reserved:])
				dst = dst[:len(dst)-(reserved-size)]
			}
		}
		at = next
	}
	return append(dst, b[kept:]...), true
}

// SkipPaths builds a Skip from field paths of m, spelled as in a field mask
// ("proposers.phone"). Every backend keeps a record as the API message's
// wire form, so a Skip applies to any of them. It panics on a path m does
// not have: the paths are constants of the program.
func SkipPaths(m proto.Message, paths ...string) Skip {
	out := Skip{}
	for _, path := range paths {
		md, node := m.ProtoReflect().Descriptor(), out
		names := strings.Split(path, ".")
		for i, name := range names {
			fd := md.Fields().ByName(protoreflect.Name(name))
			if fd == nil {
				panic(fmt.Sprintf("store.SkipPaths: %s has no field %q", md.FullName(), name))
			}
			num := protowire.Number(fd.Number())
			if i == len(names)-1 {
				node[num] = nil
				break
			}
			if fd.Message() == nil {
				panic(fmt.Sprintf("store.SkipPaths: %s.%s is not a message", md.FullName(), name))
			}
			if node[num] == nil {
				node[num] = Skip{}
			}
			node, md = node[num], fd.Message()
		}
	}
	return out
}

// With is s and o together: a field either drops is dropped.
func (s Skip) With(o Skip) Skip {
	out := Skip{}
	for num, child := range s {
		out[num] = child
	}
	for num, child := range o {
		mine, ok := out[num]
		switch {
		case !ok:
			out[num] = child
		case mine == nil || child == nil:
			out[num] = nil
		default:
			out[num] = mine.With(child)
		}
	}
	return out
}

// Clear drops the fields s names from a decoded message, as AppendFiltered
// leaves them out of its wire form.
func (s Skip) Clear(m protoreflect.Message) {
	fields := m.Descriptor().Fields()
	for num, child := range s {
		fd := fields.ByNumber(protoreflect.FieldNumber(num))
		switch {
		case fd == nil || !m.Has(fd):
		case child == nil:
			m.Clear(fd)
		case fd.IsList():
			list := m.Mutable(fd).List()
			for i := range list.Len() {
				child.Clear(list.Get(i).Message())
			}
		case fd.Message() != nil:
			child.Clear(m.Mutable(fd).Message())
		}
	}
}
