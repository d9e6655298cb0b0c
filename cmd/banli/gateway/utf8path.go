package gateway

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// invalidUTF8Field finds the first string of a JSON body that is not
// UTF-8 (a client that sent GBK, say) and names its field as the request
// message md names it: "text", "rows[2].proposal.title". The JSON decoder
// only says "invalid UTF-8" and where in the text, which tells a caller
// nothing of the field. It reports false when every string is UTF-8.
func invalidUTF8Field(body []byte, md protoreflect.MessageDescriptor) (string, bool) {
	type frame struct {
		object    bool
		key       string // the member being read, in an object
		index     int    // the element being read, in an array
		expectKey bool
	}
	var stack []*frame
	path := func(extra string) string {
		var parts []string
		for _, f := range stack {
			if f.object {
				parts = append(parts, "."+f.key)
			} else {
				parts = append(parts, "["+strconv.Itoa(f.index)+"]")
			}
		}
		if extra != "" {
			parts = append(parts, "."+extra)
		}
		return protoPath(strings.TrimPrefix(strings.Join(parts, ""), "."), md)
	}
	for i := 0; i < len(body); i++ {
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch c := body[i]; c {
		case '{':
			stack = append(stack, &frame{object: true, expectKey: true})
		case '[':
			stack = append(stack, &frame{})
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if top != nil && top.object {
				top.expectKey = true
			} else if top != nil {
				top.index++
			}
		case '"':
			end := i + 1
			for end < len(body) && body[end] != '"' {
				if body[end] == '\\' {
					end++
				}
				end++
			}
			raw := body[i+1 : min(end, len(body))]
			if top != nil && top.object && top.expectKey {
				top.key, top.expectKey = string(raw), false
				if !utf8.Valid(raw) {
					return path(""), true // a key that is not UTF-8: its object
				}
			} else if !utf8.Valid(raw) {
				return path(""), true
			}
			i = end
		}
	}
	return "", false
}

// protoPath turns a path of JSON member names into the request's field
// names (lowerCamelCase to snake_case, as md declares them); a name md
// does not know stays as it was sent.
func protoPath(jsonPath string, md protoreflect.MessageDescriptor) string {
	var out strings.Builder
	for _, part := range strings.Split(jsonPath, ".") {
		name, index, _ := strings.Cut(part, "[")
		if index != "" {
			index = "[" + index
		}
		if md != nil {
			fd := md.Fields().ByJSONName(name)
			if fd == nil {
				fd = md.Fields().ByName(protoreflect.Name(name))
			}
			md = nil
			if fd != nil {
				name = string(fd.Name())
				if fd.Kind() == protoreflect.MessageKind && !fd.IsMap() {
					md = fd.Message()
				}
			}
		}
		if out.Len() > 0 {
			out.WriteByte('.')
		}
		out.WriteString(name + index)
	}
	return out.String()
}
