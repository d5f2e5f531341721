package main

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exactsync/exactsync/exact/exacttest"
)

// One Exact user and app have one live refresh token (docs/exact-online.md §1.9): a
// second connection of the same user and app is refused, and a chain that another
// installation refreshed away is reported as such.

// connectionIDs are the ids of the stored connections, in order.
func (w *world) connectionIDs() []int64 {
	w.t.Helper()
	var ids []int64
	rows, err := w.pool.Query(context.Background(), `SELECT id FROM exact_sync.connections ORDER BY id`)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			w.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func (w *world) cursorCount() int {
	w.t.Helper()
	var n int
	if err := w.pool.QueryRow(context.Background(), `SELECT count(*) FROM exact_sync.cursors WHERE cursor_timestamp > 0`).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

// checkRefused checks a command refused a second connection with the one line that says
// why and names --replace, and left the first connection alone.
func (w *world) checkRefused(r result, first []int64) {
	w.t.Helper()
	if r.code == 0 {
		w.t.Fatalf("a second connection of the same user and app was accepted: %s", r)
	}
	checkErrorLine(w.t, r, "already connects Exact user", "one live refresh token per user and app", "--replace")
	if got := w.connectionIDs(); len(got) != 1 || got[0] != first[0] {
		w.t.Errorf("connections after the refusal: %v, want only %v", got, first)
	}
}

func TestSecondImportOfAUserAndAppIsRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 20})
	w.importToken()
	w.mustRun("sync", "--entity", "accounts")
	first, cursors := w.connectionIDs(), w.cursorCount()
	if cursors == 0 {
		t.Fatal("the sync stored no cursor; the test would not prove they are kept")
	}

	// A token of the same user and app obtained elsewhere (Postman, a second consent).
	w.consentAgain()
	w.sim.Advance(10 * time.Minute) // past the 570 s before the import's refresh (§1.8)
	w.checkRefused(w.run(nil, "auth", "import", "--refresh-token", w.sim.RefreshToken()), first)

	w.sim.Advance(10 * time.Minute)
	r := w.mustRun("auth", "import", "--replace", "--refresh-token", w.sim.RefreshToken())
	if !strings.Contains(r.stdout, "is ready") {
		t.Errorf("import --replace printed:\n%s", r)
	}
	if got := w.connectionIDs(); len(got) != 1 || got[0] != first[0] {
		t.Errorf("connections after --replace: %v, want %v", got, first)
	}
	if got := w.cursorCount(); got != cursors {
		t.Errorf("%d cursors after --replace, want the %d kept", got, cursors)
	}
	w.mustRun("sync", "--entity", "accounts")
}

func TestSecondLoginOfAUserAndAppIsRefused(t *testing.T) {
	t.Parallel()
	w := loginWorld(t, "http://127.0.0.1:PORT/callback")
	login := func(args ...string) result {
		t.Helper()
		l := w.startLogin(nil, append([]string{"--no-listen", "--timeout", "30s"}, args...)...)
		l.paste(consent(t, l.authURL()))
		return l.wait()
	}
	if r := login(); r.code != 0 {
		t.Fatalf("first login: %s", r)
	}
	first := w.connectionIDs()
	w.checkRefused(login(), first)
	r := login("--replace")
	if r.code != 0 || !strings.Contains(r.stdout, "connection "+strconv.FormatInt(first[0], 10)) {
		t.Fatalf("login --replace did not give connection %d the authorization: %s", first[0], r)
	}
	w.mustRun("sync", "--entity", "accounts", "--division", "101")
}

// TestForeignRefreshIsReported: another installation holds the same user and app and
// refreshes the chain; the stored refresh token, which no process of ours sent, is then
// called used by Exact. The state, auth status and doctor say another installation uses
// the same user and app.
func TestForeignRefreshIsReported(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 20})
	w.importToken()
	w.expireToken()

	// The other installation refreshes the head of the chain, which exactsync holds too.
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {w.sim.RefreshToken()},
		"client_id": {testClientID}, "client_secret": {testClientSecret}}
	resp, err := http.PostForm(w.sim.URL+"/api/oauth2/token", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the other installation's refresh: status %d", resp.StatusCode)
	}

	if r := w.run(nil, "sync", "--entity", "accounts"); r.code == 0 {
		t.Fatalf("sync with a chain refreshed elsewhere succeeded: %s", r)
	}
	const says = "another installation is using the same Exact user and app"
	status := w.mustRun("auth", "status")
	if !strings.Contains(status.stdout, "reauth_required: "+says) || !strings.Contains(status.stdout, "auth login --replace") {
		t.Errorf("auth status does not report the other installation:\n%s", status.stdout)
	}
	doctor := w.run(nil, "doctor")
	if doctor.code == 0 || !strings.Contains(doctor.stdout+doctor.stderr, says) {
		t.Errorf("doctor does not report the other installation:\n%s", doctor)
	}
}
