// Package sibling finds the commands that ship beside exactsync, so that a command of the
// product can run another without carrying its code: the demo runs the simulator of Exact
// Online (exactsim), bench runs the benchmark (exactsync-bench).
//
// Find looks for a command next to the running executable, then on PATH, and last, in a
// checkout of exactsync's source with the go command at hand (as with `go run
// ./cmd/exactsync demo`), builds it from ./cmd/NAME into a temporary directory.
package sibling

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// module is the module whose source Find builds commands from.
const module = "github.com/exactsync/exactsync"

// ErrNotFound means that the command is neither next to the executable nor on PATH, and
// that no checkout of exactsync's source is at hand to build it from.
var ErrNotFound = errors.New("command not found")

// Binary is a command that Find found or built.
type Binary struct {
	// Path is the executable.
	Path string

	tmp string // directory of a binary that Find built, removed by Close
}

// Find finds or builds the command name (see the package doc). Close the Binary when
// done with it.
func Find(ctx context.Context, name string) (*Binary, error) {
	if self, err := os.Executable(); err == nil {
		if next := filepath.Join(filepath.Dir(self), name); isExecutable(next) {
			return &Binary{Path: next}, nil
		}
	}
	if path, err := exec.LookPath(name); err == nil {
		return &Binary{Path: path}, nil
	}
	goCmd, err := exec.LookPath("go")
	if err != nil || !isExecutable(goCmd) {
		return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	mod, err := exec.CommandContext(ctx, goCmd, "list", "-m", "-f", "{{.Path}}\n{{.Dir}}").Output()
	path, dir, _ := strings.Cut(strings.TrimSpace(string(mod)), "\n")
	if err != nil || path != module || dir == "" {
		return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	if fi, err := os.Stat(filepath.Join(dir, "cmd", name)); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	tmp, err := os.MkdirTemp("", "exactsync-"+name)
	if err != nil {
		return nil, err
	}
	b := &Binary{Path: filepath.Join(tmp, name), tmp: tmp}
	build := exec.CommandContext(ctx, goCmd, "build", "-o", b.Path, "./cmd/"+name)
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		b.Close()
		return nil, fmt.Errorf("building %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	return b, nil
}

// Close removes the binary if Find built it.
func (b *Binary) Close() error {
	if b.tmp == "" {
		return nil
	}
	return os.RemoveAll(b.tmp)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
