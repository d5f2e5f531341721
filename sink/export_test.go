package sink

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/migrations"
)

// DivisionLockKey exposes divisionLockKey to the tests.
var DivisionLockKey = divisionLockKey

// WriteRecoveryFile writes the recovery file that a failed commit of next would leave
// behind for connection connID, whose stored refresh token was predecessor.
func (s *Store) WriteRecoveryFile(ctx context.Context, connID int64, predecessor string, next dest.Token) (string, error) {
	row := tokenRow{connID: connID}
	err := s.pool.QueryRow(ctx, `SELECT base_url, client_id FROM exact_sync.connections WHERE id = $1`, connID).
		Scan(&row.baseURL, &row.clientID)
	if err != nil {
		return "", err
	}
	row.tok.RefreshToken = predecessor
	return s.writeRecovery(row, next)
}

// Test-only API: what the tests call and no production code needs.

// Pool returns the underlying pool, for tests that need raw SQL.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// SaveDivisions replaces the divisions stored for a connection with divs, the complete
// list as just seen. Divisions no longer listed are forgotten.
func (s *Store) SaveDivisions(ctx context.Context, connID int64, divs []dest.Division) error {
	_, err := s.SaveDivisionsResettingMoved(ctx, connID, divs)
	return err
}

// ResetCursor forgets the cursor of (connID, division, entity): the next run starts from
// the start.
func (s *Store) ResetCursor(ctx context.Context, connID int64, division int, entity string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM exact_sync.cursors WHERE connection_id = $1 AND division = $2 AND entity = $3`,
		connID, division, entity)
	if err != nil {
		return fmt.Errorf("resetting the %s cursor of division %d: %w", entity, division, err)
	}
	return nil
}

// SetCursor stores the cursor of (connID, division, entity) on its own; WriteBatch stores
// it together with a page.
func (s *Store) SetCursor(ctx context.Context, connID int64, division int, entity string, c dest.Cursor) error {
	if _, err := s.pool.Exec(ctx, upsertCursorSQL, cursorArgs(connID, division, entity, c)...); err != nil {
		return fmt.Errorf("storing the %s cursor of division %d: %w", entity, division, err)
	}
	return nil
}

// Runs returns the most recent runs, newest first; limit <= 0 means 100.
func (s *Store) Runs(ctx context.Context, limit int) ([]dest.RunRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+runColumns+` FROM exact_sync.runs ORDER BY started_at DESC, id DESC LIMIT $1`,
		cmp.Or(max(limit, 0), 100))
	if err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
	}
	runs, err := pgx.CollectRows(rows, scanRun)
	if err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
	}
	return runs, nil
}

// Connection returns one connection; errors.Is(err, ErrNotFound) when it does not exist.
func (s *Store) Connection(ctx context.Context, id int64) (dest.Connection, error) {
	c, err := scanConnection(s.pool.QueryRow(ctx,
		`SELECT `+connectionColumns+` FROM exact_sync.connections WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return dest.Connection{}, fmt.Errorf("connection %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return dest.Connection{}, fmt.Errorf("reading connection %d: %w", id, err)
	}
	return c, nil
}

// SetConnectionUser records which Exact user the connection belongs to.
func (s *Store) SetConnectionUser(ctx context.Context, connID int64, userKey string) error {
	return s.updateConnection(ctx, connID, "setting the user of",
		`UPDATE exact_sync.connections SET user_key = $2, updated_at = now() WHERE id = $1`, userKey)
}

// ProcessJSON is what refresh_pending_process holds for a process of this machine with
// pid, of this process's incarnation or another.
func ProcessJSON(pid int, sameIncarnation bool) []byte {
	p := thisProcess()
	p.PID = pid
	if !sameIncarnation {
		p.Incarnation = "another"
	}
	b, _ := json.Marshal(p)
	return b
}

// ThisProcess names this process as a PendingRefresh's Holder does.
func ThisProcess() string { return thisProcess().String() }

// MigrateWith applies the embedded migrations plus extra (name → SQL), as a later release
// with more migration files would, and then the readers' protection, as Migrate does.
func (s *Store) MigrateWith(ctx context.Context, extra map[string]string) error {
	fsys := fstest.MapFS{}
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return err
	}
	for _, n := range names {
		b, err := fs.ReadFile(migrations.FS, n)
		if err != nil {
			return err
		}
		fsys[n] = &fstest.MapFile{Data: b}
	}
	for n, sql := range extra {
		fsys[n] = &fstest.MapFile{Data: []byte(sql)}
	}
	return s.migrate(ctx, fsys)
}

// ScramVerifierSalt exposes scramVerifierSalt.
var ScramVerifierSalt = scramVerifierSalt

// AppendNumeric exposes appendNumeric to the tests.
var AppendNumeric = appendNumeric

// AsDataError exposes dataError to the tests.
var AsDataError = dataError

// LockSessionIdle exposes lockSessionIdle to the tests.
const LockSessionIdle = lockSessionIdle

// LockSessions returns how many division lock sessions s has opened, and how many are
// idle now.
func (s *Store) LockSessions() (opened, idle int) {
	s.divLocks.mu.Lock()
	defer s.divLocks.mu.Unlock()
	return s.divLocks.opened, len(s.divLocks.idle)
}
