package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// What a body that does not decode gets wrong, said so that a caller can
// find it: the member the API does not define, by its path, or the byte
// where the JSON breaks.

// unknownMember finds the first member of body (in key order within an
// object) that md does not define, by its JSON or its proto name, and
// returns its path in proto names ("proposers[1].nickname"). It walks
// the messages below md, not maps or the well-known types, which have
// JSON forms of their own.
func unknownMember(body []byte, md protoreflect.MessageDescriptor) (string, bool) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return "", false
	}
	return unknownBelow(v, md, "")
}

func unknownBelow(v any, md protoreflect.MessageDescriptor, at string) (string, bool) {
	object, ok := v.(map[string]any)
	if !ok || md.ParentFile().Package() == "google.protobuf" {
		return "", false
	}
	join := func(name string) string {
		if at == "" {
			return name
		}
		return at + "." + name
	}
	keys := make([]string, 0, len(object))
	for k := range object {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fd := md.Fields().ByJSONName(k)
		if fd == nil {
			fd = md.Fields().ByName(protoreflect.Name(k))
		}
		switch {
		case fd == nil:
			return join(k), true
		case fd.IsMap() || fd.Message() == nil:
			continue
		case fd.IsList():
			list, _ := object[k].([]any)
			for i, e := range list {
				if path, found := unknownBelow(e, fd.Message(), fmt.Sprintf("%s[%d]", join(string(fd.Name())), i)); found {
					return path, true
				}
			}
		default:
			if path, found := unknownBelow(object[k], fd.Message(), join(string(fd.Name()))); found {
				return path, true
			}
		}
	}
	return "", false
}

// syntaxError says where body stops being JSON, if it does: the byte
// offset (from 1, as encoding/json counts) and what was wrong.
func syntaxError(body []byte) (string, bool) {
	err := json.Unmarshal(body, new(any))
	var syntax *json.SyntaxError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("the body is not JSON at byte %d of %d: %s", syntax.Offset, len(body), strings.TrimPrefix(syntax.Error(), "invalid character ")), true
	case err != nil && strings.Contains(err.Error(), "unexpected end of JSON input"):
		return fmt.Sprintf("the body ends at byte %d in the middle of its JSON value", len(body)), true
	}
	return "", false
}
