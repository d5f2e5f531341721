package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/seal"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// The end-to-end tests run the real exactsync binary against the simulator
// (over HTTP) and a real PostgreSQL database.

// world is one simulator and one database.
type world struct {
	t     *testing.T
	sim   *exacttest.Server
	dbURL string
	pool  *pgxpool.Pool
	env   map[string]string

	mu   gosync.Mutex
	logs []string // everything the commands printed

	plain bool // run plainBinary instead of binary
}

const (
	testClientID     = "e2e-client"
	testClientSecret = "e2e-secret-value-0123456789"
)

func newWorld(t *testing.T, opts exacttest.Options) *world {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the exactsync binary against the simulator; skipped with -short")
	}
	opts.ClientID, opts.ClientSecret = testClientID, testClientSecret
	if opts.Seed == 0 {
		opts.Seed = 7
	}
	sim := exacttest.NewServer(opts)
	t.Cleanup(sim.Close)
	return newWorldAt(t, sim, opts.Divisions, "debug")
}

// newWorldAt is a world whose commands reach Exact at sim.URL (the simulator, or a handler
// in front of it) and a fresh migrated database, with divisions configured and logs at
// logLevel.
func newWorldAt(t *testing.T, sim *exacttest.Server, divisions []int, logLevel string) *world {
	t.Helper()
	dbURL := sinktest.NewMigratedDatabase(t)
	divs := make([]string, len(divisions))
	for i, d := range divisions {
		divs[i] = fmt.Sprint(d)
	}
	w := &world{t: t, sim: sim, dbURL: dbURL, pool: sinktest.NewPool(t, dbURL), env: map[string]string{
		"DATABASE_URL":        dbURL,
		"EXACT_BASE_URL":      sim.URL,
		"EXACT_CLIENT_ID":     testClientID,
		"EXACT_CLIENT_SECRET": testClientSecret,
		"EXACT_DIVISIONS":     strings.Join(divs, ","),
		"LOG_LEVEL":           logLevel,
		// A state directory of its own: the key exactsync generates is kept there.
		"EXACTSYNC_STATE_DIR": t.TempDir(),
	}}
	first := sim.RefreshToken()
	// Whatever a test does, nothing any command printed may contain a
	// secret: the client secret, the first and the last refresh token of
	// the simulator, or a token stored in the database.
	t.Cleanup(func() { w.checkNoSecrets(first, sim.RefreshToken()) })
	// With -race the binaries detect races too (binaries_test.go): a report in any
	// command's output fails the test, whatever the command's exit.
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if report := raceReport(w.logs); report != "" {
			t.Errorf("a command reported a data race:\n%s", report)
		}
	})
	return w
}

// keyring is the key the world's commands seal secrets with: EXACTSYNC_ENCRYPTION_KEY,
// else the one exactsync generated into the state directory; nil when there is none.
func (w *world) keyring() *seal.Keyring {
	w.t.Helper()
	raw := w.env["EXACTSYNC_ENCRYPTION_KEY"]
	if raw == "" || raw == "none" {
		b, err := os.ReadFile(filepath.Join(w.env["EXACTSYNC_STATE_DIR"], seal.KeyFile))
		if err != nil {
			return nil
		}
		raw = string(b)
	}
	k, err := seal.ParseKey(raw)
	if err != nil {
		w.t.Fatalf("the world's key: %v", err)
	}
	kr, err := seal.NewKeyring(k)
	if err != nil {
		w.t.Fatal(err)
	}
	return kr
}

// storedSecrets are the stored access and refresh tokens of every connection, opened with
// the world's key, and as stored.
func (w *world) storedSecrets() []string {
	w.t.Helper()
	ctx := context.Background()
	var out []string
	rows, err := w.pool.Query(ctx, `SELECT access_token, refresh_token FROM exact_sync.connections`)
	if err != nil {
		return nil
	}
	var access, refresh string
	pgx.ForEachRow(rows, []any{&access, &refresh}, func() error {
		out = append(out, access, refresh)
		return nil
	})
	st, err := sink.Open(ctx, sink.Config{DatabaseURL: w.dbURL, Keyring: w.keyring()})
	if err != nil {
		return out
	}
	defer st.Close()
	conns, _ := st.Connections(ctx)
	for _, c := range conns {
		if tok, err := st.LoadToken(ctx, c.ID); err == nil {
			out = append(out, tok.AccessToken, tok.RefreshToken)
		}
	}
	return out
}

// raceReport returns the first data race report in outputs, "" when there is none.
func raceReport(outputs []string) string {
	const start, end = "WARNING: DATA RACE", "=================="
	for _, out := range outputs {
		i := strings.Index(out, start)
		if i < 0 {
			continue
		}
		report := out[i:]
		if j := strings.Index(report, end); j >= 0 {
			report = report[:j]
		}
		return report
	}
	return ""
}

// checkNoSecrets fails the test when a command's output contains a secret.
func (w *world) checkNoSecrets(known ...string) {
	w.t.Helper()
	secrets := append(append([]string{testClientSecret}, known...), w.storedSecrets()...)
	w.mu.Lock()
	all := strings.Join(w.logs, "\n")
	w.mu.Unlock()
	for _, s := range secrets {
		if len(s) >= 8 && strings.Contains(all, s) {
			w.t.Errorf("a command printed a secret (%d chars starting %q)", len(s), s[:4])
		}
	}
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// cmd prepares the binary with the world's environment plus extra.
func (w *world) cmd(extra map[string]string, args ...string) *exec.Cmd {
	w.t.Helper()
	bin := binary
	if w.plain {
		bin = plainBinary
	}
	c := exec.Command(bin(w.t), args...)
	c.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
	for k, v := range w.env {
		if _, ok := extra[k]; !ok {
			c.Env = append(c.Env, k+"="+v)
		}
	}
	for k, v := range extra {
		if v != "" {
			c.Env = append(c.Env, k+"="+v)
		}
	}
	return c
}

func (w *world) run(extra map[string]string, args ...string) result {
	w.t.Helper()
	c := w.cmd(extra, args...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		w.t.Fatalf("running exactsync %v: %v", args, err)
	}
	r := result{stdout: out.String(), stderr: errb.String(), code: code}
	w.mu.Lock()
	w.logs = append(w.logs, r.stdout, r.stderr)
	w.mu.Unlock()
	return r
}

func (w *world) mustRun(args ...string) result {
	w.t.Helper()
	r := w.run(nil, args...)
	if r.code != 0 {
		w.t.Fatalf("exactsync %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// expireToken lets ten minutes pass for the stored access token, in the
// simulator's clock and in the times stored with the token, as if the
// processes had been idle that long.
func (w *world) expireToken() {
	w.t.Helper()
	w.sim.Advance(10 * time.Minute)
	_, err := w.pool.Exec(context.Background(), `
		UPDATE exact_sync.connections SET
			access_token_expires_at = access_token_expires_at - interval '10 minutes',
			access_token_issued_at = access_token_issued_at - interval '10 minutes'`)
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) importToken() {
	w.t.Helper()
	w.mustRun("auth", "import", "--refresh-token", w.sim.RefreshToken())
}

// row is a table row as a downstream app reads it.
type row struct {
	Division   int32
	ID         string
	Code       string
	Name       string
	IsSupplier bool
	IsSales    bool
	Status     *string
	Email      *string
	City       *string
	Country    *string
	VATNumber  *string
	Blocked    bool
	Created    *time.Time
	Modified   *time.Time
	Timestamp  int64
	RawName    string
	RawHasMeta bool
}

func (w *world) rows(table string) map[string]row {
	w.t.Helper()
	rs, err := w.pool.Query(context.Background(), `
		SELECT division, id::text, code, name, is_supplier, is_sales, status, email, city, country,
		       vat_number, blocked, created, modified, exact_timestamp, raw->>'Name', raw ? '__metadata'
		FROM `+table)
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string]row{}
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.Division, &r.ID, &r.Code, &r.Name, &r.IsSupplier, &r.IsSales, &r.Status, &r.Email,
			&r.City, &r.Country, &r.VATNumber, &r.Blocked, &r.Created, &r.Modified, &r.Timestamp, &r.RawName, &r.RawHasMeta); err != nil {
			w.t.Fatal(err)
		}
		out[fmt.Sprintf("%d/%s", r.Division, r.ID)] = r
	}
	if err := rs.Err(); err != nil {
		w.t.Fatal(err)
	}
	return out
}

// want is what a table should hold according to the simulator's truth.
func (w *world) want(divisions []int, suppliersOnly bool) map[string]row {
	out := map[string]row{}
	for _, d := range divisions {
		for _, a := range w.sim.Accounts(d) {
			if suppliersOnly && !a.IsSupplier {
				continue
			}
			status := a.Status
			created, modified := asServed(a.Created), asServed(a.Modified)
			out[fmt.Sprintf("%d/%s", d, a.ID)] = row{
				Division: int32(d), ID: a.ID, Code: strings.TrimSpace(a.Code), Name: a.Name,
				IsSupplier: a.IsSupplier, IsSales: a.IsSales, Status: &status, Email: a.Email, City: a.City,
				Country: a.Country, VATNumber: a.VATNumber, Blocked: a.Blocked,
				Created: &created, Modified: &modified, Timestamp: a.Timestamp, RawName: a.Name,
			}
		}
	}
	return out
}

var amsterdam = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		panic(err)
	}
	return loc
}()

// asServed is the instant a client can know of t: Exact serves dates as
// Amsterdam wall-clock time (docs/exact-online.md §3.8), so in the hour that occurs
// twice each autumn the second occurrence reads as the first.
func asServed(t time.Time) time.Time {
	wall := t.In(amsterdam).Format("2006-01-02 15:04:05.999999999")
	if earlier := t.Add(-time.Hour); earlier.In(amsterdam).Format("2006-01-02 15:04:05.999999999") == wall {
		return earlier.UTC()
	}
	return t.UTC()
}

var timeInUTC = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })

func (w *world) checkTables(divisions []int) {
	w.t.Helper()
	for _, tc := range []struct {
		table     string
		suppliers bool
	}{{"exact.accounts", false}, {"exact.suppliers", true}} {
		got, want := w.rows(tc.table), w.want(divisions, tc.suppliers)
		if len(got) != len(want) {
			w.t.Errorf("%s holds %d rows, want %d", tc.table, len(got), len(want))
		}
		if diff := cmp.Diff(want, got, timeInUTC); diff != "" {
			w.t.Errorf("%s differs from the simulator (-want +got):\n%s", tc.table, diff)
		}
	}
}

func TestFullSyncStoresTheSimulatorsAccountsAndSuppliers(t *testing.T) {
	t.Parallel()
	divs := []int{101, 102}
	w := newWorld(t, exacttest.Options{Divisions: divs, Accounts: 2100})
	w.importToken()
	for _, entity := range []string{"accounts", "suppliers"} {
		r := w.mustRun("sync", "--entity", entity)
		if !strings.Contains(r.stdout, entity+" division 101: ok") {
			t.Errorf("sync output does not report division 101: %s", r)
		}
	}
	w.checkTables(divs)

	// Timestamps are stored as UTC instants: the database session's zone
	// must not matter.
	var created time.Time
	var id string
	if err := w.pool.QueryRow(context.Background(),
		`SELECT id::text, created FROM exact.accounts WHERE division = 101 ORDER BY id LIMIT 1`).Scan(&id, &created); err != nil {
		t.Fatal(err)
	}
	a, _ := w.sim.Account(101, id)
	if !created.Equal(a.Created) {
		t.Errorf("created of %s = %v, want %v", id, created.UTC(), a.Created.UTC())
	}

	// Roughly 30% suppliers (docs/exact-online.md §7, simulator realism).
	n := len(w.rows("exact.suppliers"))
	if n < 2*2100*20/100 || n > 2*2100*40/100 {
		t.Errorf("%d suppliers out of %d accounts, want about 30%%", n, 2*2100)
	}
}

func TestIncrementalRunConvergesWithSyncEndpointsOnly(t *testing.T) {
	t.Parallel()
	divs := []int{101, 102}
	w := newWorld(t, exacttest.Options{Divisions: divs, Accounts: 1500})
	w.importToken()
	w.mustRun("sync", "--entity", "accounts")
	w.mustRun("sync", "--entity", "suppliers")
	before := w.sim.Stats()

	// Updates, supplier flips both ways, deletions and new accounts.
	accs := w.sim.Accounts(101)
	var changes []exacttest.Account
	flippedOff, flippedOn := 0, 0
	for i := 0; i < 60; i++ {
		a := accs[i*7]
		switch i % 3 {
		case 0:
			a.Name = "Gewijzigd " + a.Name
			a.City = nil
		case 1:
			if a.IsSupplier {
				flippedOff++
			} else {
				flippedOn++
			}
			a.IsSupplier = !a.IsSupplier
		case 2:
			a.Blocked = !a.Blocked
		}
		changes = append(changes, a)
	}
	if err := w.sim.UpsertAccounts(101, changes...); err != nil {
		t.Fatal(err)
	}
	if flippedOff == 0 || flippedOn == 0 {
		t.Fatalf("test data flips %d off and %d on; want both", flippedOff, flippedOn)
	}
	var gone []string
	for i := 0; i < 25; i++ {
		gone = append(gone, accs[500+i*3].ID)
	}
	if err := w.sim.DeleteAccounts(101, gone...); err != nil {
		t.Fatal(err)
	}
	city := "Zwolle"
	if err := w.sim.UpsertAccounts(102, exacttest.Account{
		ID: "0d7a9c1e-1b2c-4d5e-8f90-a1b2c3d4e5f6", Code: "999999", Name: "Nieuwe Leverancier Ü", IsSupplier: true,
		Status: "C", City: &city,
	}); err != nil {
		t.Fatal(err)
	}

	for _, entity := range []string{"accounts", "suppliers"} {
		w.mustRun("sync", "--entity", entity)
	}
	w.checkTables(divs)

	after := w.sim.Stats()
	for key, n := range after.APICalls {
		if n == before.APICalls[key] {
			continue
		}
		if !strings.HasSuffix(key, " sync/CRM/Accounts") && !strings.HasSuffix(key, " sync/Deleted") {
			t.Errorf("incremental runs called %s (%d times); want only sync endpoints", key, n-before.APICalls[key])
		}
	}
	// Nothing changed since: a rerun costs at most 2 calls per entity and division.
	before = w.sim.Stats()
	w.mustRun("sync", "--entity", "accounts")
	after = w.sim.Stats()
	calls := 0
	for key, n := range after.APICalls {
		calls += n - before.APICalls[key]
	}
	if calls > 2*len(divs) {
		t.Errorf("an incremental run with nothing changed made %d calls, want at most %d", calls, 2*len(divs))
	}
	w.checkTables(divs)
}

func TestTwoProcessesRefreshTheTokenOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 300})
	w.importToken()
	w.expireToken()
	before := w.sim.Stats().TotalTokenCalls()

	var wg gosync.WaitGroup
	results := make([]result, 2)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = w.run(nil, "sync", "--entity", "accounts")
		}(i)
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("process %d: %s", i, r)
		}
	}
	w.checkTablesAccountsOnly([]int{101})
	st := w.sim.Stats()
	if got := st.TotalTokenCalls() - before; got != 1 {
		t.Errorf("two processes made %d token calls, want 1 (stats %+v)", got, st.TokenCalls)
	}
	if st.RefreshReuseRejections != 0 || st.EarlyRefreshRejections != 0 {
		t.Errorf("refresh rejections: reuse %d, early %d; want none", st.RefreshReuseRejections, st.EarlyRefreshRejections)
	}
}

func TestSecondRunWithin570sMakesNoTokenCall(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 200})
	w.importToken()
	w.mustRun("sync", "--entity", "accounts")
	before := w.sim.Stats().TotalTokenCalls()
	w.sim.Advance(4 * time.Minute)
	w.mustRun("sync", "--entity", "suppliers")
	w.mustRun("sync", "--entity", "accounts")
	if got := w.sim.Stats().TotalTokenCalls() - before; got != 0 {
		t.Errorf("runs within 570 s made %d token calls, want 0", got)
	}
}

// TestBadInput checks that each mistake gets one clear line, a non-zero
// exit and nothing half-written.
func TestBadInput(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 50})

	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		wantIn   []string
	}{
		{"unknown entity", nil, []string{"sync", "--entity", "invoices"}, 2,
			[]string{`unknown entity "invoices"`, "exactsync entities"}},
		{"missing client id", map[string]string{"EXACT_CLIENT_ID": ""}, []string{"auth", "import", "--refresh-token", "abc!def"}, 2,
			[]string{"EXACT_CLIENT_ID"}},
		{"missing client secret and database", map[string]string{"EXACT_CLIENT_SECRET": "", "DATABASE_URL": ""}, []string{"auth", "import", "--refresh-token", "abc!def"}, 2,
			[]string{"EXACT_CLIENT_SECRET", "DATABASE_URL"}},
		{"unreachable database", map[string]string{"DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere?connect_timeout=2"}, []string{"sync", "--entity", "accounts"}, 1,
			[]string{"127.0.0.1:1"}},
		{"unreachable API", map[string]string{"EXACT_BASE_URL": "http://127.0.0.1:1"}, []string{"auth", "import", "--refresh-token", "abc!def"}, 1,
			[]string{"127.0.0.1:1"}},
		{"remote plain http", map[string]string{"EXACT_BASE_URL": "http://start.exactonline.nl"}, []string{"sync", "--entity", "accounts"}, 2,
			[]string{"EXACT_BASE_URL", "https"}},
		{"division 0", nil, []string{"sync", "--entity", "accounts", "--division", "0"}, 2,
			[]string{"--division 0", "positive"}},
		{"negative division", nil, []string{"sync", "--entity", "accounts", "--division=-3"}, 2,
			[]string{"--division -3"}},
		{"percent-encoded token", nil, []string{"auth", "import", "--refresh-token", "abc%21def"}, 2,
			[]string{"%21"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := w.run(tt.env, tt.args...)
			if r.code != tt.wantCode {
				t.Errorf("exit code %d, want %d\n%s", r.code, tt.wantCode, r)
			}
			checkErrorLine(t, r, tt.wantIn...)
		})
	}

	// None of the above wrote a connection or a row.
	var n int
	err := w.pool.QueryRow(context.Background(), `SELECT count(*) FROM exact_sync.connections`).Scan(&n)
	if err != nil && !strings.Contains(err.Error(), "does not exist") {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("bad input left %d connections behind, want 0", n)
	}
}

func TestRevokedTokenIsReportedNotRetried(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 50})
	w.importToken()
	// The user authorizes the app again elsewhere: the chain we hold is
	// invalidated (docs/exact-online.md §1.9).
	w.expireToken()
	w.consentAgain()
	before := w.sim.Stats().TotalTokenCalls()
	r := w.run(nil, "sync", "--entity", "accounts")
	if r.code == 0 {
		t.Fatalf("sync with a revoked token succeeded: %s", r)
	}
	line := lastLine(r.stderr)
	for _, s := range []string{"re-authoriz", "auth import"} {
		if !strings.Contains(line, s) {
			t.Errorf("error line %q does not mention %q", line, s)
		}
	}
	// The next run does not call Exact's token endpoint again.
	r = w.run(nil, "sync", "--entity", "accounts")
	if r.code == 0 || !strings.Contains(lastLine(r.stderr), "re-authorization") {
		t.Errorf("second run: %s", r)
	}
	if got := w.sim.Stats().TotalTokenCalls() - before; got > 1 {
		t.Errorf("%d token calls after the chain broke, want at most 1", got)
	}
	var state string
	if err := w.pool.QueryRow(context.Background(), `SELECT state FROM exact_sync.connections`).Scan(&state); err != nil {
		t.Fatal(err)
	}
	if state != "reauth_required" {
		t.Errorf("connection state %q, want reauth_required", state)
	}
}

func TestMalformedJSONNamesEndpointAndPageAndWritesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 2500})
	w.importToken()
	w.sim.SetFaults(exacttest.Faults{TruncateRate: 1})
	r := w.run(nil, "sync", "--entity", "accounts")
	w.sim.SetFaults(exacttest.Faults{})
	if r.code == 0 {
		t.Fatalf("sync of truncated JSON succeeded: %s", r)
	}
	line := lastLine(r.stderr)
	for _, s := range []string{"sync/CRM/Accounts", "page 1", "division 101"} {
		if !strings.Contains(line, s) {
			t.Errorf("error line %q does not mention %q", line, s)
		}
	}
	if n := len(w.rows("exact.accounts")); n != 0 {
		t.Errorf("%d rows written from malformed pages, want 0", n)
	}
	// Every call counts, also those whose answer could not be read (fetched twice).
	var calls int
	if err := w.pool.QueryRow(context.Background(),
		`SELECT api_calls FROM exact_sync.runs WHERE entity = 'accounts' ORDER BY id DESC LIMIT 1`).Scan(&calls); err != nil {
		t.Fatal(err)
	}
	if served := w.sim.Stats().Calls(101, "sync/CRM/Accounts"); calls != served || calls < 2 {
		t.Errorf("the run recorded %d API calls, the simulator served %d; want them equal (at least 2)", calls, served)
	}
	w.mustRun("sync", "--entity", "accounts")
	w.checkTablesAccountsOnly([]int{101})
}

func (w *world) checkTablesAccountsOnly(divisions []int) {
	w.t.Helper()
	got, want := w.rows("exact.accounts"), w.want(divisions, false)
	if diff := cmp.Diff(want, got, timeInUTC); diff != "" {
		w.t.Errorf("exact.accounts differs from the simulator (-want +got):\n%s", diff)
	}
}

// TestNoSecretsInOutput runs the commands with debug logging and checks
// that no token and no client secret appears anywhere in their output.
func TestNoSecretsInOutput(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 1200})
	first := w.sim.RefreshToken()
	w.importToken()
	w.mustRun("sync", "--entity", "accounts")
	w.expireToken()
	w.mustRun("sync", "--entity", "suppliers", "--full")
	status := w.mustRun("auth", "status")
	secrets := append([]string{testClientSecret, first, w.sim.RefreshToken()}, w.storedSecrets()...)
	if len(secrets) != 7 {
		t.Fatalf("%d secrets to look for, want 7: the client secret, two refresh tokens, the stored pair sealed and opened", len(secrets))
	}
	all := strings.Join(w.logs, "\n")
	if !strings.Contains(all, `"level":"debug"`) {
		t.Fatalf("no debug lines were logged; the test would prove nothing")
	}
	for _, s := range secrets {
		if len(s) < 8 {
			t.Fatalf("secret %q too short to search for", s)
		}
		if strings.Contains(all, s) {
			t.Errorf("output contains a secret (%d chars starting %q)", len(s), s[:4])
		}
	}
	if !strings.Contains(status.stdout, "client secret:") {
		t.Fatalf("auth status shows no connection; the test would prove nothing:\n%s", status)
	}
	for _, s := range secrets {
		if strings.Contains(status.stdout+status.stderr, s) {
			t.Errorf("auth status output contains a secret (%d chars starting %q)", len(s), s[:4])
		}
	}
	if strings.Contains(strings.ToLower(all), "bearer ") || strings.Contains(all, "Authorization") {
		t.Errorf("output mentions an Authorization header")
	}
}

// consentAgain goes through the authorization-code flow once more, as a
// user who connects the same app a second time would.
func (w *world) consentAgain() {
	w.t.Helper()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	redirect := "https://localhost:8443/callback" // the simulator's default registered redirect URI
	q := url.Values{"client_id": {testClientID}, "redirect_uri": {redirect}, "response_type": {"code"}, "state": {"x"}}
	resp, err := noRedirect.Get(w.sim.URL + "/api/oauth2/auth?" + q.Encode())
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		w.t.Fatalf("consent redirect %q (status %d) has no code", resp.Header.Get("Location"), resp.StatusCode)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {redirect},
		"client_id": {testClientID}, "client_secret": {testClientSecret}}
	resp, err = http.PostForm(w.sim.URL+"/api/oauth2/token", form)
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		w.t.Fatalf("code exchange: status %d", resp.StatusCode)
	}
}

// checkErrorLine checks that a command ended with one error line, prefixed
// "exactsync: ", mentioning each of want.
func checkErrorLine(t *testing.T, r result, want ...string) {
	t.Helper()
	line := lastLine(r.stderr)
	if !strings.HasPrefix(line, "exactsync: ") {
		t.Errorf("last stderr line %q does not start with exactsync:", line)
	}
	for _, s := range want {
		if !strings.Contains(line, s) {
			t.Errorf("error line %q does not mention %q", line, s)
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// poll calls cond every interval until it holds or d passes, and tells whether it held.
// The fault tests poll every 2 ms, to act at a chosen point of a sync.
func poll(d, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(interval)
	}
	return cond()
}
