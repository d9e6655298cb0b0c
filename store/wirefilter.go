package store

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// Skip names the fields to leave out of a message when decoding it: a nil
// value drops the field, a non-nil one keeps it but filters its own
// fields in turn. It lets a list decode only what it returns: skipping a
// field's bytes costs far less than decoding it.
type Skip map[protowire.Number]Skip

// filter copies the wire-format message b without the skipped fields. It
// returns b itself when a field cannot be parsed, so that decoding reports
// the problem.
func (s Skip) filter(b []byte) []byte {
	if len(s) == 0 {
		return b
	}
	out := make([]byte, 0, len(b))
	rest := b
	for len(rest) > 0 {
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 {
			return b
		}
		m := protowire.ConsumeFieldValue(num, typ, rest[n:])
		if m < 0 {
			return b
		}
		field := rest[:n+m]
		rest = rest[n+m:]
		sub, listed := s[num]
		switch {
		case !listed:
			out = append(out, field...)
		case sub == nil:
			// dropped
		case typ == protowire.BytesType:
			inner, k := protowire.ConsumeBytes(field[n:])
			if k < 0 {
				return b
			}
			out = protowire.AppendTag(out, num, typ)
			out = protowire.AppendBytes(out, sub.filter(inner))
		default:
			out = append(out, field...)
		}
	}
	return out
}
