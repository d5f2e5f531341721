package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/exactsync/exactsync/exact/exacttest"
)

// A key file that group or others can read still works, with one warning naming the
// file, its mode and the fix.
func TestKeyFileReadableByOthersWarns(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits")
	}
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 10})
	key, _, _ := newTestKey(t)
	file := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(file, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	r := w.run(map[string]string{"EXACTSYNC_ENCRYPTION_KEY_FILE": file}, "migrate")
	if r.code != 0 {
		t.Fatalf("migrate with a readable key file: %s", r)
	}
	want := "is readable by group or others (mode 0644); run chmod 600 " + file
	if n := strings.Count(r.stderr, want); n != 1 || !strings.Contains(r.stderr, `"level":"warn"`) {
		t.Errorf("got %d warnings containing %q, want 1:\n%s", n, want, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, key) {
		t.Errorf("output prints the encryption key")
	}

	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := w.run(map[string]string{"EXACTSYNC_ENCRYPTION_KEY_FILE": file}, "migrate"); r.code != 0 || strings.Contains(r.stderr, "chmod") {
		t.Errorf("migrate with a private key file: %s", r)
	}
}
