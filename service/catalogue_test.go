package service

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/banli/banli/service/i18n"
)

// The catalogues of service/i18n must say everything the service writes
// for people. These tests read the service's own code for what it writes
// (a violation's format, an event's action), so that a new one without
// its Chinese fails here.

// eachNode calls visit with every node of the service's non-test files.
func eachNode(t *testing.T, visit func(fset *token.FileSet, n ast.Node)) {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no service files: %v", err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			visit(fset, n)
			return true
		})
	}
}

// stringLiteral is e's value if it is a string literal.
func stringLiteral(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// literalArgs collects the literal argument at each function's position
// (by the function's name) of every call.
func literalArgs(t *testing.T, at map[string]int) map[string]string {
	out := map[string]string{}
	eachNode(t, func(fset *token.FileSet, n ast.Node) {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return
		}
		fn := ""
		switch f := call.Fun.(type) {
		case *ast.Ident:
			fn = f.Name
		case *ast.SelectorExpr:
			fn = f.Sel.Name
		}
		if i, ok := at[fn]; ok && len(call.Args) > i {
			if s, ok := stringLiteral(call.Args[i]); ok {
				out[s] = fset.Position(call.Pos()).String()
			}
		}
	})
	return out
}

// TestEveryViolationHasChinese: every format the service writes a field
// violation with (violations.add, invalidField, deniedField, and the
// migration's bad) has its Chinese, with as many values, and the
// catalogue holds no format the service no longer writes.
func TestEveryViolationHasChinese(t *testing.T) {
	formats := literalArgs(t, map[string]int{"add": 1, "invalidField": 1, "deniedField": 1, "bad": 2})
	if len(formats) < 150 {
		t.Fatalf("found only %d formats", len(formats))
	}
	catalogue := i18n.ViolationFormats()
	for format, where := range formats {
		if catalogue[format] == "" {
			t.Errorf("no Chinese for %q (%s)", format, where)
		}
	}
	for format, zh := range catalogue {
		if _, ok := formats[format]; !ok {
			t.Errorf("the catalogue has %q, which the service no longer writes", format)
		}
		if want := strings.Count(format, "%") - 2*strings.Count(format, "%%"); strings.Count(zh, "%[") != want {
			t.Errorf("%q puts in %d values, its Chinese %q another number", format, want, zh)
		}
	}
}

// TestEveryActionHasChinese: every action an event can record (each Step
// of the lifecycle, and the literal actions the service writes events
// with) has its Chinese, so that no event reaches people without a
// description.
func TestEveryActionHasChinese(t *testing.T) {
	for action, where := range eventActions(t) {
		if i18n.Action(i18n.Chinese, action) == "" {
			t.Errorf("no Chinese for the action %q (%s)", action, where)
		}
	}
}

// TestEveryActionHasAProposerSight: the redaction table of events says,
// for every action an event can record, what a proposer sees of it, so a
// new step is an internal matter or shown by decision, not by default.
func TestEveryActionHasAProposerSight(t *testing.T) {
	actions := eventActions(t)
	for action, where := range actions {
		if _, ok := proposerSights[action]; !ok {
			t.Errorf("the redaction table (proposerSights) lacks the action %q (%s)", action, where)
		}
	}
	for action := range proposerSights {
		if _, ok := actions[action]; !ok {
			t.Errorf("the redaction table names %q, which no event records", action)
		}
	}
}

// eventActions finds every action an event can record: each Step of the
// lifecycle, and the literal actions the service writes events with, by
// where it is written.
func eventActions(t *testing.T) map[string]string {
	actions := literalArgs(t, map[string]int{"newEvent": 2, "accountEvent": 2, "changeAccount": 1})
	eachNode(t, func(fset *token.FileSet, n ast.Node) {
		switch n := n.(type) {
		case *ast.ValueSpec: // StepSign Step = "SignAssignment"
			if id, ok := n.Type.(*ast.Ident); ok && id.Name == "Step" {
				for _, v := range n.Values {
					if s, ok := stringLiteral(v); ok {
						actions[s] = fset.Position(n.Pos()).String()
					}
				}
			}
		case *ast.KeyValueExpr: // caseChange{step: "ImportProposal"}
			if key, ok := n.Key.(*ast.Ident); ok && key.Name == "step" {
				if s, ok := stringLiteral(n.Value); ok {
					actions[s] = fset.Position(n.Pos()).String()
				}
			}
		}
	})
	if len(actions) < 60 {
		t.Fatalf("found only %d actions", len(actions))
	}
	return actions
}
