package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryPackageHasADocComment checks the house rule that each package
// says what it is in one doc comment whose first sentence names it.
func TestEveryPackageHasADocComment(t *testing.T) {
	root := filepath.Join("..", "..")
	dirs := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			dirs[filepath.Dir(path)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 8 {
		t.Fatalf("found only %d package directories; the walk is wrong", len(dirs))
	}
	for dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		pkgs := map[string][]string{} // package name → its files' doc comments
		fset := token.NewFileSet()
		for _, de := range entries {
			if de.IsDir() || !strings.HasSuffix(de.Name(), ".go") || strings.HasSuffix(de.Name(), "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, filepath.Join(dir, de.Name()), nil, parser.ParseComments|parser.PackageClauseOnly)
			if err != nil {
				t.Fatalf("parsing %s: %v", dir, err)
			}
			docs := pkgs[f.Name.Name]
			if f.Doc != nil {
				docs = append(docs, f.Doc.Text())
			}
			pkgs[f.Name.Name] = docs
		}
		for name, docs := range pkgs {
			want := "Package " + name + " "
			if name == "main" {
				want = "The " + filepath.Base(dir) + " command "
			}
			switch {
			case len(docs) == 0:
				t.Errorf("%s: package %s has no doc comment", dir, name)
			case len(docs) > 1:
				t.Errorf("%s: package %s has %d doc comments, want one", dir, name, len(docs))
			case !strings.HasPrefix(docs[0], want):
				t.Errorf("%s: doc comment starts %q, want %q", dir, firstLine(docs[0]), want+"…")
			}
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
