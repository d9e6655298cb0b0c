package service

import (
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Page tokens (AIP-158) are opaque to clients: base64url of a version byte,
// the last id of the page and a hash of the request's other fields, so a
// token used with different filters is refused instead of giving a wrong
// page. Ids only grow, so a page boundary stays put while cases are added.
const pageTokenVersion = 1

// pageToken encodes the position after id for the request req.
func pageToken(req proto.Message, lastID uint64) string {
	b := make([]byte, 0, 17)
	b = append(b, pageTokenVersion)
	b = binary.BigEndian.AppendUint64(b, lastID)
	b = binary.BigEndian.AppendUint64(b, queryHash(req))
	return base64.RawURLEncoding.EncodeToString(b)
}

// parsePageToken returns the id after which the page starts (0 for no
// token) or a field violation on page_token.
func parsePageToken(req proto.Message, token string) (uint64, error) {
	if token == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != 17 || b[0] != pageTokenVersion {
		return 0, invalidField("page_token", "not a page token returned by this service")
	}
	if binary.BigEndian.Uint64(b[9:]) != queryHash(req) {
		return 0, invalidField("page_token", "was issued for a request with other filters")
	}
	return binary.BigEndian.Uint64(b[1:9]), nil
}

// queryHash hashes every field of a list request but page_token and
// page_size (a client may change the page size between pages).
func queryHash(req proto.Message) uint64 {
	m := proto.Clone(req).ProtoReflect()
	fields := m.Descriptor().Fields()
	for _, name := range []protoreflect.Name{"page_token", "page_size"} {
		if fd := fields.ByName(name); fd != nil {
			m.Clear(fd)
		}
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m.Interface())
	h := fnv.New64a()
	h.Write([]byte(m.Descriptor().FullName()))
	h.Write(b)
	return h.Sum64()
}

func pageSize(n int32, def int) int {
	if n <= 0 {
		return def
	}
	return int(n)
}
