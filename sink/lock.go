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
// With wait=false, the way the worker's jobs take it, it returns ok=false at once when
// someone else holds the lock, in this process or another. The lock is then taken on one
// of a few database sessions the store keeps for its division locks (lockSessions), each
// holding many locks, opened outside the pool so that a held lock never takes a pool slot
// that writes need: taking and releasing a lock is one statement each, where a session of
// its own per lock cost PostgreSQL a new backend per job (BENCHMARKS.md, "A cycle on the
// job queue"). With wait=true it blocks until the lock is free or ctx is done (then it
// returns ctx's error), on a database session of its own, as a wait must not hold up the
// other locks' session.
//
// If a session dies (a server restart, a network cut), PostgreSQL releases its locks
// and another worker may take them. That is why taking a lock also increments the
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

// lockSessionCount is how many database sessions a store keeps for the division locks
// it takes without waiting: a lock's statements on one session run one at a time, a
// round trip each, so a few sessions serve many workers.
const lockSessionCount = 4

// lockSessionTimeout bounds a statement on a lock session. The caller's context does not:
// pgx closes a session whose statement is cancelled, which would release every lock the
// session holds.
const lockSessionTimeout = 30 * time.Second

// lockSessions are the database sessions on which a store holds the division locks it
// takes without waiting; a lock's key picks its session.
type lockSessions struct {
	sessions [lockSessionCount]lockSession
}

// lockSession is one database session holding division locks. Its statements run one at
// a time (mu). held lists the locks it holds, so that a lock this process holds is
// refused without asking the server (a session's advisory locks are re-entrant: the
// server would grant it again).
type lockSession struct {
	mu   sync.Mutex
	conn *pgx.Conn // nil until the first lock, and after the session broke
	gen  int       // counts the sessions opened; a lock of an earlier one is gone with it
	held map[[2]int32]bool
}

// try takes the lock of (connID, division) if it is free, with its fence, in one
// statement on the key's session.
func (ls *lockSessions) try(ctx context.Context, s *Store, connID int64, division int) (*dest.DivisionLock, bool, error) {
	k1, k2 := divisionLockKey(connID, division)
	key := [2]int32{k1, k2}
	sess := &ls.sessions[uint32(k2)%lockSessionCount]
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.held[key] {
		return nil, false, nil
	}
	var (
		ok    bool
		fence int64
		err   error
	)
	// A session the server ended (a restart, a cut, an idle timeout) is found out at its
	// next statement, which then fails without having taken anything: once, the lock is
	// asked for again on a new session.
	for attempt := 0; ; attempt++ {
		if err = sess.open(ctx, s); err != nil {
			return nil, false, err
		}
		ok, fence, err = sess.take(ctx, k1, k2, connID, division)
		if err == nil || !sess.conn.IsClosed() || attempt == 1 {
			break
		}
	}
	if err != nil {
		sess.release(s, k1, k2)
		return nil, false, fmt.Errorf("taking the division lock and its fencing token: %w", err)
	}
	if !ok {
		return nil, false, nil
	}
	sess.held[key] = true
	gen := sess.gen
	return dest.NewDivisionLock(fence, func() {
		sess.mu.Lock()
		defer sess.mu.Unlock()
		if sess.gen != gen || !sess.held[key] {
			return // the session that held the lock ended, and the lock with it
		}
		delete(sess.held, key)
		sess.release(s, k1, k2)
	}), true, nil
}

// open connects the session unless it is connected. The caller holds mu.
func (sess *lockSession) open(ctx context.Context, s *Store) error {
	if sess.conn != nil && !sess.conn.IsClosed() {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("connecting: %w", connectError(s.addr, s.pool.Config().ConnConfig.Database, err))
	}
	sess.conn, sess.held = conn, map[[2]int32]bool{}
	sess.gen++
	return nil
}

// take takes lock (k1, k2) of (connID, division) if it is free and, when it did, the
// division's next fence, in one statement. The caller holds mu.
func (sess *lockSession) take(ctx context.Context, k1, k2 int32, connID int64, division int) (ok bool, fence int64, err error) {
	// Not cancelled with ctx: pgx closes a session whose statement is cancelled, which
	// would release every lock the session holds.
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lockSessionTimeout)
	defer cancel()
	err = sess.conn.QueryRow(qctx, `
		WITH l AS (SELECT pg_try_advisory_lock($1, $2) AS ok),
		f AS (
			INSERT INTO exact_sync.division_locks AS d (connection_id, division, fence)
			SELECT $3, $4, 1 FROM l WHERE l.ok
			ON CONFLICT (connection_id, division) DO UPDATE SET fence = d.fence + 1, acquired_at = now()
			RETURNING d.fence)
		SELECT l.ok, coalesce((SELECT fence FROM f), 0) FROM l`, k1, k2, connID, division).Scan(&ok, &fence)
	return ok, fence, err
}

// release releases lock (k1, k2) on the session, if it holds it; when the session fails
// to, it is closed, which releases every lock it holds (their holders find out at their
// next write, by their fence). The caller holds mu.
func (sess *lockSession) release(s *Store, k1, k2 int32) {
	if sess.conn == nil || sess.conn.IsClosed() {
		sess.closeConn()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := sess.conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, k1, k2); err != nil {
		s.log.Warn().Err(err).Int("locks_held", len(sess.held)).
			Msg("releasing a division lock failed; closing its session, which releases the session's every lock")
		sess.closeConn()
	}
}

// closeConn ends the session, and with it every lock it held. The caller holds mu.
func (sess *lockSession) closeConn() {
	if sess.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		sess.conn.Close(ctx)
	}
	sess.conn, sess.held = nil, nil
}

// close ends every session, and so releases the locks still held.
func (ls *lockSessions) close() {
	for i := range ls.sessions {
		sess := &ls.sessions[i]
		sess.mu.Lock()
		sess.closeConn()
		sess.mu.Unlock()
	}
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
