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
// processes never sync the same division of the same connection at once. The lock is
// held on a dedicated database session, opened for it outside the pool (a held lock never
// takes a pool slot that writes need), until Unlock is called.
//
// With wait=false it returns ok=false at once when someone else holds the lock. With
// wait=true it blocks until the lock is free or ctx is done (then it returns ctx's error).
//
// If the session dies (a server restart, a network cut), PostgreSQL releases the lock
// and another worker may take it. That is why taking it also increments the division's
// fencing token in exact_sync.division_locks and returns it as Fence: a write that
// carries the fence checks it in its own transaction, so the worker that lost the lock
// stops at its next write instead of syncing alongside the new holder.
func (s *Store) LockDivision(ctx context.Context, connID int64, division int, wait bool) (lock *dest.DivisionLock, ok bool, err error) {
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
