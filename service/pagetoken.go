package service

import (
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Page tokens (AIP-158) are opaque to clients: base64url of a version byte,
// the position after which the next page starts (an id, or an index key),
// and a hash of the request's other fields, so that a token used with
// different filters is refused instead of giving a wrong page. Ids and
// index keys only grow, so a page boundary stays put while cases are added.
const (
	pageTokenVersion = 1
	maxCursorLen     = 64
)

// pageToken encodes the position after id for the request req.
func pageToken(req proto.Message, lastID uint64) string {
	return cursorToken(req, binary.BigEndian.AppendUint64(nil, lastID))
}

// parsePageToken returns the id after which the page starts (0 for no
// token) or a field violation on page_token.
func parsePageToken(req proto.Message, token string) (uint64, error) {
	cursor, err := parseCursorToken(req, token)
	if err != nil || cursor == nil {
		return 0, err
	}
	if len(cursor) != 8 {
		return 0, badPageToken()
	}
	return binary.BigEndian.Uint64(cursor), nil
}

// cursorToken encodes the position after an index key.
func cursorToken(req proto.Message, cursor []byte) string {
	b := make([]byte, 0, 1+len(cursor)+8)
	b = append(b, pageTokenVersion)
	b = append(b, cursor...)
	b = binary.BigEndian.AppendUint64(b, queryHash(req))
	return base64.RawURLEncoding.EncodeToString(b)
}

// parseCursorToken returns the index key after which the page starts (nil
// for no token) or a field violation on page_token.
func parseCursorToken(req proto.Message, token string) ([]byte, error) {
	if token == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) < 1+1+8 || len(b) > 1+maxCursorLen+8 || b[0] != pageTokenVersion {
		return nil, badPageToken()
	}
	// The decoder skips line breaks; a token is only ever the exact text
	// this service issued.
	if base64.RawURLEncoding.EncodeToString(b) != token {
		return nil, badPageToken()
	}
	if binary.BigEndian.Uint64(b[len(b)-8:]) != queryHash(req) {
		return nil, invalidField("page_token", "was issued for a request with other filters")
	}
	return b[1 : len(b)-8], nil
}

func badPageToken() error {
	return invalidField("page_token", "not a page token returned by this service")
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

// page checks a list request's page_size and page_token, recording any
// violation, and returns the id after which the page starts.
func (v *violations) page(req proto.Message, size int32, token string) uint64 {
	v.pageSize(size)
	after, err := parsePageToken(req, token)
	if ve, ok := err.(*ValidationError); ok {
		v.list = append(v.list, ve.Violations...)
	}
	return after
}

func pageSize(n int32, def int) int {
	if n <= 0 {
		return def
	}
	return int(n)
}
