package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// cmdClock is a command's clock that moves only when the command waits, and moves the
// simulator's clock with it: a wait of 570 s takes no time.
type cmdClock struct {
	mu  gosync.Mutex
	t   time.Time
	sim *exacttest.Server
}

func (c *cmdClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *cmdClock) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
	c.sim.Advance(d)
	return ctx.Err()
}

// inProcess is the simulator and a database for commands run in this process.
type inProcess struct {
	t     *testing.T
	sim   *exacttest.Server
	clock *cmdClock
	vars  map[string]string
	pool  *pgxpool.Pool
}

func newInProcess(t *testing.T) *inProcess {
	t.Helper()
	return newInProcessAt(t, sinktest.NewMigratedDatabase(t))
}

// newInProcessAt is newInProcess on the migrated database at dbURL.
func newInProcessAt(t *testing.T, dbURL string) *inProcess {
	t.Helper()
	sim := exacttest.NewServer(exacttest.Options{ClientID: testClientID, ClientSecret: testClientSecret, Divisions: []int{101}, Accounts: 5, Seed: 3, DailyLimit: 5000, MinutelyLimit: 60,
		Start: time.Now()})
	t.Cleanup(sim.Close)
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &inProcess{t: t, sim: sim, pool: pool, clock: &cmdClock{t: time.Now(), sim: sim}, vars: map[string]string{
		"DATABASE_URL": dbURL, "EXACT_BASE_URL": sim.URL, "EXACT_CLIENT_ID": testClientID,
		"EXACT_CLIENT_SECRET": testClientSecret, "EXACTSYNC_STATE_DIR": t.TempDir(),
	}}
}

func (p *inProcess) run(args ...string) result {
	var out, errb bytes.Buffer
	e := &env{ctx: context.Background(), stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		getenv: func(k string) string { return p.vars[k] }, environ: p.environ, now: p.clock.now, sleep: p.clock.sleep}
	code := runEnv(e, args)
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// environ is the environment of the commands: the variables set.
func (p *inProcess) environ() []string {
	var out []string
	for k, v := range p.vars {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	return out
}

// freshToken refreshes the simulator's chain as Postman would, and returns the new
// refresh token: its access token was issued just now, so Exact refuses to refresh it
// for 570 s (§1.8).
func (p *inProcess) freshToken() string {
	p.t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {p.sim.RefreshToken()},
		"client_id": {testClientID}, "client_secret": {testClientSecret}}
	resp, err := http.PostForm(p.sim.URL+"/api/oauth2/token", form)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 || tok.RefreshToken == "" {
		p.t.Fatalf("refreshing as Postman would: status %d, %v", resp.StatusCode, err)
	}
	return tok.RefreshToken
}

func TestImportOfAFreshTokenCountsDownThenChecksIt(t *testing.T) {
	p := newInProcess(t)
	token := p.freshToken()
	start := p.clock.now()
	r := p.run("auth", "import", "--refresh-token", token)
	if r.code != exitOK {
		t.Fatalf("auth import: %s", r)
	}
	if !strings.Contains(r.stdout, "is ready") {
		t.Errorf("stdout lacks the ready line:\n%s", r)
	}
	for _, want := range []string{"570 s after its access token was issued", "--no-check", "waiting 9m"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if n := strings.Count(r.stderr, "more for Exact to allow the refresh"); n < 9 {
		t.Errorf("%d countdown lines, want one a minute over 9.5 minutes:\n%s", n, r.stderr)
	}
	if waited := p.clock.now().Sub(start); waited < 570*time.Second || waited > 600*time.Second {
		t.Errorf("waited %s on the command's clock, want 570 s to 600 s", waited)
	}
	st := p.sim.Stats()
	if st.TokenCalls["refresh_token/too_early"] != 1 || st.TokenCalls["refresh_token/ok"] != 2 {
		t.Errorf("token calls %v, want Postman's ok, one too early, then one ok", st.TokenCalls)
	}
}

func TestImportOfAFreshTokenWithNoCheckStoresItForTheFirstRun(t *testing.T) {
	p := newInProcess(t)
	token := p.freshToken()
	r := p.run("auth", "import", "--no-check", "--refresh-token", token)
	if r.code != exitOK || !strings.Contains(r.stdout, "stored, unchecked") {
		t.Fatalf("auth import --no-check: %s", r)
	}
	if n := p.sim.Stats().TotalTokenCalls(); n != 1 {
		t.Errorf("%d token calls, want only Postman's", n)
	}
	if strings.Contains(r.stderr, "waiting") {
		t.Errorf("--no-check waited:\n%s", r.stderr)
	}
	// The first run proves it, once Exact allows the refresh.
	p.sim.Advance(571 * time.Second)
	r = p.run("sync", "--entity", "accounts", "--division", "101")
	if r.code != exitOK || !strings.Contains(r.stdout, "accounts division 101: ok, 5 accounts upserted") {
		t.Fatalf("first sync after --no-check: %s", r)
	}
}

func TestSkipExistingKeepsTheConnection(t *testing.T) {
	p := newInProcess(t)
	if r := p.run("auth", "import", "--refresh-token", p.sim.RefreshToken()); r.code != exitOK {
		t.Fatalf("first import: %s", r)
	}
	// The importer of a compose file runs again with the token it was given, long used.
	used := "SDFu!used-long-ago-0123456789"
	r := p.run("auth", "import", "--skip-existing", "--refresh-token", used)
	if r.code != exitOK || !strings.Contains(r.stdout, "already exists; kept it") {
		t.Fatalf("second import: %s", r)
	}
	var n int
	if err := p.pool.QueryRow(context.Background(), `SELECT count(*) FROM exact_sync.connections`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d connections (%v), want 1", n, err)
	}
}

// TestPlaintextWarningOnlyWhenSecretsAreStoredSo: no warning when nothing is stored or
// everything is encrypted; one per command when secrets are stored in plaintext, as
// EXACTSYNC_ENCRYPTION_KEY=none asks.
func TestPlaintextWarningOnlyWhenSecretsAreStoredSo(t *testing.T) {
	const warning = "secrets are stored unencrypted"
	p := newInProcess(t)
	p.vars["EXACTSYNC_ENCRYPTION_KEY"] = "none"
	if r := p.run("auth", "status"); r.code != exitOK || strings.Contains(r.stderr, warning) {
		t.Errorf("empty database: %s", r)
	}
	r := p.run("auth", "import", "--refresh-token", p.sim.RefreshToken())
	if r.code != exitOK || strings.Count(r.stderr, warning) != 1 {
		t.Errorf("import without a key: want one warning, got %s", r)
	}
	if r := p.run("auth", "status"); strings.Count(r.stderr, warning) != 1 {
		t.Errorf("status with plaintext secrets: want one warning, got %s", r)
	}

	for name, key := range map[string]string{"a key": strings.Repeat("ab", 32), "no key configured": ""} {
		q := newInProcess(t)
		q.vars["EXACTSYNC_ENCRYPTION_KEY"] = key
		for _, args := range [][]string{{"auth", "import", "--refresh-token", q.sim.RefreshToken()}, {"auth", "status"}} {
			if r := q.run(args...); r.code != exitOK || strings.Contains(r.stderr, warning) {
				t.Errorf("%v with %s: %s", args, name, r)
			}
		}
	}
}
