package sink

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// LockDivision takes the session advisory lock of (connID, division), so that two
// processes never sync the same division of the same connection at once. The lock is
// held on a dedicated database session, opened for it outside the pool (a held lock never
// takes a pool slot that writes need), until unlock is called; unlock is idempotent.
//
// With wait=false it returns ok=false at once when someone else holds the lock. With
// wait=true it blocks until the lock is free or ctx is done (then it returns ctx's error).
// If the session dies, PostgreSQL releases the lock.
func (s *Store) LockDivision(ctx context.Context, connID int64, division int, wait bool) (unlock func(), ok bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, false, fmt.Errorf("locking division %d: %w", division, connectError(s.addr, s.pool.Config().ConnConfig.Database, err))
	}
	k1, k2 := divisionLockKey(connID, division)
	if wait {
		_, err = conn.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, k1, k2)
		ok = err == nil
	} else {
		err = conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, k1, k2).Scan(&ok)
	}
	if err != nil || !ok {
		// Closing the session drops any lock it might have taken as the wait was cancelled.
		conn.Close(context.WithoutCancel(ctx))
		if err != nil {
			return nil, false, fmt.Errorf("locking division %d of connection %d: %w", division, connID, err)
		}
		return nil, false, nil
	}
	var once sync.Once
	unlock = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, k1, k2); err != nil {
				s.log.Warn().Err(err).Int64("connection", connID).Int("division", division).
					Msg("releasing division lock failed; closing its session instead")
			}
			conn.Close(ctx) // ends the session, which releases the lock in any case
		})
	}
	return unlock, true, nil
}

// divisionLockKey is the two-int4 advisory lock key of (connID, division): the first half
// hashes the connection id with an exactsync prefix, so other applications using two-key
// advisory locks on the same database are unlikely to collide.
func divisionLockKey(connID int64, division int) (int32, int32) {
	h := fnv.New32a()
	h.Write([]byte("exactsync/division/" + strconv.FormatInt(connID, 10)))
	return int32(h.Sum32()), int32(division)
}
