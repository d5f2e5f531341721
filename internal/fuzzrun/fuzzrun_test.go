package fuzzrun

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
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
			before := corpus(t, root, tg)
			cmd := exec.CommandContext(ctx, goBin, "test", "-run", "^$", "-fuzz", "^"+tg.name+"$", "-fuzztime", fuzztime, tg.pkg)
			cmd.Dir = root
			start := time.Now()
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s (in the module root): %v\n%s%s", strings.Join(cmd.Args, " "), err, out, found(t, root, tg, before))
			}
			if bytes.Contains(out, []byte("no fuzz tests to fuzz")) {
				t.Fatalf("%s fuzzed nothing: is %s built on this platform?\n%s", strings.Join(cmd.Args, " "), tg.name, out)
			}
			t.Logf("%s: %s", tg.name, time.Since(start).Round(100*time.Millisecond))
		})
	}
}

// corpus returns the names of the files in the target's corpus directory,
// pkg/testdata/fuzz/FuzzXxx, where Go keeps the inputs that made it fail.
func corpus(t *testing.T, root string, tg target) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(corpusDir(root, tg))
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("reading the corpus of %s: %v", tg.name, err)
	}
	names := map[string]bool{}
	for _, e := range entries {
		names[e.Name()] = true
	}
	return names
}

func corpusDir(root string, tg target) string {
	return filepath.Join(root, filepath.FromSlash(tg.pkg), "testdata", "fuzz", tg.name)
}

// found describes the inputs a failed fuzzing run added to the target's corpus (not in
// before): where Go wrote each, how to run it again, what to do with it, and its contents,
// so that a run on a machine that is thrown away afterwards (CI) still hands the input
// over in its log.
func found(t *testing.T, root string, tg target, before map[string]bool) string {
	t.Helper()
	var b strings.Builder
	for name := range corpus(t, root, tg) {
		if before[name] {
			continue
		}
		path := filepath.Join(corpusDir(root, tg), name)
		rel, _ := filepath.Rel(root, path)
		content, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("reading the failing input %s: %v", rel, err)
			continue
		}
		if len(content) > 8<<10 {
			content = append(content[:8<<10:8<<10], "…(cut)\n"...)
		}
		fmt.Fprintf(&b, "\nThe failing input is kept in %s. Run it again with\n"+
			"\tgo test -run '^%s$/^%s$' %s\n"+
			"and commit the file with the fix: go test runs every file of testdata/fuzz/%s as a regression test.\n"+
			"Its contents (write them to that file to recreate it elsewhere):\n%s",
			filepath.ToSlash(rel), tg.name, name, tg.pkg, tg.name, content)
	}
	return b.String()
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
		{"./internal/onboard", "FuzzCallbackQuery"}, {"./sink", "FuzzAppendNumeric"}, {"./sync", "FuzzRecordColumnsMatchRaw"},
	} {
		if !found[want] {
			t.Errorf("findTargets: %v not found among %v", want, found)
		}
	}
}

// TestFailingInputIsKept fuzzes a target that fails on any input but its seed, in a module
// of its own: the failure names the input Go kept under testdata/fuzz, with the command
// that runs it and its contents; and plain go test then fails on it, which is what makes
// a committed input a regression test.
func TestFailingInputIsKept(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and fuzzes a module; skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("finding the go command: %v", err)
	}
	root := t.TempDir()
	for name, text := range map[string]string{
		"go.mod": "module example.com/fuzzkeep\n\ngo 1.26\n",
		"keep_test.go": `package fuzzkeep

import "testing"

func FuzzFails(f *testing.F) {
	f.Add("seed")
	f.Fuzz(func(t *testing.T, s string) {
		if s != "seed" {
			t.Fatalf("found %q", s)
		}
	})
}
`,
	} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tg := target{pkg: ".", name: "FuzzFails"}
	before := corpus(t, root, tg)
	if len(before) != 0 {
		t.Fatalf("corpus before fuzzing: %v, want none", before)
	}
	cmd := exec.Command(goBin, "test", "-run", "^$", "-fuzz", "^FuzzFails$", "-fuzztime", "60s", ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("fuzzing a target that fails on every new input passed:\n%s", out)
	}
	msg := found(t, root, tg, before)
	kept := corpus(t, root, tg)
	if len(kept) != 1 {
		t.Fatalf("corpus after the failure: %v, want the one failing input\n%s", kept, msg)
	}
	var name string
	for name = range kept {
	}
	for _, want := range []string{
		"The failing input is kept in testdata/fuzz/FuzzFails/" + name + ".",
		"go test -run '^FuzzFails$/^" + name + "$' .",
		"go test fuzz v1\nstring(",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("the report of the failure lacks %q:\n%s", want, msg)
		}
	}

	rerun := exec.Command(goBin, "test", "-count=1", ".")
	rerun.Dir = root
	out, err := rerun.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "FuzzFails/"+name) {
		t.Errorf("go test with the kept input: %v, want a failure of FuzzFails/%s:\n%s", err, name, out)
	}
}

// TestKeptInputsBelongToTargets: every corpus directory under a testdata/fuzz belongs to a
// fuzz target of its package, and holds inputs in Go's corpus format. Inputs of a target
// that was renamed or removed would otherwise stop being run without anyone noticing.
func TestKeptInputsBelongToTargets(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("finding the go command: %v", err)
	}
	root := moduleRoot(t, goBin)
	targets := map[target]bool{}
	for _, tg := range findTargets(t, root) {
		targets[tg] = true
	}
	dirs := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() || d.Name() != "fuzz" || filepath.Base(filepath.Dir(path)) != "testdata" {
			if d.IsDir() && path != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		pkg, err := filepath.Rel(root, filepath.Dir(filepath.Dir(path)))
		if err != nil {
			return err
		}
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		for _, e := range entries {
			dirs++
			tg := target{pkg: "./" + filepath.ToSlash(pkg), name: e.Name()}
			if !e.IsDir() || !targets[tg] {
				t.Errorf("%s: no fuzz target %s in %s: its inputs are never run; move them to the target that replaced it, or remove them",
					filepath.Join(path, e.Name()), e.Name(), tg.pkg)
				continue
			}
			files, err := os.ReadDir(filepath.Join(path, e.Name()))
			if err != nil {
				return err
			}
			for _, f := range files {
				b, err := os.ReadFile(filepath.Join(path, e.Name(), f.Name()))
				if err != nil {
					return err
				}
				if !bytes.HasPrefix(b, []byte("go test fuzz v1\n")) {
					t.Errorf("%s: not an input in Go's corpus format (it starts %q)", filepath.Join(path, e.Name(), f.Name()), b[:min(len(b), 20)])
				}
			}
		}
		return filepath.SkipDir
	})
	if err != nil {
		t.Fatal(err)
	}
	if dirs == 0 {
		t.Fatalf("found no corpus directory under %s; the walk is wrong (sink keeps one for FuzzAppendNumeric)", root)
	}
}
