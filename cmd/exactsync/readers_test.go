package main

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/sink/sinktest"
)

// runInput runs a command in process with stdin.
func (p *inProcess) runInput(stdin string, args ...string) result {
	var out, errb bytes.Buffer
	e := &env{ctx: context.Background(), stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
		getenv: func(k string) string { return p.vars[k] }, now: p.clock.now, sleep: p.clock.sleep}
	code := runEnv(e, args)
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// TestReadersCommands: readers add, list and remove, as an operator uses them, and the
// connection string add prints, used by an application.
func TestReadersCommands(t *testing.T) {
	t.Parallel()
	p := newInProcess(t)
	ctx := context.Background()
	if _, err := p.pool.Exec(ctx, `INSERT INTO exact.accounts (division, id, exact_timestamp, raw)
		SELECT d, gen_random_uuid(), 1, '{}' FROM unnest(ARRAY[101, 101, 102]) d`); err != nil {
		t.Fatal(err)
	}
	name := sinktest.NewRoleName(t, "cli", p.vars["DATABASE_URL"])
	const password = "Reader-pass: 0123456789!"

	r := p.runInput(password+"\n", "readers", "add", name, "--divisions", "101", "--password-stdin")
	if r.code != exitOK {
		t.Fatalf("readers add: %s", r)
	}
	if !strings.HasPrefix(r.stdout, "created reader "+name+": sees division 101 in schemas exact, exact_history and exact_status") {
		t.Errorf("readers add printed %q", r.stdout)
	}
	if strings.Contains(r.stdout+r.stderr, password) {
		t.Errorf("readers add printed the password")
	}
	m := regexp.MustCompile(`connect as it: (\S+)`).FindStringSubmatch(r.stdout)
	if m == nil || !strings.Contains(m[1], name+":<password>@") {
		t.Fatalf("readers add printed no connection string with a password placeholder:\n%s", r.stdout)
	}
	conn, err := pgx.Connect(ctx, strings.Replace(m[1], "<password>", "any", 1)) // the test server trusts local connections
	if err != nil {
		t.Fatalf("connecting as printed: %v", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT division FROM exact.accounts ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	divs, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil || !slices.Equal(divs, []int32{101, 101}) {
		t.Errorf("the reader of division 101 reads divisions %v (%v), want [101 101]", divs, err)
	}

	r = p.run("readers", "list")
	if r.code != exitOK || !regexp.MustCompile(`(?m)^`+name+` +yes +division 101 `).MatchString(r.stdout) {
		t.Errorf("readers list: %s", r)
	}
	r = p.run("readers", "add", name, "--divisions", "102,101")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "updated reader "+name+": sees divisions 101, 102") || !strings.Contains(r.stdout, "connect as it") {
		t.Errorf("readers add again: %s", r)
	}
	r = p.run("readers", "add", name)
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "updated reader "+name+": sees all divisions") {
		t.Errorf("readers add without divisions: %s", r)
	}

	taken := sinktest.NewRoleName(t, "taken", p.vars["DATABASE_URL"])
	if _, err := p.pool.Exec(ctx, `CREATE ROLE `+taken); err != nil {
		t.Fatal(err)
	}
	mistakes := []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"a name PostgreSQL would fold", "", []string{"readers", "add", "BI"}, "not a valid reader name"},
		{"a division that is none", "", []string{"readers", "add", "bi_app", "--divisions", "0"}, "--divisions: 0 is not a division code"},
		{"no password on stdin", "\n", []string{"readers", "add", "bi_app", "--password-stdin"}, "standard input holds no password"},
		{"a role not made by exactsync", "", []string{"readers", "add", taken}, "choose another name"},
		{"removing no reader", "", []string{"readers", "remove", "bi_app"}, "bi_app is not a reader of this database"},
	}
	for _, tt := range mistakes {
		t.Run(tt.name, func(t *testing.T) {
			r := p.runInput(tt.stdin, tt.args...)
			if r.code != exitUsage || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("%v: %s; want exit 2 and one line", tt.args, r)
			}
			checkErrorLine(t, r, tt.want)
		})
	}

	r = p.run("readers", "remove", name)
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "removed reader "+name+": role dropped") {
		t.Errorf("readers remove: %s", r)
	}
	if _, err := conn.Exec(ctx, `SELECT count(*) FROM exact.accounts`); err == nil {
		t.Errorf("the session of a removed reader still reads exact.accounts")
	}
	if r := p.run("readers", "list"); r.code != exitOK || !strings.HasPrefix(r.stdout, "no readers") {
		t.Errorf("readers list after remove: %s", r)
	}
	var roles int
	if err := p.pool.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname = $1`, name).Scan(&roles); err != nil || roles != 0 {
		t.Errorf("%d roles %s after readers remove (%v)", roles, name, err)
	}
}
