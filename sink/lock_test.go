package sink_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
)

func TestLockDivision(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)

	unlock, ok, err := s.LockDivision(ctx, 1, 101, false)
	if err != nil || !ok {
		t.Fatalf("first LockDivision: ok %t, err %v; want ok", ok, err)
	}

	tests := []struct {
		name     string
		conn     int64
		division int
		wantOK   bool
	}{
		{"same division is taken", 1, 101, false},
		{"other division is free", 1, 102, true},
		{"other connection is free", 2, 101, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, ok, err := s.LockDivision(ctx, tt.conn, tt.division, false)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.wantOK {
				t.Errorf("LockDivision(%d, %d) ok = %t, want %t", tt.conn, tt.division, ok, tt.wantOK)
			}
			if ok {
				u.Unlock()
			}
		})
	}

	t.Run("wait honours ctx", func(t *testing.T) {
		wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, ok, err := s.LockDivision(wctx, 1, 101, true)
		if ok || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("LockDivision(wait) on a held lock: ok %t, err %v; want false, deadline exceeded", ok, err)
		}
	})

	t.Run("wait gets the lock once released", func(t *testing.T) {
		// The waiter of the subtest before gives up its place in PostgreSQL's queue when
		// its query is canceled; this one is seen joining the queue, and so is known to be
		// blocked on the lock, before the lock is released.
		waitForWaiters(t, s, 1, 101, 0)
		got := make(chan error, 1)
		go func() {
			u, ok, err := s.LockDivision(ctx, 1, 101, true)
			if err == nil && !ok {
				err = errors.New("not ok")
			}
			if u != nil {
				u.Unlock()
			}
			got <- err
		}()
		waitForWaiters(t, s, 1, 101, 1)
		select {
		case err := <-got:
			t.Fatalf("LockDivision(wait) returned %v while the lock was held", err)
		default:
		}
		unlock.Unlock()
		unlock.Unlock() // idempotent
		select {
		case err := <-got:
			if err != nil {
				t.Errorf("LockDivision(wait): %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("LockDivision(wait) still blocked after unlock")
		}
	})

	// No session is left behind holding the lock.
	u, ok, err := s.LockDivision(ctx, 1, 101, false)
	if err != nil || !ok {
		t.Fatalf("LockDivision after everything was released: ok %t, err %v", ok, err)
	}
	u.Unlock()
}

// waitForWaiters waits until want sessions are queued on the advisory lock of (connID,
// division), not holding it.
func waitForWaiters(t *testing.T, s *sink.Store, connID int64, division, want int) {
	t.Helper()
	k1, k2 := sink.DivisionLockKey(connID, division)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		err := s.Pool().QueryRow(context.Background(), `SELECT count(*) FROM pg_locks
			WHERE locktype = 'advisory' AND classid = $1::int::oid AND objid = $2::int::oid AND NOT granted
			  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, k1, k2).Scan(&n)
		if err != nil {
			t.Fatalf("counting the lock's waiters: %v", err)
		}
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions wait for the lock of division %d after 30 s, want %d", n, division, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLostLockStopsTheWritesOfItsHolder: the session holding a division's lock ends (as
// on a server restart; here its backend is terminated), another worker takes the lock,
// and the first worker's next write fails with ErrLockLost instead of writing alongside.
func TestLostLockStopsTheWritesOfItsHolder(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	conn := newConnection(t, s)
	first, ok, err := s.LockDivision(ctx, conn.ID, 101, false)
	if err != nil || !ok {
		t.Fatalf("LockDivision: %t, %v", ok, err)
	}
	defer first.Unlock()
	write := func(fence int64) error {
		_, err := s.WriteBatch(ctx, dest.Batch{Table: accountsTable("exact.accounts"), Rows: accountRows(acct{101, uuidN(1), "A", fence}),
			ConnectionID: conn.ID, Division: 101, Entity: "accounts", Cursor: dest.Cursor{Timestamp: fence}, Fence: fence})
		return err
	}
	if err := write(first.Fence); err != nil {
		t.Fatalf("write while holding the lock: %v", err)
	}

	k1, k2 := sink.DivisionLockKey(conn.ID, 101)
	var n int
	err = s.Pool().QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND classid = $1::int::oid AND objid = $2::int::oid AND granted
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, k1, k2).Scan(&n)
	if err != nil || n != 1 {
		t.Fatalf("terminating the lock's session: %d, %v", n, err)
	}
	var second *dest.DivisionLock
	for range 50 { // the server releases the lock as the backend exits
		if second, ok, err = s.LockDivision(ctx, conn.ID, 101, false); err != nil || ok {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || !ok {
		t.Fatalf("second LockDivision after the first session ended: %t, %v", ok, err)
	}
	defer second.Unlock()
	if second.Fence <= first.Fence {
		t.Fatalf("fences %d then %d, want increasing", first.Fence, second.Fence)
	}
	if err := write(first.Fence); !errors.Is(err, dest.ErrLockLost) {
		t.Errorf("write with the lost lock's fence: %v, want ErrLockLost", err)
	}
	if _, err := s.FinishSweep(ctx, accountsTable("exact.accounts"), conn.ID, 101, "accounts", dest.Cursor{}, first.Fence); !errors.Is(err, dest.ErrLockLost) {
		t.Errorf("FinishSweep with the lost lock's fence: %v, want ErrLockLost", err)
	}
	if err := write(second.Fence); err != nil {
		t.Errorf("write of the new holder: %v", err)
	}
}

func TestHeldDivisionLocks(t *testing.T) {
	t.Parallel()
	st := sinktest.NewStore(t)
	ctx := context.Background()
	lock, ok, err := st.LockDivision(ctx, 7, 101, false)
	if err != nil || !ok {
		t.Fatalf("LockDivision: ok %v, err %v", ok, err)
	}
	held, err := st.HeldDivisionLocks(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if !held[101] || len(held) != 1 {
		t.Errorf("held %v while 101 is locked, want only 101", held)
	}
	if other, _ := st.HeldDivisionLocks(ctx, 8); len(other) != 0 {
		t.Errorf("connection 8 has held locks %v, want none", other)
	}
	lock.Unlock()
	if held, _ = st.HeldDivisionLocks(ctx, 7); len(held) != 0 {
		t.Errorf("held %v after Unlock, want none", held)
	}
}

// TestLockWebhooks checks that the webhook lock of a division is held by one at a time,
// leaves the division's sync lock free, and that a wait honours ctx.
func TestLockWebhooks(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	unlock, err := s.LockWebhooks(ctx, 1, 101)
	if err != nil {
		t.Fatalf("LockWebhooks: %v", err)
	}
	sync, ok, err := s.LockDivision(ctx, 1, 101, false)
	if err != nil || !ok {
		t.Fatalf("LockDivision while the webhook lock is held: ok %t, err %v; want ok", ok, err)
	}
	sync.Unlock()
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := s.LockWebhooks(wctx, 1, 101); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second LockWebhooks while held: %v, want deadline exceeded", err)
	}
	other, err := s.LockWebhooks(ctx, 1, 102)
	if err != nil {
		t.Fatalf("LockWebhooks of another division: %v", err)
	}
	other()
	unlock()
	again, err := s.LockWebhooks(ctx, 1, 101)
	if err != nil {
		t.Fatalf("LockWebhooks after unlock: %v", err)
	}
	again()
}

// lockBackends returns how many advisory locks are held in the store's database, and on
// how many sessions.
func lockBackends(t *testing.T, s *sink.Store) (held, sessions int) {
	t.Helper()
	err := s.Pool().QueryRow(context.Background(), `SELECT count(*), count(DISTINCT pid) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 2
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&held, &sessions)
	if err != nil {
		t.Fatal(err)
	}
	return held, sessions
}

// TestDivisionLockSessionsReused: each lock a store takes without waiting is held on a
// session of its own; another store (another process) cannot take it while it is held,
// and can once it is released; a released session serves the store's next locks instead
// of a new one, and is closed once it has been idle a while.
func TestDivisionLockSessionsReused(t *testing.T) {
	t.Parallel()
	url := sinktest.NewMigratedDatabase(t)
	a, b := sinktest.OpenStore(t, sink.Config{DatabaseURL: url}), sinktest.OpenStore(t, sink.Config{DatabaseURL: url})
	ctx := testContext(t)
	const n = 8
	var locks []*dest.DivisionLock
	for d := range n {
		l, ok, err := a.LockDivision(ctx, 1, 1000+d, false)
		if err != nil || !ok {
			t.Fatalf("LockDivision(1, %d): ok %t, err %v", 1000+d, ok, err)
		}
		locks = append(locks, l)
	}
	if held, sessions := lockBackends(t, a); held != n || sessions != n {
		t.Errorf("%d locks held on %d sessions, want %d on %d", held, sessions, n, n)
	}
	for d := range n {
		if _, ok, err := b.LockDivision(ctx, 1, 1000+d, false); err != nil || ok {
			t.Fatalf("another store's LockDivision(1, %d) while held: ok %t, err %v; want not ok", 1000+d, ok, err)
		}
	}
	for _, l := range locks {
		l.Unlock()
	}
	for d := range n {
		l, ok, err := b.LockDivision(ctx, 1, 1000+d, false)
		if err != nil || !ok {
			t.Fatalf("another store's LockDivision(1, %d) once released: ok %t, err %v; want ok", 1000+d, ok, err)
		}
		if l.Fence != 2 {
			t.Errorf("fence of the second taking of division %d: %d, want 2", 1000+d, l.Fence)
		}
		l.Unlock()
	}
	// Taken and released one after the other, the locks reuse an idle session: at most
	// one is opened, should the idle ones have been closed meanwhile.
	before, _ := a.LockSessions()
	for d := range 3 * n {
		l, ok, err := a.LockDivision(ctx, 1, 2000+d, false)
		if err != nil || !ok {
			t.Fatalf("LockDivision(1, %d): ok %t, err %v", 2000+d, ok, err)
		}
		l.Unlock()
	}
	if opened, _ := a.LockSessions(); opened > before+1 {
		t.Errorf("%d lock sessions opened for %d locks taken one after the other, want at most 1: the released ones were not reused", opened-before, 3*n)
	}
	// Idle, they are closed.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, idle := a.LockSessions(); idle == 0 {
			break
		}
		if time.Now().After(deadline) {
			_, idle := a.LockSessions()
			t.Fatalf("%d lock sessions still idle 30 s after their last lock, want them closed after %s", idle, sink.LockSessionIdle)
		}
	}
}

// TestCloseKeepsHeldLocks: closing the store (as a process does at the end of its
// shutdown, perhaps with a job still running) does not release a lock its holder has
// not released; the holder's Unlock does.
func TestCloseKeepsHeldLocks(t *testing.T) {
	t.Parallel()
	url := sinktest.NewMigratedDatabase(t)
	a, b := sinktest.OpenStore(t, sink.Config{DatabaseURL: url}), sinktest.OpenStore(t, sink.Config{DatabaseURL: url})
	ctx := testContext(t)
	held, ok, err := a.LockDivision(ctx, 1, 101, false)
	if err != nil || !ok {
		t.Fatalf("LockDivision: ok %t, err %v", ok, err)
	}
	idle, ok, err := a.LockDivision(ctx, 1, 102, false)
	if err != nil || !ok {
		t.Fatalf("LockDivision: ok %t, err %v", ok, err)
	}
	idle.Unlock()
	a.Close()
	if _, ok, err := b.LockDivision(ctx, 1, 101, false); err != nil || ok {
		t.Fatalf("another store's LockDivision of a lock held across Close: ok %t, err %v; want not ok", ok, err)
	}
	if n, sessions := lockBackends(t, b); n != 1 || sessions != 1 {
		t.Errorf("after Close, %d locks held on %d sessions, want the held lock's alone", n, sessions)
	}
	held.Unlock()
	l, ok, err := b.LockDivision(ctx, 1, 101, false)
	if err != nil || !ok {
		t.Fatalf("another store's LockDivision once the holder released it: ok %t, err %v; want ok", ok, err)
	}
	l.Unlock()
}

// TestLockSessionEndedWhileIdle: an idle lock session the server ended is found out at
// the next lock, which is taken on another session.
func TestLockSessionEndedWhileIdle(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	l, ok, err := s.LockDivision(ctx, 1, 101, false)
	if err != nil || !ok {
		t.Fatalf("LockDivision: ok %t, err %v", ok, err)
	}
	k1, k2 := sink.DivisionLockKey(1, 101)
	var pid int
	err = s.Pool().QueryRow(ctx, `SELECT pid FROM pg_locks
		WHERE locktype = 'advisory' AND classid = $1::int::oid AND objid = $2::int::oid AND granted
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, k1, k2).Scan(&pid)
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	var ended bool
	if err := s.Pool().QueryRow(ctx, `SELECT pg_terminate_backend($1, 10000)`, pid).Scan(&ended); err != nil {
		t.Fatalf("ending the idle lock session: %v", err)
	}
	if !ended {
		// Its backend is gone already: the store closed the session, idle for
		// LockSessionIdle, before the test could end it (a slow machine).
		t.Skipf("the idle lock session was closed after %s idle before the test ended it", sink.LockSessionIdle)
	}
	l, ok, err = s.LockDivision(ctx, 1, 101, false)
	if err != nil || !ok {
		t.Fatalf("LockDivision after its idle session ended: ok %t, err %v; want ok", ok, err)
	}
	defer l.Unlock()
	if opened, _ := s.LockSessions(); opened != 2 {
		t.Errorf("%d lock sessions opened, want 2: the ended one and its replacement", opened)
	}
}
