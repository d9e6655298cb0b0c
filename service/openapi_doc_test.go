package service

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/banli/banli/gen/openapi"
)

// The OpenAPI document states a few facts that live in this package: the
// file types a case may carry, and the calls that need no sign-in. These
// tests hold the document (proto/banli/v1/openapi.yaml, openapi3.yaml) to
// them.

type openAPIDoc struct {
	Paths map[string]map[string]struct {
		OperationID string                 `json:"operationId"`
		Security    *[]map[string][]string `json:"security"`
		RequestBody *struct {
			Content map[string]json.RawMessage `json:"content"`
		} `json:"requestBody"`
		Responses map[string]struct {
			Content map[string]json.RawMessage `json:"content"`
		} `json:"responses"`
	} `json:"paths"`
}

func readOpenAPIDoc(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(openapi.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestDownloadsDeclareTheFileTypes: a file's download declares every type a
// case may carry (the media* constants of filetypes.go, read from its
// source so that a new one cannot be missed), and its upload takes them.
func TestDownloadsDeclareTheFileTypes(t *testing.T) {
	file, err := parser.ParseFile(token.NewFileSet(), "filetypes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			v := spec.(*ast.ValueSpec)
			for i, name := range v.Names {
				if strings.HasPrefix(name.Name, "media") {
					s, err := strconv.Unquote(v.Values[i].(*ast.BasicLit).Value)
					if err != nil {
						t.Fatal(err)
					}
					types = append(types, s)
				}
			}
		}
	}
	slices.Sort(types)
	if len(types) < 5 {
		t.Fatalf("read only %v from filetypes.go", types)
	}
	doc := readOpenAPIDoc(t)
	download := doc.Paths["/v1/proposals/{proposal}/files/{file}:download"]["get"].Responses["200"].Content
	declared := slices.Sorted(maps.Keys(download))
	if !slices.Equal(declared, types) {
		t.Errorf("the download declares\n%v\nwant the types of filetypes.go\n%v", declared, types)
	}
	upload := doc.Paths["/v1/proposals/{proposal}/files:upload"]["post"].RequestBody
	if upload == nil {
		t.Fatal("the document has no upload")
	}
	taken := slices.DeleteFunc(slices.Sorted(maps.Keys(upload.Content)), func(s string) bool { return s == "application/octet-stream" })
	if !slices.Equal(taken, types) {
		t.Errorf("the upload takes\n%v\nwant the types of filetypes.go (and application/octet-stream)\n%v", taken, types)
	}
}

// TestOpenAPINamesThePublicCalls: the operations the document declares
// with no security requirement are the API's calls in publicMethods, and
// no others.
func TestOpenAPINamesThePublicCalls(t *testing.T) {
	doc := readOpenAPIDoc(t)
	var open []string
	for _, ops := range doc.Paths {
		for _, op := range ops {
			service, method, ok := strings.Cut(op.OperationID, "_")
			if !ok || !strings.HasSuffix(service, "Service") {
				continue // a route with no gRPC method (the probes, the metrics)
			}
			name := "/banli.v1." + service + "/" + method
			if _, known := rules[name]; !known {
				continue // a second route of a method (the Atom feed)
			}
			if op.Security != nil && len(*op.Security) == 0 {
				open = append(open, name)
			}
		}
	}
	slices.Sort(open)
	var want []string
	for m := range publicMethods {
		if strings.HasPrefix(m, "/banli.v1.") {
			want = append(want, m)
		}
	}
	slices.Sort(want)
	if !slices.Equal(open, want) {
		t.Errorf("the document declares no sign-in for\n%v\nwant publicMethods'\n%v", open, want)
	}
}
