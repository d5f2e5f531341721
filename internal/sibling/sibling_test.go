package sibling

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// writeExecutable writes a tiny executable script at path.
func writeExecutable(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// goOnlyPath sets PATH to the go command's directory alone, so that nothing else on the
// machine's PATH is found.
func goOnlyPath(t *testing.T) {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	t.Setenv("PATH", filepath.Dir(goCmd))
}

func TestFindNextToExecutable(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	next := filepath.Join(filepath.Dir(self), "exactsync-sibling-test")
	writeExecutable(t, next)
	t.Cleanup(func() { os.Remove(next) })
	onPath := t.TempDir()
	writeExecutable(t, filepath.Join(onPath, "exactsync-sibling-test"))
	t.Setenv("PATH", onPath)

	b, err := Find(context.Background(), "exactsync-sibling-test")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Path != next {
		t.Errorf("got %s, want the one next to the executable, %s", b.Path, next)
	}
}

func TestFindOnPath(t *testing.T) {
	dir := t.TempDir()
	want := filepath.Join(dir, "exactsync-sibling-test")
	writeExecutable(t, want)
	notExecutable := filepath.Join(dir, "exactsync-sibling-plain")
	if err := os.WriteFile(notExecutable, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)

	b, err := Find(context.Background(), "exactsync-sibling-test")
	if err != nil {
		t.Fatal(err)
	}
	if b.Path != want {
		t.Errorf("got %s, want %s", b.Path, want)
	}
	if err := b.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := os.Stat(want); err != nil {
		t.Errorf("Close removed a binary Find did not build: %v", err)
	}
	if _, err := Find(context.Background(), "exactsync-sibling-plain"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a file that is not executable: got %v, want ErrNotFound", err)
	}
}

func TestFindNotFound(t *testing.T) {
	tests := []struct {
		name, path string
	}{
		{"no go command", ""},
		{"no such command in the source", "go"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.path == "go" {
				goOnlyPath(t)
			} else {
				t.Setenv("PATH", t.TempDir())
			}
			_, err := Find(context.Background(), "exactsync-no-such-command")
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("got %v, want ErrNotFound", err)
			}
		})
	}
}

// TestFindBuilds builds exactsim from this checkout, as `go run ./cmd/exactsync demo`
// does, and checks that Close removes it.
func TestFindBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a command; skipped with -short")
	}
	goOnlyPath(t)
	b, err := Find(context.Background(), "exactsim")
	if err != nil {
		t.Fatal(err)
	}
	if !isExecutable(b.Path) || b.tmp == "" {
		t.Errorf("got %+v, want an executable built into a temporary directory", b)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the built binary is still there after Close: %v", err)
	}
}
