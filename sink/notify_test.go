package sink_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// markerChannel ends each step's notifications: the test notifies it after the step,
// and PostgreSQL delivers notifications in commit order, so what a listener receives
// before the marker is everything the step's commits sent.
const markerChannel = "exactsync_test_marker"

// listener is a LISTEN exactsync session on the store's database.
type listener struct {
	t    *testing.T
	conn *pgx.Conn
	s    *sink.Store
}

func listen(t *testing.T, databaseURL string, s *sink.Store) *listener {
	t.Helper()
	ctx := testContext(t)
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatalf("connecting the listener: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	for _, ch := range []string{sink.NotifyChannel, markerChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			t.Fatalf("LISTEN %s: %v", ch, err)
		}
	}
	return &listener{t: t, conn: conn, s: s}
}

// received returns the notifications on sink.NotifyChannel since the last call, each
// payload decoded strictly into a sink.Notification.
func (l *listener) received() []sink.Notification {
	l.t.Helper()
	ctx := testContext(l.t)
	if _, err := l.s.Pool().Exec(ctx, `SELECT pg_notify($1, '')`, markerChannel); err != nil {
		l.t.Fatalf("notifying the marker: %v", err)
	}
	var got []sink.Notification
	for {
		n, err := l.conn.WaitForNotification(ctx)
		if err != nil {
			l.t.Fatalf("waiting for notifications: %v", err)
		}
		if n.Channel == markerChannel {
			return got
		}
		if len(n.Payload) >= 8000 {
			l.t.Errorf("payload of %d bytes, PostgreSQL's limit is 8000", len(n.Payload))
		}
		dec := json.NewDecoder(strings.NewReader(n.Payload))
		dec.DisallowUnknownFields()
		var v sink.Notification
		if err := dec.Decode(&v); err != nil {
			l.t.Fatalf("payload %s: %v", n.Payload, err)
		}
		got = append(got, v)
	}
}

// TestWriteNotifies: each committed write sends one notification per entity it wrote,
// with its counts and cursor, and a write that rolls back sends none.
func TestWriteNotifies(t *testing.T) {
	t.Parallel()
	url := sinktest.NewMigratedDatabase(t)
	s := sinktest.OpenStore(t, sink.Config{DatabaseURL: url})
	ctx := testContext(t)
	conn := newConnection(t, s)
	l := listen(t, url, s)
	a, b, c := uuidN(1), uuidN(2), uuidN(3)
	batch := func(table string, cursor int64, rows ...acct) dest.Batch {
		return dest.Batch{Table: accountsTable("exact." + table), Rows: accountRows(rows...),
			ConnectionID: conn.ID, Division: 101, Entity: table, Cursor: dest.Cursor{Timestamp: cursor}}
	}
	note := func(entity string, upserted, removed int, cursor int64) sink.Notification {
		return sink.Notification{Connection: conn.ID, Division: 101, Entity: entity, Upserted: upserted, Removed: removed, Cursor: cursor}
	}
	check := func(step string, want ...sink.Notification) {
		t.Helper()
		if diff := cmp.Diff(want, l.received()); diff != "" {
			t.Errorf("%s: notifications (-want +got):\n%s", step, diff)
		}
	}

	// One read writing accounts and suppliers: one notification each.
	_, err := s.WriteBatches(ctx, []dest.Batch{
		batch("accounts", 3, acct{101, a, "Alpha", 1}, acct{101, b, "Beta", 2}, acct{101, c, "Gamma", 3}),
		batch("suppliers", 3, acct{101, b, "Beta", 2}),
	})
	if err != nil {
		t.Fatal(err)
	}
	check("first write", note("accounts", 3, 0, 3), note("suppliers", 1, 0, 3))

	// A replay changes nothing and still announces the committed write.
	if _, err := s.WriteBatch(ctx, batch("accounts", 3, acct{101, a, "Alpha", 1})); err != nil {
		t.Fatal(err)
	}
	check("replay", note("accounts", 0, 0, 3))

	// An update and a removal (a supplier that stopped being one) in one batch.
	up := batch("suppliers", 5, acct{101, c, "Gamma", 5})
	up.Removals = []dest.Removal{{Division: 101, ID: b, Version: 4}}
	if _, err := s.WriteBatch(ctx, up); err != nil {
		t.Fatal(err)
	}
	check("upsert and removal", note("suppliers", 1, 1, 5))

	// The deletions job: removals routed to accounts leave its cursor alone; those routed
	// to suppliers remove nothing, and the job's own cursor is of no entity table: neither
	// is announced.
	routed := dest.Batch{Table: accountsTable("exact.accounts"), Removals: []dest.Removal{{Division: 101, ID: a, Version: 9}},
		ConnectionID: conn.ID, Division: 101, Entity: "accounts", NoCursor: true}
	missed := routed
	missed.Table, missed.Entity = accountsTable("exact.suppliers"), "suppliers"
	own := dest.Batch{ConnectionID: conn.ID, Division: 101, Entity: "deletions", Cursor: dest.Cursor{Timestamp: 9}}
	if _, err := s.WriteBatches(ctx, []dest.Batch{routed, missed, own}); err != nil {
		t.Fatal(err)
	}
	check("deletions", note("accounts", 0, 1, 3))

	// A batch of no entity (a benchmark's) is not announced.
	if _, err := s.WriteBatch(ctx, dest.Batch{Table: accountsTable("exact.accounts"), Rows: accountRows(acct{101, uuidN(4), "Delta", 4})}); err != nil {
		t.Fatal(err)
	}
	check("no entity")

	// A write refused by PostgreSQL rolls back, announcing nothing, though the batch
	// before the bad one was written in the transaction.
	bad := batch("suppliers", 7, acct{101, uuidN(5), "Epsilon", 7})
	bad.Rows[0][len(bad.Rows[0])-1] = []byte(`{"not json`)
	if _, err := s.WriteBatches(ctx, []dest.Batch{batch("accounts", 7, acct{101, uuidN(6), "Zeta", 7}), bad}); !dest.IsDataError(err) {
		t.Fatalf("write of invalid JSON: %v, want a data error", err)
	}
	check("refused write")

	// A fence that is no longer the division's (the lock was lost and taken again)
	// refuses the write: nothing is announced.
	first, ok, err := s.LockDivision(ctx, conn.ID, 101, false)
	if err != nil || !ok {
		t.Fatalf("LockDivision: %t, %v", ok, err)
	}
	first.Unlock()
	second, ok, err := s.LockDivision(ctx, conn.ID, 101, false)
	if err != nil || !ok {
		t.Fatalf("LockDivision: %t, %v", ok, err)
	}
	defer second.Unlock()
	stale := batch("accounts", 8, acct{101, uuidN(7), "Eta", 8})
	stale.Fence = first.Fence
	if _, err := s.WriteBatch(ctx, stale); !errors.Is(err, dest.ErrLockLost) {
		t.Fatalf("write with a stale fence: %v, want ErrLockLost", err)
	}
	if _, err := s.FinishSweep(ctx, accountsTable("exact.accounts"), conn.ID, 101, "accounts", dest.Cursor{Timestamp: 8}, first.Fence); !errors.Is(err, dest.ErrLockLost) {
		t.Fatalf("FinishSweep with a stale fence: %v, want ErrLockLost", err)
	}
	check("lost lock")
	fenced := batch("accounts", 8, acct{101, uuidN(7), "Eta", 8})
	fenced.Fence = second.Fence
	if _, err := s.WriteBatch(ctx, fenced); err != nil {
		t.Fatal(err)
	}
	check("holder's write", note("accounts", 1, 0, 8))

	// A full pass that saw only Eta removes the other accounts at its end.
	if _, err := s.StartSweep(ctx, accountsTable("exact.accounts"), conn.ID, 101, "accounts"); err != nil {
		t.Fatal(err)
	}
	sweep := batch("accounts", 8, acct{101, uuidN(7), "Eta", 8})
	sweep.Cursor.Sweep, sweep.Fence = true, second.Fence
	if _, err := s.WriteBatch(ctx, sweep); err != nil {
		t.Fatal(err)
	}
	removed, err := s.FinishSweep(ctx, accountsTable("exact.accounts"), conn.ID, 101, "accounts", dest.Cursor{Timestamp: 8}, second.Fence)
	if err != nil || removed != 3 {
		t.Fatalf("FinishSweep: removed %d, %v; want 3 (Beta, Gamma and Delta)", removed, err)
	}
	check("sweep", note("accounts", 0, 0, 8), note("accounts", 0, 3, 8))
}

// lines is an io.Writer that hands each write to a channel.
type lines chan string

func (l lines) Write(p []byte) (int, error) {
	l <- string(p)
	return len(p), nil
}

// TestFollow runs the README's listener (follow, in example_test.go): it prints each
// account a write changed, once, and only the accounts of that write's division.
func TestFollow(t *testing.T) {
	t.Parallel()
	url := sinktest.NewMigratedDatabase(t)
	s := sinktest.OpenStore(t, sink.Config{DatabaseURL: url})
	ctx, cancel := context.WithCancel(testContext(t))
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// Listening before follow does (LISTEN again changes nothing) keeps every write
	// below for the session, however soon follow starts.
	if _, err := conn.Exec(ctx, "LISTEN exactsync"); err != nil {
		t.Fatal(err)
	}
	c := newConnection(t, s)
	out := make(lines, 10)
	done := make(chan error, 1)
	go func() { done <- follow(ctx, conn, out) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("follow returned %v, want context.Canceled", err)
		}
	}()

	write := func(division int, rows ...acct) {
		t.Helper()
		_, err := s.WriteBatches(ctx, []dest.Batch{
			{Table: accountsTable("exact.accounts"), Rows: accountRows(rows...), ConnectionID: c.ID, Division: division,
				Entity: "accounts", Cursor: dest.Cursor{Timestamp: rows[len(rows)-1].Version}},
			{Table: accountsTable("exact.suppliers"), Rows: accountRows(rows...), ConnectionID: c.ID, Division: division,
				Entity: "suppliers", Cursor: dest.Cursor{Timestamp: rows[len(rows)-1].Version}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	expect := func(want ...string) {
		t.Helper()
		var got []string
		for range want {
			select {
			case l := <-out:
				got = append(got, l)
			case <-time.After(10 * time.Second):
				t.Fatalf("follow printed %q, then nothing for 10 s; want %q", got, want)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("follow printed (-want +got):\n%s", diff)
		}
	}
	write(101, acct{101, uuidN(1), "Alpha", 1}, acct{101, uuidN(2), "Beta", 2})
	expect("101 "+uuidN(1)+" Alpha\n", "101 "+uuidN(2)+" Beta\n")
	write(102, acct{102, uuidN(3), "Gamma", 3})
	expect("102 " + uuidN(3) + " Gamma\n")
	write(101, acct{101, uuidN(2), "Beta BV", 4})
	expect("101 " + uuidN(2) + " Beta BV\n")
	select {
	case l := <-out:
		t.Errorf("follow printed %q more", l)
	default:
	}
}

// TestREADMEShowsFollow: the Go listener in the README's "Change notifications" is
// follow as example_test.go has it, so the code a reader copies compiles and works.
func TestREADMEShowsFollow(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Change notifications\n")
	if !ok {
		t.Fatal(`README.md has no section "Change notifications"`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, code, ok := strings.Cut(section, "\n```go\n")
	code, _, ok2 := strings.Cut(code, "\n```\n")
	if !ok || !ok2 || !strings.Contains(code, "func follow(") {
		t.Fatal(`README.md's "Change notifications" shows no Go block with func follow`)
	}
	if !strings.Contains(string(example), code) {
		t.Errorf("README.md's follow differs from example_test.go's; copy it from there:\n%s", code)
	}
}
