package service

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportBoundaries holds the rooms apart (see ARCHITECTURE.md): no file
// of service imports bbolt, which is store's to know; no file of store
// imports gRPC, which is the service's and the transport's; and nothing
// below service imports the binary's packages.
func TestImportBoundaries(t *testing.T) {
	rules := []struct {
		dir       string
		forbidden []string
	}{
		{".", []string{"go.etcd.io/bbolt", "github.com/banli/banli/cmd/"}},
		{"calendar", []string{"go.etcd.io/bbolt", "google.golang.org/grpc", "github.com/banli/banli/store", "github.com/banli/banli/service", "github.com/banli/banli/cmd/"}},
		{"../store", []string{"google.golang.org/grpc", "github.com/banli/banli/service", "github.com/banli/banli/cmd/"}},
	}
	for _, rule := range rules {
		files, err := filepath.Glob(filepath.Join(rule.dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", rule.dir, err)
		}
		for _, file := range files {
			f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				for _, bad := range rule.forbidden {
					if path == bad || strings.HasPrefix(path, bad) {
						t.Errorf("%s imports %s", file, path)
					}
				}
			}
		}
	}
}
