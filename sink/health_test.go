package sink_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
)

func TestPendingMigrations(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s, pool := sinktest.NewStorePool(t)
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	pending, err := s.PendingMigrations(ctx)
	if err != nil || len(pending) != 0 {
		t.Fatalf("migrated database: got pending %v, %v; want none", pending, err)
	}
	var last int64
	if err := pool.QueryRow(ctx, `SELECT max(version_id) FROM exact_sync.goose_db_version`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM exact_sync.goose_db_version WHERE version_id = $1`, last); err != nil {
		t.Fatal(err)
	}
	if pending, err = s.PendingMigrations(ctx); err != nil || !cmp.Equal(pending, []int64{last}) {
		t.Errorf("without the last version: got pending %v, %v; want [%d]", pending, err, last)
	}

	// A database nothing migrated: every version is pending.
	bare, err := sink.Open(ctx, sink.Config{DatabaseURL: sinktest.NewDatabase(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	if pending, err = bare.PendingMigrations(ctx); err != nil || len(pending) == 0 || pending[0] != 1 || pending[len(pending)-1] != last {
		t.Errorf("bare database: got pending %v, %v; want 1 to %d", pending, err, last)
	}
}

func TestLastSuccesses(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s, pool := sinktest.NewStorePool(t)
	conn := newConnection(t, s)
	other, err := s.UpsertConnection(ctx, "https://start.exactonline.be", "client-2", "user-2")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.LastSuccesses(ctx); err != nil || len(got) != 0 {
		t.Fatalf("no runs: got %v, %v; want none", got, err)
	}
	// Runs ago minutes ago, each taking a minute.
	add := func(connID int64, division int, entity, status string, ago int) {
		t.Helper()
		_, err := pool.Exec(ctx, `INSERT INTO exact_sync.runs (connection_id, division, entity, started_at, finished_at, status)
			VALUES ($1, $2, $3, now() - make_interval(mins => $5 + 1), now() - make_interval(mins => $5), $4)`,
			connID, division, entity, status, ago)
		if err != nil {
			t.Fatal(err)
		}
	}
	add(conn.ID, 101, "accounts", dest.RunOK, 90)
	add(conn.ID, 101, "accounts", dest.RunOK, 30)
	add(conn.ID, 101, "accounts", dest.RunFailed, 5) // a failure since does not count
	add(conn.ID, 101, "suppliers", dest.RunOK, 45)
	add(conn.ID, 102, "accounts", dest.RunFailed, 10) // never succeeded: absent
	add(other.ID, 101, "accounts", dest.RunOK, 600)
	if _, err := s.StartRun(ctx, dest.Run{ConnectionID: conn.ID, Division: 103, Entity: "contacts"}); err != nil {
		t.Fatal(err) // still running: absent
	}

	got, err := s.LastSuccesses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		conn     int64
		division int
		entity   string
		minutes  int
	}
	var keys []key
	for _, ls := range got {
		keys = append(keys, key{ls.ConnectionID, ls.Division, ls.Entity, int(ls.Age.Round(time.Minute) / time.Minute)})
		if d := time.Since(ls.FinishedAt) - ls.Age; d < -time.Minute || d > time.Minute {
			t.Errorf("%+v: age %s does not match finished_at %s", ls, ls.Age, ls.FinishedAt)
		}
	}
	want := []key{{conn.ID, 101, "accounts", 30}, {conn.ID, 101, "suppliers", 45}, {other.ID, 101, "accounts", 600}}
	if diff := cmp.Diff(want, keys, cmp.AllowUnexported(key{})); diff != "" {
		t.Errorf("last successes (-want +got):\n%s", diff)
	}
}
