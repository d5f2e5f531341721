package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDurationsInLogsCarryTheirUnit checks the logging convention: a duration is
// logged with zerolog's Dur, whose number is milliseconds, under a key ending in _ms,
// so that "wait_ms=16759.5" says what "wait=16759.5" did not.
func TestDurationsInLogsCarryTheirUnit(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	seen := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 2 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Dur" {
				return true
			}
			seen++
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok {
				t.Errorf("%s: Dur with a key that is not a literal", fset.Position(call.Pos()))
				return true
			}
			if key, _ := strconv.Unquote(lit.Value); !strings.HasSuffix(key, "_ms") {
				t.Errorf("%s: Dur(%s, …): want a key ending in _ms (zerolog writes milliseconds)", fset.Position(call.Pos()), lit.Value)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 5 {
		t.Fatalf("found only %d Dur calls; the walk is wrong", seen)
	}
}
