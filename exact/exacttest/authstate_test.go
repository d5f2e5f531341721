package exacttest

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAuthStateFileKeepsTheChainAcrossRestarts: with AuthStateFile, a simulator started
// again accepts the refresh token and the access token it issued before, and still
// refuses the refresh token used before as an old one; without it, the chain is gone.
func TestAuthStateFileKeepsTheChainAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.json")
	opts := Options{RefreshToken: "seed!token", FreezeClock: true, AuthStateFile: path}

	first := NewServer(opts)
	resp, b := tokenCall(t, first, refreshForm(first, "seed!token"))
	first.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("first refresh: got %d %s", resp.StatusCode, b)
	}
	tb := decodeToken(t, b)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no saved chain after a refresh: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("saved chain has mode %o, want 600", perm)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), tb.RefreshToken) {
		t.Errorf("saved chain does not hold the head %q", tb.RefreshToken)
	}

	again := newTestServer(t, opts)
	if got := again.RefreshToken(); got != tb.RefreshToken {
		t.Fatalf("head after the restart %q, want the one issued before it %q", got, tb.RefreshToken)
	}
	if resp, b := get(t, again, tb.AccessToken, "/api/v1/current/Me", "application/json"); resp.StatusCode != http.StatusOK {
		t.Errorf("access token issued before the restart: got %d %.200s, want 200", resp.StatusCode, b)
	}
	if resp, b := tokenCall(t, again, refreshForm(again, "seed!token")); resp.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(string(b), "Old refresh token used") {
		t.Errorf("refresh token used before the restart: got %d %s, want 401 old refresh token", resp.StatusCode, b)
	}
	again.Advance(570 * time.Second)
	if resp, b := tokenCall(t, again, refreshForm(again, tb.RefreshToken)); resp.StatusCode != http.StatusOK {
		t.Errorf("refresh with the head after the restart: got %d %s, want 200", resp.StatusCode, b)
	}

	opts.AuthStateFile = ""
	memory := newTestServer(t, opts)
	if resp, _ := tokenCall(t, memory, refreshForm(memory, tb.RefreshToken)); resp.StatusCode == http.StatusOK {
		t.Errorf("without AuthStateFile a new simulator accepted a refresh token of another one")
	}
}

// TestAuthStateFileThatIsNotAChain: Open refuses a file it cannot read as a saved chain,
// naming it and the way out, and leaves the file alone.
func TestAuthStateFileThatIsNotAChain(t *testing.T) {
	for _, content := range []string{"", "{", `{"version":1}`, `{"version":2,"head":"x!y","head_issued":"2026-01-05T09:00:00Z"}`, "[]"} {
		path := filepath.Join(t.TempDir(), "auth.json")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(Options{AuthStateFile: path})
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "remove it") {
			t.Errorf("Open with %q saved: %v, want an error naming the file and the way out", content, err)
		}
		if b, _ := os.ReadFile(path); string(b) != content {
			t.Errorf("Open changed the file it refused: %q", b)
		}
	}
}

// FuzzRestoreAuth: whatever a state file holds, restoring it fails cleanly or leaves a
// chain with a head that the next save writes back the same.
func FuzzRestoreAuth(f *testing.F) {
	f.Add([]byte(`{"version":1,"chain":2,"head":"h!1","head_issued":"2026-01-05T09:00:00Z","refresh":{"old!1":2},"access":{"gAAAA":{"chain":2,"expires":"2026-01-05T09:10:00Z"}}}`))
	f.Add([]byte(`{"version":1,"head":"h!1","head_issued":"2026-01-05T09:00:00Z","refresh":null,"access":null}`))
	f.Add([]byte(`{}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		var a authState
		a.init(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC), "")
		if err := a.restore("auth.json", b); err != nil {
			return
		}
		if a.head == "" || a.headIssued.IsZero() || a.refresh == nil || a.access == nil {
			t.Fatalf("restored a chain without a head, or without its maps: %+v", a)
		}
		path := filepath.Join(dir, "auth.json")
		if err := a.saveAuth(path); err != nil {
			t.Fatal(err)
		}
		var back authState
		back.init(time.Time{}, "")
		if err := back.loadAuth(path); err != nil {
			t.Fatalf("a saved chain does not load: %v", err)
		}
		if back.head != a.head || back.chain != a.chain || len(back.refresh) != len(a.refresh) || len(back.access) != len(a.access) {
			t.Fatalf("saved and loaded again: %+v, want %+v", back, a)
		}
	})
}
