package sink_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	gosync "sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/exactsync/exactsync/exact/catalogue"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// The tests of this file connect to PostgreSQL as reader roles, as the applications that
// use them do. Roles are the server's: each test's are named uniquely and dropped when it
// ends (sinktest.NewRoleName).

// addReader makes a reader with a unique name that logs in (the test server trusts local
// connections, so the password only makes it LOGIN) and sees divisions (nil: all).
func addReader(t *testing.T, st *sink.Store, dbURL, prefix string, divisions ...int) string {
	t.Helper()
	name := sinktest.NewRoleName(t, prefix, dbURL)
	created, err := st.AddReader(testContext(t), name, divisions, "reader-password-"+prefix)
	if err != nil {
		t.Fatalf("adding reader %s: %v", name, err)
	}
	if !created {
		t.Fatalf("adding reader %s: created false for a new role", name)
	}
	return name
}

// connectAs opens a pool on dbURL logged in as role, closed when the test ends.
func connectAs(t *testing.T, dbURL, role string) *pgxpool.Pool {
	t.Helper()
	return sinktest.NewPool(t, sinktest.ConnectAs(t, dbURL, role))
}

// keyValue is a value of the key column of e for row n.
func keyValue(t *testing.T, e catalogue.Entity, n int) any {
	t.Helper()
	for _, c := range e.Columns {
		if c.Name != e.KeyColumn {
			continue
		}
		switch c.SQL {
		case "uuid":
			return uuidN(n)
		case "integer", "bigint":
			return n
		case "text":
			return fmt.Sprintf("key-%d", n)
		}
		t.Fatalf("%s: key column %s of type %s", e.Table, c.Name, c.SQL)
	}
	t.Fatalf("%s: no key column %s", e.Table, e.KeyColumn)
	return nil
}

// entityTables are the catalogue's tables, deprecated entities left out.
func entityTables() []catalogue.Entity {
	var out []catalogue.Entity
	for _, e := range catalogue.All() {
		if !e.Deprecated {
			out = append(out, e)
		}
	}
	return out
}

// seedEveryTable stores one row per division of divisions in every table of exact, and a
// run, a cursor and a quarantined record per division in exact_sync.
func seedEveryTable(t *testing.T, st *sink.Store, divisions ...int) {
	t.Helper()
	ctx := testContext(t)
	b := &pgx.Batch{}
	for _, e := range entityTables() {
		for i, d := range divisions {
			b.Queue(`INSERT INTO `+e.Table+` (division, `+e.KeyColumn+`, exact_timestamp, raw) VALUES ($1, $2, 1, '{}')`, d, keyValue(t, e, i+1))
		}
	}
	conn := newConnection(t, st)
	for _, d := range divisions {
		b.Queue(`INSERT INTO exact_sync.runs (connection_id, division, entity, status, finished_at) VALUES ($1, $2, 'accounts', 'ok', now())`, conn.ID, d)
		b.Queue(`INSERT INTO exact_sync.cursors (connection_id, division, entity, cursor_timestamp) VALUES ($1, $2, 'accounts', 42)`, conn.ID, d)
		b.Queue(`INSERT INTO exact_sync.verifications (connection_id, division, entity, started_at, status) VALUES ($1, $2, 'accounts', now(), 'clean')`, conn.ID, d)
		b.Queue(`INSERT INTO exact_sync.rejected_records (connection_id, division, entity, ref, reason, record) VALUES ($1, $2, 'accounts', 'sha256:x', 'field Name: a NUL character', '\x00ff'::bytea)`, conn.ID, d)
		// The change log's entry of the rows above, as the sink's writes add it.
		b.Queue(`INSERT INTO exact_sync.changes (table_name, division, keys) VALUES ('accounts', $1, '{}')`, d)
	}
	if err := st.Pool().SendBatch(ctx, b).Close(); err != nil {
		t.Fatalf("seeding the tables: %v", err)
	}
}

// divisionsIn returns the divisions of the rows of relation that q sees, sorted, repeats
// included.
func divisionsIn(t *testing.T, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, relation string) []int {
	t.Helper()
	rows, err := q.Query(testContext(t), `SELECT division FROM `+relation+` ORDER BY division`)
	if err != nil {
		t.Fatalf("reading %s: %v", relation, err)
	}
	ds, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatalf("reading %s: %v", relation, err)
	}
	out := make([]int, len(ds))
	for i, d := range ds {
		out[i] = int(d)
	}
	return out
}

var statusViews = []string{"exact_status.entities", "exact_status.runs", "exact_status.rejected_records", "exact_status.verifications"}

// isPermissionDenied reports whether err is PostgreSQL's insufficient_privilege.
func isPermissionDenied(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42501"
}

func TestReaderReadsExactAndStatusOnly(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := sinktest.NewMigratedDatabase(t)
	st := sinktest.OpenStore(t, sink.Config{DatabaseURL: url})
	seedEveryTable(t, st, 101, 102)
	reader := connectAs(t, url, addReader(t, st, url, "all"))

	tables := 0
	for _, e := range entityTables() {
		tables++
		if got := divisionsIn(t, reader, e.Table); !slices.Equal(got, []int{101, 102}) {
			t.Errorf("a reader of every division sees divisions %v in %s, want [101 102]", got, e.Table)
		}
	}
	if tables < 70 {
		t.Fatalf("checked %d tables, want the catalogue's 70 or more", tables)
	}
	for _, v := range statusViews {
		if got := divisionsIn(t, reader, v); !slices.Equal(got, []int{101, 102}) {
			t.Errorf("a reader of every division sees divisions %v in %s, want [101 102]", got, v)
		}
	}
	// The change log, an entry per division the seeding wrote.
	if got := divisionsIn(t, reader, "(SELECT DISTINCT division FROM exact_status.changes) c"); !slices.Equal(got, []int{101, 102}) {
		t.Errorf("a reader of every division sees divisions %v in exact_status.changes, want [101 102]", got)
	}
	// The records as received, through the table's function (migration 00019).
	if got := divisionsIn(t, reader, "(SELECT division, exact.received(t) FROM exact.accounts t) r"); !slices.Equal(got, []int{101, 102}) {
		t.Errorf("a reader of every division reads exact.received(t) of divisions %v of exact.accounts, want [101 102]", got)
	}

	// Everything exactsync keeps for itself, tables and functions, is closed to it.
	rows, err := st.Pool().Query(ctx, `SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname = 'exact_sync' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	internal, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"exact_sync.connections", "exact_sync.rejected_records", "exact_sync.readers", "exact_sync.runs"} {
		if !slices.Contains(internal, want) {
			t.Fatalf("exact_sync has no table %s: %v", want, internal)
		}
	}
	for _, table := range internal {
		_, err := reader.Exec(ctx, `SELECT * FROM `+table+` LIMIT 1`)
		if !isPermissionDenied(err) || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("a reader reading %s: got %v, want permission denied", table, err)
		}
	}
	for _, q := range []string{`SELECT exact_sync.secure_readers()`, `SELECT exact_sync.create_reader_group('x')`} {
		if _, err := reader.Exec(ctx, q); !isPermissionDenied(err) {
			t.Errorf("a reader running %s: got %v, want permission denied", q, err)
		}
	}
	// A reader may not write where it reads.
	if _, err := reader.Exec(ctx, `DELETE FROM exact.accounts`); !isPermissionDenied(err) {
		t.Errorf("a reader deleting from exact.accounts: got %v, want permission denied", err)
	}
}

func TestReaderOfADivisionSeesOnlyIt(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := sinktest.NewMigratedDatabase(t)
	st := sinktest.OpenStore(t, sink.Config{DatabaseURL: url})
	seedEveryTable(t, st, 101, 102, 103)
	name := addReader(t, st, url, "d101", 101)
	reader := connectAs(t, url, name)
	both := connectAs(t, url, addReader(t, st, url, "d101_103", 103, 101))

	for _, e := range entityTables() {
		if got := divisionsIn(t, reader, e.Table); !slices.Equal(got, []int{101}) {
			t.Errorf("the reader of division 101 sees divisions %v in %s, want [101]", got, e.Table)
		}
		if got := divisionsIn(t, both, e.Table); !slices.Equal(got, []int{101, 103}) {
			t.Errorf("the reader of divisions 101 and 103 sees divisions %v in %s, want [101 103]", got, e.Table)
		}
	}
	for _, v := range statusViews {
		if got := divisionsIn(t, reader, v); !slices.Equal(got, []int{101}) {
			t.Errorf("the reader of division 101 sees divisions %v in %s, want [101]", got, v)
		}
	}
	if got := divisionsIn(t, reader, "(SELECT DISTINCT division FROM exact_status.changes) c"); !slices.Equal(got, []int{101}) {
		t.Errorf("the reader of division 101 sees divisions %v in exact_status.changes, want [101]", got)
	}
	var divs []int32
	if err := reader.QueryRow(ctx, `SELECT divisions FROM exact_status.access`).Scan(&divs); err != nil || !slices.Equal(divs, []int32{101}) {
		t.Errorf("exact_status.access: divisions %v (%v), want [101]", divs, err)
	}
	// exactsync's own role sees everything, in the tables and in the views.
	if got := divisionsIn(t, st.Pool(), "exact_status.runs"); !slices.Equal(got, []int{101, 102, 103}) {
		t.Errorf("exactsync's role sees divisions %v in exact_status.runs, want all three", got)
	}

	// A primary-key lookup as the reader still uses the primary key's index, on tables
	// large enough for the planner to care.
	for _, table := range []string{"exact.accounts", "exact.transaction_lines"} {
		if _, err := st.Pool().Exec(ctx, `INSERT INTO `+table+` (division, id, exact_timestamp, raw)
			SELECT d, gen_random_uuid(), 1, '{}' FROM generate_series(1, 3000), unnest(ARRAY[101, 102, 103]) d`); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Pool().Exec(ctx, `ANALYZE `+table); err != nil {
			t.Fatal(err)
		}
		rows, err := reader.Query(ctx, `EXPLAIN SELECT * FROM `+table+` WHERE division = 101 AND id = $1`, uuidN(1))
		if err != nil {
			t.Fatal(err)
		}
		plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		index := strings.TrimPrefix(table, "exact.") + "_pkey"
		if !strings.Contains(plan[0], "Index Scan using "+index) && !strings.Contains(plan[0], "Index Only Scan using "+index) {
			t.Errorf("the reader's primary-key lookup in %s does not use %s:\n%s", table, index, strings.Join(plan, "\n"))
		}
		var n int
		if err := reader.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE division = 102`).Scan(&n); err != nil || n != 0 {
			t.Errorf("the reader of division 101 counts %d rows of division 102 in %s (%v), want 0", n, table, err)
		}
	}
}

func TestReaderWithoutLoginIsTakenWithSetRole(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := sinktest.NewMigratedDatabase(t)
	st := sinktest.OpenStore(t, sink.Config{DatabaseURL: url})
	seedEveryTable(t, st, 101, 102)
	name := sinktest.NewRoleName(t, "nologin", url)
	if _, err := st.AddReader(ctx, name, []int{102}, ""); err != nil {
		t.Fatal(err)
	}
	var login bool
	if err := st.Pool().QueryRow(ctx, `SELECT rolcanlogin FROM pg_roles WHERE rolname = $1`, name).Scan(&login); err != nil || login {
		t.Fatalf("a reader without a password: rolcanlogin %t (%v), want false", login, err)
	}
	// An application's own login role that was granted the reader sees what it sees, once
	// it takes the role (and, inheriting it, without).
	app := sinktest.NewRoleName(t, "app", url)
	if _, err := st.Pool().Exec(ctx, `CREATE ROLE `+app+` LOGIN IN ROLE `+name); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, sinktest.ConnectAs(t, url, app))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if got := divisionsIn(t, conn, "exact.accounts"); !slices.Equal(got, []int{102}) {
		t.Errorf("a login role granted the reader of 102 sees divisions %v in exact.accounts, want [102]", got)
	}
	if _, err := conn.Exec(ctx, `SET ROLE `+name); err != nil {
		t.Fatal(err)
	}
	if got := divisionsIn(t, conn, "exact.accounts"); !slices.Equal(got, []int{102}) {
		t.Errorf("SET ROLE to the reader of 102 sees divisions %v in exact.accounts, want [102]", got)
	}
	// The group role itself is no reader: taking it shows nothing, loudly.
	if _, err := conn.Exec(ctx, `SET ROLE `+sink.ReaderGroup); err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, `SELECT count(*) FROM exact.accounts`)
	if !isPermissionDenied(err) || !strings.Contains(err.Error(), "is not an exactsync reader") {
		t.Errorf("reading as the group role %s: got %v, want that it is not a reader", sink.ReaderGroup, err)
	}
}

func TestTableOfALaterMigrationIsReadableAndLimited(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := sinktest.NewScratchDatabase(t)
	st := sinktest.OpenStore(t, sink.Config{DatabaseURL: url})
	all := connectAs(t, url, addReader(t, st, url, "later_all"))
	limited := connectAs(t, url, addReader(t, st, url, "later_101", 101))

	// A later release adds an entity: its migration creates the table and the rows land.
	err := st.MigrateWith(ctx, map[string]string{"00099_later_entity.sql": `-- +goose Up
CREATE TABLE exact.later_entity (division integer NOT NULL, id integer NOT NULL, PRIMARY KEY (division, id));
INSERT INTO exact.later_entity VALUES (101, 1), (102, 2), (102, 3);
`})
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		if got := divisionsIn(t, all, "exact.later_entity"); !slices.Equal(got, []int{101, 102, 102}) {
			t.Errorf("%s: the reader of every division sees %v in the new table, want [101 102 102]", when, got)
		}
		if got := divisionsIn(t, limited, "exact.later_entity"); !slices.Equal(got, []int{101}) {
			t.Errorf("%s: the reader of division 101 sees %v in the new table, want [101]", when, got)
		}
	}
	check("after the migration")
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	check("after a migrate with nothing to apply")
	a, err := st.Access(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Unprotected) > 0 {
		t.Errorf("tables without the division policy: %v", a.Unprotected)
	}
}

func TestRemoveReaderLeavesNothing(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := sinktest.NewMigratedDatabase(t)
	st := sinktest.OpenStore(t, sink.Config{DatabaseURL: url})
	policies := func() int {
		var n int
		if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_policy`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := policies()
	name := addReader(t, st, url, "removed", 101, 102)
	if got := policies(); got != before {
		t.Errorf("adding a reader changed the number of policies from %d to %d", before, got)
	}
	if gone, err := st.RemoveReader(ctx, name); err != nil || gone {
		t.Fatalf("RemoveReader: gone %t, %v", gone, err)
	}
	var roles, members, rows int
	err := st.Pool().QueryRow(ctx, `SELECT
		(SELECT count(*) FROM pg_roles WHERE rolname = $1),
		(SELECT count(*) FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE g.rolname = $2
		   AND m.member NOT IN (SELECT oid FROM pg_roles)),
		(SELECT count(*) FROM exact_sync.readers)`, name, sink.ReaderGroup).Scan(&roles, &members, &rows)
	if err != nil {
		t.Fatal(err)
	}
	if roles != 0 || members != 0 || rows != 0 || policies() != before {
		t.Errorf("after readers remove: %d roles, %d dangling memberships, %d readers rows, %d policies (want 0, 0, 0, %d)", roles, members, rows, policies(), before)
	}
	if _, err := st.RemoveReader(ctx, name); !errors.Is(err, sink.ErrNotReader) {
		t.Errorf("removing it again: %v, want ErrNotReader", err)
	}

	// A reader whose role was dropped by hand loses its row.
	name = addReader(t, st, url, "dropped")
	if _, err := st.Pool().Exec(ctx, `DROP ROLE `+name); err != nil {
		t.Fatal(err)
	}
	readers, err := st.Readers(ctx)
	if err != nil || len(readers) != 1 || !readers[0].Missing {
		t.Fatalf("Readers after the role was dropped: %+v, %v; want it marked missing", readers, err)
	}
	if gone, err := st.RemoveReader(ctx, name); err != nil || !gone {
		t.Errorf("removing a reader whose role is gone: gone %t, %v; want true, nil", gone, err)
	}
}

func TestAddReader(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := sinktest.NewMigratedDatabase(t)
	st := sinktest.OpenStore(t, sink.Config{DatabaseURL: url})

	name := sinktest.NewRoleName(t, "upd", url)
	if created, err := st.AddReader(ctx, name, []int{102, 101, 102}, "first-password"); err != nil || !created {
		t.Fatalf("AddReader: created %t, %v", created, err)
	}
	// Adding it again replaces its divisions and keeps its login.
	if created, err := st.AddReader(ctx, name, []int{103}, ""); err != nil || created {
		t.Fatalf("AddReader again: created %t, %v; want an update", created, err)
	}
	readers, err := st.Readers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []sink.Reader{{Name: name, Divisions: []int{103}, Login: true, Member: true}}
	if diff := cmp.Diff(want, readers, cmpIgnoreTimes); diff != "" {
		t.Errorf("Readers (-want +got):\n%s", diff)
	}
	if _, err := st.AddReader(ctx, name, nil, ""); err != nil {
		t.Fatal(err)
	}
	if readers, _ = st.Readers(ctx); len(readers) != 1 || readers[0].Divisions != nil {
		t.Errorf("after adding it without divisions: %+v, want every division (nil)", readers)
	}

	other := sinktest.NewRoleName(t, "other", url)
	if _, err := st.Pool().Exec(ctx, `CREATE ROLE `+other+` LOGIN`); err != nil {
		t.Fatal(err)
	}
	var self string
	if err := st.Pool().QueryRow(ctx, `SELECT current_user`).Scan(&self); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, role, password string
		divisions            []int
		want                 error
	}{
		{"role not made by exactsync", other, "", nil, sink.ErrRoleTaken},
		{"exactsync's own role", self, "", nil, sink.ErrReaderName},
		{"upper case", "BI_App", "", nil, sink.ErrReaderName},
		{"quote", `bi"; DROP TABLE x; --`, "", nil, sink.ErrReaderName},
		{"predefined prefix", "pg_reader", "", nil, sink.ErrReaderName},
		{"the group", sink.ReaderGroup, "", nil, sink.ErrReaderName},
		{"reserved", "public", "", nil, sink.ErrReaderName},
		{"too long", strings.Repeat("r", 64), "", nil, sink.ErrReaderName},
		{"non-ASCII password", "exactsync_test_pw", "wachtwoörd", nil, sink.ErrReaderPassword},
		{"control character in password", "exactsync_test_pw", "pass\tword", nil, sink.ErrReaderPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := st.AddReader(ctx, tt.role, tt.divisions, tt.password)
			if !errors.Is(err, tt.want) {
				t.Errorf("AddReader(%q): %v, want %v", tt.role, err, tt.want)
			}
		})
	}
	if _, err := st.AddReader(ctx, "exactsync_test_neg", []int{-1}, ""); err == nil {
		t.Errorf("AddReader with division -1: no error")
	}
	var n int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname IN ('exactsync_test_pw', 'exactsync_test_neg')`).Scan(&n); err != nil || n != 0 {
		t.Errorf("refused readers left %d roles (%v)", n, err)
	}
}

func TestReaderPasswordReachesPostgreSQLAsAVerifier(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := sinktest.NewMigratedDatabase(t)
	st := sinktest.OpenStore(t, sink.Config{DatabaseURL: url})
	const password = "Correct horse battery staple! 42"
	name := sinktest.NewRoleName(t, "pw", url)
	if _, err := st.AddReader(ctx, name, nil, password); err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := st.Pool().QueryRow(ctx, `SELECT rolpassword FROM pg_authid WHERE rolname = $1`, name).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "SCRAM-SHA-256$4096:") || strings.Contains(stored, password) {
		t.Fatalf("stored password %q, want a SCRAM-SHA-256 verifier", stored)
	}
	// PostgreSQL's own verifier of the same password with the same salt is the same.
	pgRole := sinktest.NewRoleName(t, "pgpw", url)
	tx, err := st.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SET LOCAL password_encryption = 'scram-sha-256'`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `CREATE ROLE `+pgRole+` PASSWORD '`+password+`'`); err != nil {
		t.Fatal(err)
	}
	var theirs string
	if err := tx.QueryRow(ctx, `SELECT rolpassword FROM pg_authid WHERE rolname = $1`, pgRole).Scan(&theirs); err != nil {
		t.Fatal(err)
	}
	salt, iterations := scramSalt(t, theirs)
	ours, err := sink.ScramVerifierSalt(password, salt, iterations)
	if err != nil || ours != theirs {
		t.Errorf("our verifier %q (%v), PostgreSQL's %q", ours, err, theirs)
	}
}

func TestReaderGroupIsCreatedOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	// Two databases, as two exactsync databases of one server migrating at once.
	urls := []string{sinktest.NewMigratedDatabase(t), sinktest.NewMigratedDatabase(t)}
	group := sinktest.NewRoleName(t, "group", urls...)
	var wg gosync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := pgx.Connect(ctx, urls[i%2])
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close(context.Background())
			var ok bool
			if err := conn.QueryRow(ctx, `SELECT exact_sync.create_reader_group($1)`, group).Scan(&ok); err != nil || !ok {
				errs <- fmt.Errorf("create_reader_group: %t, %v", ok, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var n int
	if err := pgx.BeginFunc(ctx, mustPool(t, urls[0]), func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname = $1 AND NOT rolcanlogin`, group).Scan(&n)
	}); err != nil || n != 1 {
		t.Errorf("%d NOLOGIN roles %s (%v), want 1", n, group, err)
	}
}

func TestAccessNamesWhoCanReadSecrets(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	url := sinktest.NewScratchDatabase(t)
	st := sinktest.OpenStore(t, sink.Config{DatabaseURL: url})
	a, err := st.Access(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.SecretReaders) > 0 || !a.GroupExists || !a.CanCreateRoles || len(a.Unprotected) > 0 {
		t.Fatalf("a freshly migrated database: %+v; want no secret readers, the group, CREATEROLE and every table protected", a)
	}
	addReader(t, st, url, "notsecret")
	if a, _ = st.Access(ctx); len(a.SecretReaders) > 0 {
		t.Errorf("with a reader: secret readers %v, want none", a.SecretReaders)
	}

	analyst := sinktest.NewRoleName(t, "analyst", url)
	for _, q := range []string{
		`CREATE ROLE ` + analyst + ` LOGIN`,
		`GRANT USAGE ON SCHEMA exact_sync TO ` + analyst,
		`GRANT SELECT (id, refresh_token) ON exact_sync.connections TO ` + analyst,
	} {
		if _, err := st.Pool().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if a, _ = st.Access(ctx); !slices.Equal(a.SecretReaders, []string{analyst}) {
		t.Errorf("after a grant of two columns to %s: secret readers %v", analyst, a.SecretReaders)
	}
	for _, q := range []string{`GRANT USAGE ON SCHEMA exact_sync TO PUBLIC`, `GRANT SELECT ON exact_sync.connections TO PUBLIC`} {
		if _, err := st.Pool().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if a, _ = st.Access(ctx); !slices.Equal(a.SecretReaders, []string{"PUBLIC"}) {
		t.Errorf("after a grant to PUBLIC: secret readers %v, want PUBLIC", a.SecretReaders)
	}

	for _, q := range []string{`ALTER TABLE exact.accounts DISABLE ROW LEVEL SECURITY`, `DROP POLICY exactsync_divisions ON exact.items`} {
		if _, err := st.Pool().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if a, _ = st.Access(ctx); !slices.Equal(a.Unprotected, []string{"exact.accounts", "exact.items"}) {
		t.Errorf("unprotected tables %v, want exact.accounts and exact.items", a.Unprotected)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if a, _ = st.Access(ctx); len(a.Unprotected) > 0 {
		t.Errorf("after migrate: unprotected tables %v, want none", a.Unprotected)
	}

	// exactsync's role without CREATEROLE cannot make readers, and says what to do.
	for _, q := range []string{
		`GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA exact_sync TO ` + analyst,
		`GRANT SELECT, INSERT, UPDATE ON exact_sync.readers TO ` + analyst,
	} {
		if _, err := st.Pool().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	weak, err := sink.Open(ctx, sink.Config{DatabaseURL: sinktest.ConnectAs(t, url, analyst)})
	if err != nil {
		t.Fatal(err)
	}
	defer weak.Close()
	_, err = weak.AddReader(ctx, "exactsync_test_never", nil, "")
	if !errors.Is(err, sink.ErrCannotCreateRoles) || !strings.Contains(err.Error(), "ALTER ROLE "+analyst+" CREATEROLE") {
		t.Errorf("AddReader without CREATEROLE: %v; want ErrCannotCreateRoles naming the fix", err)
	}
}

// scramSalt reads the salt and iteration count of a SCRAM-SHA-256 verifier.
func scramSalt(t *testing.T, verifier string) ([]byte, int) {
	t.Helper()
	var iterations int
	var salt64 string
	head, _, _ := strings.Cut(strings.TrimPrefix(verifier, "SCRAM-SHA-256$"), "$")
	if _, err := fmt.Sscanf(strings.Replace(head, ":", " ", 1), "%d %s", &iterations, &salt64); err != nil {
		t.Fatalf("reading verifier %q: %v", verifier, err)
	}
	salt, err := base64Std.DecodeString(salt64)
	if err != nil {
		t.Fatal(err)
	}
	return salt, iterations
}

func mustPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	return sinktest.NewPool(t, url)
}

var cmpIgnoreTimes = cmpopts.IgnoreFields(sink.Reader{}, "CreatedAt", "UpdatedAt")

var base64Std = base64.StdEncoding

// TestReaderOfOneDatabaseReadsNothingOfAnother: roles are the server's, and every
// exactsync database grants the one group role what it may read; which rows a member
// sees is each database's own decision, so a reader of one database reads nothing in
// another (an error says why, rather than empty tables).
func TestReaderOfOneDatabaseReadsNothingOfAnother(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	urlA, urlB := sinktest.NewMigratedDatabase(t), sinktest.NewMigratedDatabase(t)
	a := sinktest.OpenStore(t, sink.Config{DatabaseURL: urlA})
	b := sinktest.OpenStore(t, sink.Config{DatabaseURL: urlB})
	seedEveryTable(t, b, 101)
	name := addReader(t, a, urlA, "onlya")
	inB := connectAs(t, urlB, name)
	for _, rel := range []string{"exact.accounts", "exact.transaction_lines", "exact_status.entities", "exact_status.runs"} {
		_, err := inB.Exec(ctx, `SELECT * FROM `+rel+` LIMIT 1`)
		if !isPermissionDenied(err) || !strings.Contains(err.Error(), "is not an exactsync reader of database") {
			t.Errorf("a reader of another database reading %s: %v; want that it is no reader here", rel, err)
		}
	}
	// Made a reader of B too, it sees B's rows.
	if created, err := b.AddReader(ctx, name, nil, ""); err != nil || created {
		t.Fatalf("adding the reader of A to B: created %t, %v; want the role reused", created, err)
	}
	if got := divisionsIn(t, inB, "exact.accounts"); !slices.Equal(got, []int{101}) {
		t.Errorf("made a reader of B too, it sees divisions %v there, want [101]", got)
	}
}
