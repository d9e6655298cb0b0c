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

// TestEveryActionHasChinese: every action an event can record (each Step
// of the lifecycle, and the literal actions the service writes events
// with) has its Chinese in the catalogue, so that no event reaches people
// without a description.
func TestEveryActionHasChinese(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]string{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		literal := func(e ast.Expr) (string, bool) {
			lit, ok := e.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return "", false
			}
			s, _ := strconv.Unquote(lit.Value)
			return s, true
		}
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec: // StepSign Step = "SignAssignment"
				if id, ok := n.Type.(*ast.Ident); ok && id.Name == "Step" {
					for _, v := range n.Values {
						if s, ok := literal(v); ok {
							actions[s] = fset.Position(n.Pos()).String()
						}
					}
				}
			case *ast.CallExpr:
				fn := ""
				switch f := n.Fun.(type) {
				case *ast.Ident:
					fn = f.Name
				case *ast.SelectorExpr:
					fn = f.Sel.Name
				}
				at := map[string]int{"newEvent": 2, "accountEvent": 2, "changeAccount": 1}[fn]
				if at > 0 && len(n.Args) > at {
					if s, ok := literal(n.Args[at]); ok {
						actions[s] = fset.Position(n.Pos()).String()
					}
				}
			case *ast.KeyValueExpr: // caseChange{step: "ImportProposal"}
				if key, ok := n.Key.(*ast.Ident); ok && key.Name == "step" {
					if s, ok := literal(n.Value); ok {
						actions[s] = fset.Position(n.Pos()).String()
					}
				}
			}
			return true
		})
	}
	if len(actions) < 60 {
		t.Fatalf("found only %d actions", len(actions))
	}
	for action, where := range actions {
		if i18n.Action(i18n.Chinese, action) == "" {
			t.Errorf("no Chinese for the action %q (%s)", action, where)
		}
	}
}
