package controllers

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestControllersStayThin keeps the package's shape: the reconciler file under 400 lines and no function
// over 60 (a step, an outcome or a check goes in its own small function, not in a switch).
func TestControllersStayThin(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			if n := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line; n > 60 {
				t.Errorf("%s: %s is %d lines (at most 60)", name, fn.Name.Name, n)
			}
		}
	}
	data, err := os.ReadFile("component_controller.go")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n >= 400 {
		t.Errorf("component_controller.go is %d lines (under 400)", n)
	}
}
