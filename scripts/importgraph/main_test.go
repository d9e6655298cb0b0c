package main

import (
	"strings"
	"testing"
)

// TestTheRoomsStayApart checks the module's import graph against the rules.
func TestTheRoomsStayApart(t *testing.T) {
	pkgs, err := load("../..")
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	for _, broken := range check(pkgs) {
		t.Error(broken)
	}
}

// TestABrokenRuleIsFound: the check sees a service that reaches bbolt
// through another package, and a tool that imports store.
func TestABrokenRuleIsFound(t *testing.T) {
	pkgs := []pkg{
		{ImportPath: module + "/service", Imports: []string{module + "/store"}, Deps: []string{module + "/store", module + "/store/boltstore", "go.etcd.io/bbolt"}},
		{ImportPath: module + "/cmd/banli/load", Imports: []string{module + "/store"}, Deps: []string{module + "/store"}},
		{ImportPath: module + "/store/boltstore", Imports: []string{"go.etcd.io/bbolt"}, Deps: []string{"go.etcd.io/bbolt"}},
	}
	broken := strings.Join(check(pkgs), "\n")
	for _, want := range []string{"service imports " + module + "/store/boltstore", "service imports go.etcd.io/bbolt", "cmd/banli/load imports " + module + "/store"} {
		if !strings.Contains(broken, want) {
			t.Errorf("not found: %s\nfound:\n%s", want, broken)
		}
	}
	if strings.Contains(broken, "boltstore imports") {
		t.Errorf("boltstore may import bbolt:\n%s", broken)
	}
}
