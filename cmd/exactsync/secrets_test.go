package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/seal"
)

// newTestKey returns a random key as base64 and as hex, and its key id.
func newTestKey(t *testing.T) (b64, hx, id string) {
	t.Helper()
	k := make([]byte, seal.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k), hex.EncodeToString(k), seal.ID(k)
}

// tableText is exact_sync.connections as text, as anyone reading the
// database sees it.
func (w *world) tableText() string {
	w.t.Helper()
	var text string
	if err := w.pool.QueryRow(context.Background(),
		`SELECT coalesce(string_agg(c::text, E'\n'), '') FROM exact_sync.connections c`).Scan(&text); err != nil {
		w.t.Fatal(err)
	}
	return text
}

// storedTokens opens the stored tokens of every connection with key (nil:
// plaintext) and returns them.
func (w *world) storedTokens(keys ...string) []string {
	w.t.Helper()
	var kr *seal.Keyring
	if len(keys) > 0 {
		var raw [][]byte
		for _, k := range keys {
			b, err := seal.ParseKey(k)
			if err != nil {
				w.t.Fatal(err)
			}
			raw = append(raw, b)
		}
		var err error
		if kr, err = seal.NewKeyring(raw[0], raw[1:]...); err != nil {
			w.t.Fatal(err)
		}
	}
	ctx := context.Background()
	st, err := sink.Open(ctx, sink.Config{DatabaseURL: w.dbURL, Keyring: kr})
	if err != nil {
		w.t.Fatal(err)
	}
	defer st.Close()
	conns, err := st.Connections(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, c := range conns {
		tok, err := st.LoadToken(ctx, c.ID)
		if err != nil {
			w.t.Fatal(err)
		}
		out = append(out, tok.AccessToken, tok.RefreshToken)
	}
	return out
}

func TestSecretsAreEncryptedAtRest(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 300})
	key, _, id := newTestKey(t)
	w.env["EXACTSYNC_ENCRYPTION_KEY"] = key
	first := w.sim.RefreshToken()
	w.importToken()
	w.mustRun("sync", "--entity", "accounts")
	w.expireToken()
	r := w.mustRun("sync", "--entity", "suppliers")
	if strings.Contains(r.stderr, "unencrypted") {
		t.Errorf("a start with a key warns about unencrypted secrets:\n%s", r.stderr)
	}

	tokens := w.storedTokens(key)
	if tokens[0] == "" || tokens[1] != w.sim.RefreshToken() {
		t.Fatalf("stored tokens do not open to the current pair (refresh token matches: %t)", tokens[1] == w.sim.RefreshToken())
	}
	text := w.tableText()
	for _, s := range append(tokens, first, testClientSecret) {
		if strings.Contains(text, s) {
			t.Errorf("exact_sync.connections holds a secret in plaintext (%d chars starting %q)", len(s), s[:4])
		}
	}
	if n := strings.Count(text, "seal:v1:"+id+":"); n != 3 {
		t.Errorf("exact_sync.connections holds %d values sealed with key %s, want 3 (access token, refresh token, client secret)", n, id)
	}

	// With the opt-out, every command warns once, loudly, as soon as secrets are stored;
	// with nothing stored there is nothing to warn about.
	w2 := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 10})
	w2.env["EXACTSYNC_ENCRYPTION_KEY"] = "none"
	if r = w2.mustRun("migrate"); strings.Contains(r.stderr, "unencrypted") {
		t.Errorf("a start with the opt-out and without secrets warns:\n%s", r.stderr)
	}
	w2.importToken()
	r = w2.mustRun("migrate")
	if strings.Count(r.stderr, "secrets are stored unencrypted, as EXACTSYNC_ENCRYPTION_KEY=none asks") != 1 || !strings.Contains(r.stderr, `"level":"warn"`) {
		t.Errorf("a start with the opt-out, with plaintext secrets, does not warn once:\n%s", r.stderr)
	}
}

func TestRefusesToStartWithoutTheKey(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 50})
	key, _, id := newTestKey(t)
	other, _, _ := newTestKey(t)
	w.env["EXACTSYNC_ENCRYPTION_KEY"] = key
	w.importToken()
	text := w.tableText()

	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		wantIn []string
	}{
		{"sync without a key", map[string]string{"EXACTSYNC_ENCRYPTION_KEY": ""}, []string{"sync", "--entity", "accounts"},
			[]string{"refusing to start", id, "EXACTSYNC_ENCRYPTION_KEY"}},
		{"run without a key", map[string]string{"EXACTSYNC_ENCRYPTION_KEY": ""}, []string{"run"},
			[]string{"refusing to start", id, "EXACTSYNC_ENCRYPTION_KEY"}},
		{"status without a key", map[string]string{"EXACTSYNC_ENCRYPTION_KEY": ""}, []string{"auth", "status"},
			[]string{"refusing to start", id, "EXACTSYNC_ENCRYPTION_KEY"}},
		{"sync with another key", map[string]string{"EXACTSYNC_ENCRYPTION_KEY": other}, []string{"sync", "--entity", "accounts"},
			[]string{"refusing to start", id, "EXACTSYNC_ENCRYPTION_KEY_OLD"}},
		{"a malformed key", map[string]string{"EXACTSYNC_ENCRYPTION_KEY": "c2hvcnQ="}, []string{"sync", "--entity", "accounts"},
			[]string{"EXACTSYNC_ENCRYPTION_KEY:", "32-byte"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := w.run(tt.env, tt.args...)
			if r.code != exitUsage {
				t.Errorf("exit code %d, want %d\n%s", r.code, exitUsage, r)
			}
			checkErrorLine(t, r, tt.wantIn...)
			for _, k := range []string{key, other} {
				if strings.Contains(r.stdout+r.stderr, k) {
					t.Errorf("output prints an encryption key")
				}
			}
			if r.stdout != "" {
				t.Errorf("a refused start printed %q", r.stdout)
			}
		})
	}
	if got := w.tableText(); got != text {
		t.Errorf("refused starts changed exact_sync.connections")
	}
}

func TestRotateKey(t *testing.T) {
	t.Parallel()
	oldKey, _, oldID := newTestKey(t)
	newB64, newHex, newID := newTestKey(t)
	tests := []struct {
		name      string
		importEnv map[string]string // the key the secrets are written with
		rotateEnv map[string]string
	}{
		{"from plaintext", map[string]string{"EXACTSYNC_ENCRYPTION_KEY": "none"}, map[string]string{"EXACTSYNC_ENCRYPTION_KEY": newB64}},
		{"from an old key", map[string]string{"EXACTSYNC_ENCRYPTION_KEY": oldKey},
			map[string]string{"EXACTSYNC_ENCRYPTION_KEY": newHex, "EXACTSYNC_ENCRYPTION_KEY_OLD": oldKey}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 100})
			for k, v := range tt.importEnv {
				w.env[k] = v
			}
			w.importToken()
			before := w.tableText()

			r := w.run(tt.rotateEnv, "auth", "rotate-key")
			if r.code != 0 {
				t.Fatalf("auth rotate-key: %s", r)
			}
			if want := fmt.Sprintf("re-encrypted 3 stored secrets with key %s\n", newID); r.stdout != want {
				t.Errorf("auth rotate-key printed %q, want %q", r.stdout, want)
			}
			r = w.run(tt.rotateEnv, "auth", "rotate-key")
			if want := fmt.Sprintf("re-encrypted 0 stored secrets with key %s\n", newID); r.code != 0 || r.stdout != want {
				t.Errorf("second auth rotate-key: %s; want %q", r, want)
			}

			text := w.tableText()
			if n := strings.Count(text, "seal:v1:"+newID+":"); n != 3 {
				t.Errorf("after rotation %d values are sealed with the new key, want 3:\n%s", n, text)
			}
			if strings.Contains(text, oldID) || strings.Contains(text, testClientSecret) {
				t.Errorf("after rotation the table still holds old-key or plaintext values")
			}
			if before == text {
				t.Errorf("rotation did not change the table")
			}
			// The new key alone now runs everything.
			w.env["EXACTSYNC_ENCRYPTION_KEY"] = newB64
			w.mustRun("sync", "--entity", "accounts")
			w.checkTablesAccountsOnly([]int{101})
		})
	}

	t.Run("without a key", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 10})
		r := w.run(nil, "auth", "rotate-key")
		if r.code != exitUsage || !strings.Contains(lastLine(r.stderr), "EXACTSYNC_ENCRYPTION_KEY is not set") {
			t.Errorf("auth rotate-key without a key: %s", r)
		}
		r = w.run(map[string]string{"EXACTSYNC_ENCRYPTION_KEY": "none"}, "auth", "rotate-key")
		if r.code != exitUsage || !strings.Contains(lastLine(r.stderr), "EXACTSYNC_ENCRYPTION_KEY=none") {
			t.Errorf("auth rotate-key with the opt-out: %s", r)
		}
	})
	t.Run("key file", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 10})
		w.env["EXACTSYNC_ENCRYPTION_KEY"] = "none"
		w.importToken()
		w.env["EXACTSYNC_ENCRYPTION_KEY"] = ""
		file := filepath.Join(t.TempDir(), "key")
		if err := os.WriteFile(file, []byte(newB64+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := w.run(map[string]string{"EXACTSYNC_ENCRYPTION_KEY_FILE": file}, "auth", "rotate-key")
		if r.code != 0 || !strings.Contains(r.stdout, "with key "+newID) {
			t.Errorf("auth rotate-key with a key file: %s", r)
		}
	})
}

// TestTwoConnectionsSideBySide connects two apps on two hosts (two
// simulators), each user with its own divisions, and syncs both with no
// credentials in the environment: each connection uses its own host, client
// id and stored client secret.
func TestTwoConnectionsSideBySide(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101, 102}, Accounts: 400, DailyLimit: 5000})
	key, _, keyID := newTestKey(t)
	w.env["EXACTSYNC_ENCRYPTION_KEY"] = key
	w.env["EXACT_DIVISIONS"] = ""
	const otherID, otherSecret = "second-app", "second-app-secret-9876543210"
	other := &world{t: t, sim: exacttest.NewServer(exacttest.Options{
		ClientID: otherID, ClientSecret: otherSecret, Divisions: []int{201}, Accounts: 250, Seed: 11, DailyLimit: 3000,
	})}
	t.Cleanup(other.sim.Close)

	w.importToken()
	r := w.run(map[string]string{"EXACT_BASE_URL": other.sim.URL, "EXACT_CLIENT_ID": otherID, "EXACT_CLIENT_SECRET": otherSecret},
		"auth", "import", "--refresh-token", other.sim.RefreshToken())
	if r.code != 0 {
		t.Fatalf("importing the second connection: %s", r)
	}
	if !strings.Contains(r.stdout, "divisions granted: 201") {
		t.Errorf("import output does not list the divisions granted:\n%s", r.stdout)
	}

	noCreds := map[string]string{"EXACT_BASE_URL": "", "EXACT_CLIENT_ID": "", "EXACT_CLIENT_SECRET": ""}
	for _, entity := range []string{"accounts", "suppliers"} {
		r := w.run(noCreds, "sync", "--entity", entity)
		if r.code != 0 {
			t.Fatalf("sync %s: %s", entity, r)
		}
		for _, d := range []int{101, 102, 201} {
			if !strings.Contains(r.stdout, fmt.Sprintf("%s division %d: ok", entity, d)) {
				t.Errorf("sync %s does not report division %d:\n%s", entity, d, r.stdout)
			}
		}
	}
	want := w.want([]int{101, 102}, false)
	for k, v := range other.want([]int{201}, false) {
		want[k] = v
	}
	if diff := cmp.Diff(want, w.rows("exact.accounts"), timeInUTC); diff != "" {
		t.Errorf("exact.accounts differs from the two simulators (-want +got):\n%s", diff)
	}
	rows, _ := w.pool.Query(context.Background(), `
		SELECT DISTINCT c.connection_id || ':' || c.division FROM exact_sync.cursors c ORDER BY 1`)
	owners, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"1:101", "1:102", "2:201"}, owners); diff != "" {
		t.Errorf("cursors per connection:division (-want +got):\n%s", diff)
	}

	// --connection limits a run to one connection.
	before := other.sim.Stats()
	r = w.run(noCreds, "sync", "--entity", "accounts", "--connection", "1")
	if r.code != 0 || strings.Contains(r.stdout, "division 201") {
		t.Errorf("sync --connection 1: %s", r)
	}
	if after := other.sim.Stats(); after.Calls(201, "sync/CRM/Accounts") != before.Calls(201, "sync/CRM/Accounts") {
		t.Errorf("sync --connection 1 called the second connection's host")
	}
	if r := w.run(noCreds, "sync", "--entity", "accounts", "--connection", "9"); r.code != exitUsage || !strings.Contains(lastLine(r.stderr), "--connection 9") {
		t.Errorf("sync --connection 9: %s", r)
	}

	// auth status names both, with their divisions and call budgets, and no secret.
	status := w.run(noCreds, "auth", "status")
	if status.code != 0 {
		t.Fatalf("auth status: %s", status)
	}
	for _, s := range []string{
		"connection 1", "connection 2",
		"host:", strings.TrimPrefix(w.sim.URL, "http://"), strings.TrimPrefix(other.sim.URL, "http://"),
		"client id:", testClientID, otherID,
		"user:", "state:", "ok",
		"access token:", "expires",
		"last refresh:", "refresh token:", "expires if unused in 29 days",
		"divisions:", "101", "102", "201",
		"daily calls left:", "of 5000", "201: ", "of 3000",
		"encryption:", "AES-256-GCM, key " + keyID,
		"client secret:", "stored",
	} {
		if !strings.Contains(status.stdout, s) {
			t.Errorf("auth status does not show %q:\n%s", s, status.stdout)
		}
	}
	secrets := append(w.storedTokens(key), testClientSecret, otherSecret, w.sim.RefreshToken(), other.sim.RefreshToken())
	for _, s := range secrets {
		if strings.Contains(status.stdout+status.stderr, s) {
			t.Errorf("auth status prints a secret (%d chars starting %q)", len(s), s[:4])
		}
	}
}
