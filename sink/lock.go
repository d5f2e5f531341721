package sink

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/dest"
)

// LockDivision takes the session advisory lock of (connID, division), so that two
// processes never sync the same division of the same connection at once, and returns it
// with the division's new fencing token. The lock is held until Unlock is called.
//
// Each lock is held on a database session of its own, opened outside the pool so that a
// held lock never takes a pool slot that writes need, and nothing but its own Unlock (or
// the session's end) releases it: not another job's lock or failure, not Close.
//
// With wait=false, the way the worker's jobs take it, it returns ok=false at once when
// someone else holds the lock, in this process or another. Taking the lock and its fence
// is then one statement, and releasing it another, on a session that an earlier lock of
// the store used and let go of (lockSessions): a new session per lock cost PostgreSQL a
// new backend per job (BENCHMARKS.md, "A cycle on the job queue"). With wait=true it
// blocks until the lock is free or ctx is done (then it returns ctx's error), on a new
// session.
//
// If a session dies (a server restart, a network cut), PostgreSQL releases its lock
// and another worker may take it. That is why taking a lock also increments the
// division's fencing token in exact_sync.division_locks and returns it as Fence: a write
// that carries the fence checks it in its own transaction, so the worker that lost the
// lock stops at its next write instead of syncing alongside the new holder.
func (s *Store) LockDivision(ctx context.Context, connID int64, division int, wait bool) (lock *dest.DivisionLock, ok bool, err error) {
	if !wait {
		return s.divLocks.try(ctx, s, connID, division)
	}
	conn, unlock, ok, err := s.sessionLock(ctx, "division", connID, division, wait)
	if err != nil || !ok {
		return nil, false, err
	}
	var fence int64
	err = conn.QueryRow(ctx, `
		INSERT INTO exact_sync.division_locks AS l (connection_id, division, fence) VALUES ($1, $2, 1)
		ON CONFLICT (connection_id, division) DO UPDATE SET fence = l.fence + 1, acquired_at = now()
		RETURNING fence`, connID, division).Scan(&fence)
	if err != nil {
		unlock()
		return nil, false, fmt.Errorf("taking the fencing token: %w", err)
	}
	return dest.NewDivisionLock(fence, unlock), true, nil
}

// lockSessionIdle is how long a lock session that holds no lock is kept for the next
// lock before it is closed: long enough to carry a session from one job of a worker to
// its next, short enough that a quiet process keeps none.
const lockSessionIdle = 3 * time.Second

// lockSessions are the database sessions of the division locks a store takes without
// waiting. A session holds one lock at a time, as a session per lock did: a failure on
// it (a statement cancelled, an unlock that fails, the session's end) releases that lock
// alone. Released cleanly, a session goes back to idle for the next lock, and is closed
// after lockSessionIdle unused: a process keeps as many as it holds locks, and a few
// seconds' more.
type lockSessions struct {
	mu     sync.Mutex
	idle   []idleLockSession // the most recently released last
	closed bool              // Close was called: a released session is closed
	reaper *time.Timer       // closes the idle sessions over lockSessionIdle; nil when none are idle
	opened int               // sessions opened, for the tests
}

// idleLockSession is a lock session holding no lock, and since when.
type idleLockSession struct {
	conn  *pgx.Conn
	since time.Time
}

// try takes the lock of (connID, division) if it is free, with its fence, in one
// statement on an idle session, or on a new one when none is.
func (ls *lockSessions) try(ctx context.Context, s *Store, connID int64, division int) (*dest.DivisionLock, bool, error) {
	k1, k2 := divisionLockKey(connID, division)
	for {
		conn, reused, err := ls.get(ctx, s)
		if err != nil {
			return nil, false, err
		}
		var (
			ok    bool
			fence int64
		)
		err = conn.QueryRow(ctx, `
			WITH l AS (SELECT pg_try_advisory_lock($1, $2) AS ok),
			f AS (
				INSERT INTO exact_sync.division_locks AS d (connection_id, division, fence)
				SELECT $3, $4, 1 FROM l WHERE l.ok
				ON CONFLICT (connection_id, division) DO UPDATE SET fence = d.fence + 1, acquired_at = now()
				RETURNING d.fence)
			SELECT l.ok, coalesce((SELECT fence FROM f), 0) FROM l`, k1, k2, connID, division).Scan(&ok, &fence)
		if err != nil {
			// Closing the session releases the lock if the statement took it before it failed.
			closeLockSession(conn)
			// An idle session the server ended (a restart, a cut, an idle timeout) is
			// found out here, having taken nothing: the lock is asked for on another.
			if reused && ctx.Err() == nil {
				continue
			}
			return nil, false, fmt.Errorf("taking the division lock and its fencing token: %w", err)
		}
		if !ok {
			ls.put(conn)
			return nil, false, nil
		}
		return dest.NewDivisionLock(fence, func() { ls.release(s, conn, k1, k2, connID, division) }), true, nil
	}
}

// get returns an idle session, the most recently released, or else a new one; reused
// says which.
func (ls *lockSessions) get(ctx context.Context, s *Store) (conn *pgx.Conn, reused bool, err error) {
	ls.mu.Lock()
	if n := len(ls.idle); n > 0 {
		conn = ls.idle[n-1].conn
		ls.idle[n-1] = idleLockSession{}
		ls.idle = ls.idle[:n-1]
		ls.mu.Unlock()
		return conn, true, nil
	}
	ls.opened++
	ls.mu.Unlock()
	conn, err = pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, false, fmt.Errorf("connecting: %w", connectError(s.addr, s.pool.Config().ConnConfig.Database, err))
	}
	return conn, false, nil
}

// release releases lock (k1, k2) held on conn and lets the session go idle; when the
// session fails to release it, the session is closed, which releases it in any case.
func (ls *lockSessions) release(s *Store, conn *pgx.Conn, k1, k2 int32, connID int64, division int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var released bool
	if err := conn.QueryRow(ctx, `SELECT pg_advisory_unlock($1, $2)`, k1, k2).Scan(&released); err != nil || !released {
		if err != nil && !conn.IsClosed() {
			s.log.Warn().Err(err).Int64("connection", connID).Int("division", division).
				Msg("releasing a division lock failed; closing its session instead")
		}
		closeLockSession(conn) // ends the session, which releases the lock in any case
		return
	}
	ls.put(conn)
}

// put keeps conn, which holds no lock, idle for the next lock; after Close, or if the
// session broke, it is closed instead.
func (ls *lockSessions) put(conn *pgx.Conn) {
	ls.mu.Lock()
	if ls.closed || conn.IsClosed() {
		ls.mu.Unlock()
		closeLockSession(conn)
		return
	}
	ls.idle = append(ls.idle, idleLockSession{conn: conn, since: time.Now()})
	if ls.reaper == nil {
		ls.reaper = time.AfterFunc(lockSessionIdle, ls.reap)
	}
	ls.mu.Unlock()
}

// reap closes the sessions idle for lockSessionIdle or longer, and comes back for the
// others when theirs is over.
func (ls *lockSessions) reap() {
	ls.mu.Lock()
	now := time.Now()
	n := 0 // the oldest first: idle[:n] are over their time
	for n < len(ls.idle) && now.Sub(ls.idle[n].since) >= lockSessionIdle {
		n++
	}
	over := make([]*pgx.Conn, n)
	for i := range n {
		over[i] = ls.idle[i].conn
	}
	ls.idle = append(ls.idle[:0], ls.idle[n:]...)
	ls.reaper = nil
	if !ls.closed && len(ls.idle) > 0 {
		ls.reaper = time.AfterFunc(lockSessionIdle-now.Sub(ls.idle[0].since), ls.reap)
	}
	ls.mu.Unlock()
	for _, c := range over {
		closeLockSession(c)
	}
}

// close closes the idle sessions; a session holding a lock is closed when its holder
// releases the lock, never before: the lock is its job's until the job lets it go.
func (ls *lockSessions) close() {
	ls.mu.Lock()
	ls.closed = true
	idle := ls.idle
	ls.idle = nil
	if ls.reaper != nil {
		ls.reaper.Stop()
		ls.reaper = nil
	}
	ls.mu.Unlock()
	for _, c := range idle {
		closeLockSession(c.conn)
	}
}

// closeLockSession ends a lock session, and with it any lock it holds.
func closeLockSession(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn.Close(ctx)
}

// LockWebhooks takes the lock of the webhook subscriptions of (connID, division), waiting
// until it is free or ctx is done, so that processes starting together reconcile them one
// after the other (the second finds the first's subscriptions and creates none). It is
// not the division's sync lock: a reconcile does not wait for a sync. Call the returned
// unlock when done.
func (s *Store) LockWebhooks(ctx context.Context, connID int64, division int) (unlock func(), err error) {
	_, unlock, _, err = s.sessionLock(ctx, "webhooks", connID, division, true)
	if err != nil {
		return nil, fmt.Errorf("locking the webhook subscriptions of division %d: %w", division, err)
	}
	return unlock, nil
}

// sessionLock takes the session advisory lock of (kind, connID, division) on a database
// session of its own, opened outside the pool (a held lock never takes a pool slot that
// writes need), and returns that session and the function that releases the lock and
// closes it. With wait=false, ok is false at once when someone else holds the lock; with
// wait=true it blocks until the lock is free or ctx is done (ctx's error).
func (s *Store) sessionLock(ctx context.Context, kind string, connID int64, division int, wait bool) (conn *pgx.Conn, unlock func(), ok bool, err error) {
	conn, err = pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, nil, false, fmt.Errorf("connecting: %w", connectError(s.addr, s.pool.Config().ConnConfig.Database, err))
	}
	k1, k2 := lockKey(kind, connID, division)
	if wait {
		_, err = conn.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, k1, k2)
		ok = err == nil
	} else {
		err = conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, k1, k2).Scan(&ok)
	}
	if err != nil || !ok {
		// Closing the session drops any lock it might have taken as the wait was cancelled.
		conn.Close(context.WithoutCancel(ctx))
		return nil, nil, false, err
	}
	var once sync.Once
	unlock = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, k1, k2); err != nil {
				s.log.Warn().Err(err).Str("lock", kind).Int64("connection", connID).Int("division", division).
					Msg("releasing a lock failed; closing its session instead")
			}
			conn.Close(ctx) // ends the session, which releases the lock in any case
		})
	}
	return conn, unlock, true, nil
}

// lockKey is the two-int4 advisory lock key of kind's lock of (connID, division): the
// first half hashes the kind and the connection id with an exactsync prefix, so other
// applications using two-key advisory locks on the same database are unlikely to collide.
func lockKey(kind string, connID int64, division int) (int32, int32) {
	h := fnv.New32a()
	h.Write([]byte("exactsync/" + kind + "/" + strconv.FormatInt(connID, 10)))
	return int32(h.Sum32()), int32(division)
}

// divisionLockKey is the advisory lock key of LockDivision.
func divisionLockKey(connID int64, division int) (int32, int32) {
	return lockKey("division", connID, division)
}

// HeldDivisionLocks returns the divisions of connID whose lock (see LockDivision) some
// session holds now, without taking any: a job that has run for a while on a division
// nobody holds has lost its process.
func (s *Store) HeldDivisionLocks(ctx context.Context, connID int64) (map[int]bool, error) {
	k1, _ := divisionLockKey(connID, 0)
	rows, err := s.pool.Query(ctx, `
		SELECT objid::int8 FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid::int8 = $1
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, int64(uint32(k1)))
	if err != nil {
		return nil, fmt.Errorf("reading the held division locks of connection %d: %w", connID, err)
	}
	held := map[int]bool{}
	for rows.Next() {
		var d int64
		if err := rows.Scan(&d); err != nil {
			rows.Close()
			return nil, err
		}
		held[int(int32(uint32(d)))] = true
	}
	return held, rows.Err()
}
