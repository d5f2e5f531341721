package fuzzrun

import (
	"bytes"
	"cmp"
	"context"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// target is one fuzz target: its package, as a path relative to the module root, and name.
type target struct{ pkg, name string }

func TestFuzzTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("fuzzing every target takes a while; skipped with -short")
	}
	fuzztime := cmp.Or(os.Getenv("EXACTSYNC_FUZZTIME"), "3s")
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("finding the go command: %v", err)
	}
	root := moduleRoot(t, goBin)
	targets := findTargets(t, root)
	if len(targets) == 0 {
		t.Fatalf("found no fuzz targets under %s; the search is wrong", root)
	}
	ctx := context.Background()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-5*time.Second)) // room to report
		defer cancel()
	}
	for _, tg := range targets {
		t.Run(tg.pkg+"/"+tg.name, func(t *testing.T) {
			if ctx.Err() != nil {
				t.Fatalf("no time left to fuzz: raise go test's -timeout")
			}
			cmd := exec.CommandContext(ctx, goBin, "test", "-run", "^$", "-fuzz", "^"+tg.name+"$", "-fuzztime", fuzztime, tg.pkg)
			cmd.Dir = root
			start := time.Now()
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s (in the module root): %v\n%s", strings.Join(cmd.Args, " "), err, out)
			}
			if bytes.Contains(out, []byte("no fuzz tests to fuzz")) {
				t.Fatalf("%s fuzzed nothing: is %s built on this platform?\n%s", strings.Join(cmd.Args, " "), tg.name, out)
			}
			t.Logf("%s: %s", tg.name, time.Since(start).Round(100*time.Millisecond))
		})
	}
}

// moduleRoot returns the directory of the go.mod that holds this package.
func moduleRoot(t *testing.T, goBin string) string {
	t.Helper()
	out, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatalf("not inside a module")
	}
	return filepath.Dir(gomod)
}

// findTargets parses the module's test files and returns its fuzz targets, sorted. Files
// excluded by build constraints on this platform are left out, and so are directories
// that the go command ignores (testdata, and names starting with . or _) and nested
// modules.
func findTargets(t *testing.T, root string) []target {
	t.Helper()
	var targets []target
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && path != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		dir := filepath.Dir(path)
		if ok, err := build.Default.MatchFile(dir, d.Name()); err != nil || !ok {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && isFuzzTarget(fn) {
				targets = append(targets, target{pkg: "./" + filepath.ToSlash(rel), name: fn.Name.Name})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("finding fuzz targets: %v", err)
	}
	slices.SortFunc(targets, func(a, b target) int { return cmp.Or(strings.Compare(a.pkg, b.pkg), strings.Compare(a.name, b.name)) })
	return targets
}

// isFuzzTarget reports whether fn is func FuzzXxx(f *testing.F), as the testing package
// defines a fuzz test: Xxx does not start with a lower-case letter.
func isFuzzTarget(fn *ast.FuncDecl) bool {
	name, ok := strings.CutPrefix(fn.Name.Name, "Fuzz")
	if !ok || fn.Recv != nil || fn.Type.TypeParams != nil || fn.Type.Results != nil {
		return false
	}
	if r, _ := utf8.DecodeRuneInString(name); name != "" && unicode.IsLower(r) {
		return false
	}
	params := fn.Type.Params.List
	if len(params) != 1 || len(params[0].Names) > 1 {
		return false
	}
	star, ok := params[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "F" {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && pkg.Name == "testing"
}

func TestIsFuzzTarget(t *testing.T) {
	tests := []struct {
		name, src string
		want      bool
	}{
		{"target", "func FuzzDecodePage(f *testing.F) {}", true},
		{"bare Fuzz", "func Fuzz(f *testing.F) {}", true},
		{"lower-case after Fuzz", "func Fuzzy(f *testing.F) {}", false},
		{"test", "func TestFuzz(t *testing.T) {}", false},
		{"wrong parameter", "func FuzzX(t *testing.T) {}", false},
		{"method", "func (x) FuzzX(f *testing.F) {}", false},
		{"two parameters", "func FuzzX(f *testing.F, n int) {}", false},
		{"helper returning", "func FuzzX(f *testing.F) error { return nil }", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parser.ParseFile(token.NewFileSet(), "x_test.go", "package x\n"+tt.src, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			if got := isFuzzTarget(f.Decls[0].(*ast.FuncDecl)); got != tt.want {
				t.Errorf("isFuzzTarget(%s): got %v, want %v", tt.src, got, tt.want)
			}
		})
	}
}

// The search finds the targets this module is known to have: the list must grow by
// itself, never shrink unnoticed.
func TestFindTargets(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("finding the go command: %v", err)
	}
	found := map[target]bool{}
	for _, tg := range findTargets(t, moduleRoot(t, goBin)) {
		found[tg] = true
	}
	for _, want := range []target{
		{"./exact", "FuzzDecodePage"}, {"./exact", "FuzzValues"}, {"./config", "FuzzLoad"},
		{"./internal/onboard", "FuzzCallbackQuery"},
	} {
		if !found[want] {
			t.Errorf("findTargets: %v not found among %v", want, found)
		}
	}
}
