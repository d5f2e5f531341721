package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	gosync "sync"
	"testing"
)

// The end-to-end tests run the real exactsync binary. It is built once per test binary and
// build tags, into one temporary directory that TestMain removes.

var builds struct {
	mu    gosync.Mutex
	dir   string
	paths map[string]string // tags → binary
	errs  map[string]error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
	os.Exit(code)
}

// buildBinary builds the exactsync command with tags, once. Under -short the test is
// skipped: the quick loop runs no binaries.
func buildBinary(t *testing.T, tags string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the exactsync binary; skipped with -short")
	}
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if err := builds.errs[tags]; err != nil {
		t.Fatal(err)
	}
	if p := builds.paths[tags]; p != "" {
		return p
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "exactsync-test-bin")
		if err != nil {
			t.Fatal(err)
		}
		builds.dir, builds.paths, builds.errs = dir, map[string]string{}, map[string]error{}
	}
	name := "exactsync"
	if tags != "" {
		name += "-" + tags
	}
	path := filepath.Join(builds.dir, name)
	out, err := exec.Command("go", "build", "-tags", tags, "-o", path, ".").CombinedOutput()
	if err != nil {
		builds.errs[tags] = fmt.Errorf("go build -tags %q: %v\n%s", tags, err, out)
		t.Fatal(builds.errs[tags])
	}
	builds.paths[tags] = path
	return path
}

// binary is the exactsync command as shipped.
func binary(t *testing.T) string { return buildBinary(t, "") }

// failpointBinary is the exactsync command with the failpoints compiled in
// (exact/failpoint.go), for the crash tests.
func failpointBinary(t *testing.T) string { return buildBinary(t, "failpoints") }
