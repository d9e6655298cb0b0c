package i18n

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// serviceFormats are the formats the service writes field violations
// with: the literal format of every call of add (violations.add),
// invalidField, deniedField, and the migration's bad.
func serviceFormats(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("../*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no service files: %v", err)
	}
	formatArg := map[string]int{"add": 1, "invalidField": 1, "deniedField": 1, "bad": 2}
	out := map[string]string{}
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
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			fn := ""
			switch f := call.Fun.(type) {
			case *ast.Ident:
				fn = f.Name
			case *ast.SelectorExpr:
				fn = f.Sel.Name
			}
			i, ok := formatArg[fn]
			if !ok || len(call.Args) <= i {
				return true
			}
			if lit, ok := call.Args[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				s, _ := strconv.Unquote(lit.Value)
				out[s] = fset.Position(call.Pos()).String()
			}
			return true
		})
	}
	if len(out) < 150 {
		t.Fatalf("found only %d formats", len(out))
	}
	return out
}

// TestEveryViolationHasChinese: every format the service writes a field
// violation with has its Chinese, and the catalogue holds no format the
// service no longer writes.
func TestEveryViolationHasChinese(t *testing.T) {
	formats := serviceFormats(t)
	for format, where := range formats {
		if violationsZH[format] == "" {
			t.Errorf("no Chinese for %q (%s)", format, where)
		}
	}
	for format, zh := range violationsZH {
		if _, ok := formats[format]; !ok {
			t.Errorf("the catalogue has %q, which the service no longer writes", format)
		}
		if want := strings.Count(format, "%") - strings.Count(format, "%%"); strings.Count(zh, "%[") != want {
			t.Errorf("%q puts in %d values, its Chinese %q another number", format, want, zh)
		}
	}
}

func TestViolationInChinese(t *testing.T) {
	for english, want := range map[string]string{
		"required":                         "必填",
		"at most 100 characters":           "最多100个字",
		"must be from 1 to 60":             "须在1至60之间",
		`unknown count "nope"`:             `未知的件数项"nope"`,
		"at most 100 characters (got 120)": "最多100个字（现为120个）",
		"the upload was cut short: 5 of the 9 bytes declared arrived": "上传中断：声明9字节，只收到5字节",
		"something no format says":                                    "此项有误：something no format says",
	} {
		if got := Violation(Chinese, english); got != want {
			t.Errorf("Violation(%q) = %q, want %q", english, got, want)
		}
	}
	if got := Violation(English, "required"); got != "required" {
		t.Errorf("in English: %q", got)
	}
}
