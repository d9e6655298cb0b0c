// Command importgraph prints how Banli's packages depend on one another and
// checks the rules that keep the rooms apart (ARCHITECTURE.md):
//
//   - only store/boltstore imports bbolt;
//   - service never depends on a backend, nor on the binary's packages;
//   - store (the seam) imports no gRPC package and neither the service nor
//     a backend;
//   - the tools (cmd/banli/cli, load, datatool, dial) reach the server
//     through its API only: they depend on neither the service nor store.
//
// It reads `go list` of the module's packages (tests left out: a test may
// open a data file to damage it). `go run ./scripts/importgraph` prints the
// picture; its test fails on a broken rule.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
)

const module = "github.com/banli/banli"

// A pkg is what `go list -json` says of one package.
type pkg struct {
	ImportPath string
	Imports    []string // direct
	Deps       []string // every package it needs, directly or not
}

// A rule forbids packages matching who from importing (directly, or at
// all when deep) what matches any of forbidden.
type rule struct {
	who       func(path string) bool
	deep      bool
	forbidden []string
	why       string
}

func under(prefixes ...string) func(string) bool {
	return func(path string) bool {
		for _, p := range prefixes {
			if path == module+"/"+p || strings.HasPrefix(path, module+"/"+p+"/") {
				return true
			}
		}
		return false
	}
}

var rules = []rule{
	{
		who:       func(path string) bool { return !under("store/boltstore")(path) },
		forbidden: []string{"go.etcd.io/bbolt"},
		why:       "only store/boltstore knows bbolt",
	},
	{
		who: under("service"), deep: true,
		forbidden: []string{"go.etcd.io/bbolt", module + "/store/boltstore", module + "/cmd/"},
		why:       "the domain depends on the storage seam, never on a backend or the binary",
	},
	{
		who:       func(path string) bool { return path == module+"/store" },
		forbidden: []string{"google.golang.org/grpc", module + "/service", module + "/store/", module + "/cmd/"},
		why:       "the seam holds interfaces and domain types, no transport and no backend",
	},
	{
		who: under("cmd/banli/cli", "cmd/banli/load", "cmd/banli/datatool", "cmd/banli/dial"), deep: true,
		forbidden: []string{module + "/service", module + "/store"},
		why:       "the tools reach the server through its API only",
	},
}

// matches reports whether an import path is, or lies below, pattern (a
// pattern ending in "/" matches only below it).
func matches(path, pattern string) bool {
	if strings.HasSuffix(pattern, "/") {
		return strings.HasPrefix(path, pattern)
	}
	return path == pattern || strings.HasPrefix(path, pattern+"/")
}

// load lists the module's packages.
func load(dir string) ([]pkg, error) {
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = dir
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go list: %v: %s", err, stderr.String())
	}
	var pkgs []pkg
	for dec := json.NewDecoder(&out); ; {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

// check returns every broken rule, as "package imports X: why".
func check(pkgs []pkg) []string {
	var broken []string
	for _, p := range pkgs {
		for _, r := range rules {
			if !r.who(p.ImportPath) {
				continue
			}
			imports := p.Imports
			if r.deep {
				imports = p.Deps
			}
			for _, imp := range imports {
				for _, bad := range r.forbidden {
					if matches(imp, bad) && imp != p.ImportPath {
						broken = append(broken, fmt.Sprintf("%s imports %s: %s", p.ImportPath, imp, r.why))
					}
				}
			}
		}
	}
	return broken
}

// picture prints each package of the module with the module's packages it
// imports directly, and whether it reaches bbolt at all.
func picture(w io.Writer, pkgs []pkg) {
	for _, p := range pkgs {
		var own []string
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module+"/") && !strings.HasPrefix(imp, module+"/gen/") {
				own = append(own, strings.TrimPrefix(imp, module+"/"))
			}
		}
		bbolt := ""
		if slices.Contains(p.Deps, "go.etcd.io/bbolt") {
			bbolt = "  (reaches bbolt)"
		}
		fmt.Fprintf(w, "%-28s -> %s%s\n", strings.TrimPrefix(p.ImportPath, module+"/"), strings.Join(own, ", "), bbolt)
	}
}

func main() {
	pkgs, err := load(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, "importgraph:", err)
		os.Exit(1)
	}
	picture(os.Stdout, pkgs)
	if broken := check(pkgs); len(broken) > 0 {
		for _, b := range broken {
			fmt.Fprintln(os.Stderr, "importgraph:", b)
		}
		os.Exit(1)
	}
	fmt.Println("importgraph: every rule holds")
}
