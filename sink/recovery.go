package sink

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/renameio/v2"
	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/dest"
)

// A recovery file keeps a refreshed token pair that PostgreSQL could not store (see
// UpdateToken): Exact spent the old refresh token when it answered (§1.9), so without
// the file a process that exits before the database is back would lose the chain.
//
// One file per connection, in Config.StateDir, named token-<id>-<hash>.json, where hash
// is taken over the database name, the connection id, base URL and client id, so that the
// files of several databases can share a directory. The file is JSON, mode 0600, written
// to a temporary file that is synced and renamed. Its tokens are sealed with the
// configured key (as the columns are, see package seal, bound to the file's identity)
// and plaintext otherwise. It records the SHA-256 of the refresh token the pair replaces,
// never that token: the pair is imported only over its own predecessor.
type recoveryFile struct {
	Format        string    `json:"format"`
	Database      string    `json:"database"`
	Connection    int64     `json:"connection"`
	BaseURL       string    `json:"base_url"`
	ClientID      string    `json:"client_id"`
	Replaces      string    `json:"replaces_sha256"` // hex SHA-256 of the refresh token this pair replaces
	AccessToken   string    `json:"access_token"`
	RefreshToken  string    `json:"refresh_token"`
	Expiry        time.Time `json:"expires_at,omitzero"`
	IssuedAt      time.Time `json:"issued_at,omitzero"`
	ClockOffsetMS int64     `json:"clock_offset_ms"`
	WrittenAt     time.Time `json:"written_at"`
}

const recoveryFormat = "exactsync-token-recovery/1"

// tokenHash is the hex SHA-256 of a refresh token: it identifies a token without
// revealing it (refresh tokens are long random strings).
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// recoveryPath is the recovery file of a connection; "" without a state directory.
func (s *Store) recoveryPath(row tokenRow) string {
	if s.stateDir == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(s.database + "\x00" + strconv.FormatInt(row.connID, 10) + "\x00" + row.baseURL + "\x00" + row.clientID))
	return filepath.Join(s.stateDir, fmt.Sprintf("token-%d-%s.json", row.connID, hex.EncodeToString(sum[:6])))
}

// recoveryContext binds a sealed token of a recovery file to the file's identity.
func (s *Store) recoveryContext(connID int64, column string) string {
	return "recovery/" + s.database + "/" + secretContext(connID, column)
}

// writeRecovery writes next, the pair that replaces row's, to row's recovery file and
// returns its path ("" without a state directory).
func (s *Store) writeRecovery(row tokenRow, next dest.Token) (string, error) {
	path := s.recoveryPath(row)
	if path == "" {
		return "", nil
	}
	f := recoveryFile{
		Format: recoveryFormat, Database: s.database, Connection: row.connID, BaseURL: row.baseURL, ClientID: row.clientID,
		Replaces: tokenHash(row.tok.RefreshToken), Expiry: next.Expiry.UTC(), IssuedAt: next.IssuedAt.UTC(),
		ClockOffsetMS: next.ClockOffset.Milliseconds(), WrittenAt: time.Now().UTC(),
	}
	var err error
	if f.AccessToken, err = s.keyring().Seal(next.AccessToken, s.recoveryContext(row.connID, colAccessToken)); err != nil {
		return "", fmt.Errorf("encrypting the recovery file: %w", err)
	}
	if f.RefreshToken, err = s.keyring().Seal(next.RefreshToken, s.recoveryContext(row.connID, colRefreshToken)); err != nil {
		return "", fmt.Errorf("encrypting the recovery file: %w", err)
	}
	body, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return "", err
	}
	if err := writeFileAtomic(path, append(body, '\n')); err != nil {
		return "", fmt.Errorf("writing the recovery file %s: %w", path, err)
	}
	return path, nil
}

// writeFileAtomic writes body to path with mode 0600 (its directory 0700): a temporary
// file in the same directory, synced and renamed over path (renameio), then the directory
// synced, so that the rename itself survives a crash.
func writeFileAtomic(path string, body []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := renameio.WriteFile(path, body, 0o600, renameio.WithStaticPermissions(0o600), renameio.WithTempDir(dir)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// removeRecovery deletes a recovery file that has served its purpose.
func (s *Store) removeRecovery(path string) {
	if path == "" {
		return
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn().Str("file", path).Str("error", err.Error()).Msg("cannot remove a recovery file that has been imported")
	}
}

// setAsideRecovery renames a recovery file that must not be imported to path.suffix.
func (s *Store) setAsideRecovery(path, suffix string) string {
	if path == "" {
		return ""
	}
	to := path + "." + suffix
	if _, err := os.Stat(to); err == nil {
		to = path + "." + time.Now().UTC().Format("20060102T150405.000000000") + "." + suffix
	}
	if err := os.Rename(path, to); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn().Str("file", path).Str("error", err.Error()).Msg("cannot set a recovery file aside")
		}
		return ""
	}
	return to
}

// readRecovery reads row's recovery file. It returns nil when there is none, and sets a
// file it cannot use aside (.invalid). A file sealed with a key that is not configured
// is an error.
func (s *Store) readRecovery(row tokenRow) (*recoveryFile, dest.Token, string, error) {
	path := s.recoveryPath(row)
	if path == "" {
		return nil, dest.Token{}, "", nil
	}
	body, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, dest.Token{}, "", nil
	}
	if err != nil {
		return nil, dest.Token{}, "", fmt.Errorf("reading the recovery file %s: %w", path, err)
	}
	var f recoveryFile
	err = json.Unmarshal(body, &f)
	if err == nil && (f.Format != recoveryFormat || f.Database != s.database || f.Connection != row.connID ||
		f.BaseURL != row.baseURL || f.ClientID != row.clientID || f.RefreshToken == "") {
		err = errors.New("not the recovery file of this connection")
	}
	if err != nil {
		to := s.setAsideRecovery(path, "invalid")
		s.log.Warn().Int64("connection", row.connID).Str("file", to).Str("error", err.Error()).
			Msg("a recovery file cannot be read; set aside, not imported")
		return nil, dest.Token{}, "", nil
	}
	t := dest.Token{Expiry: f.Expiry, IssuedAt: f.IssuedAt, ClockOffset: time.Duration(f.ClockOffsetMS) * time.Millisecond}
	if t.AccessToken, err = s.keyring().Open(f.AccessToken, s.recoveryContext(row.connID, colAccessToken)); err == nil {
		t.RefreshToken, err = s.keyring().Open(f.RefreshToken, s.recoveryContext(row.connID, colRefreshToken))
	}
	if err != nil {
		return nil, dest.Token{}, "", fmt.Errorf("opening the recovery file %s: %w", path, err)
	}
	return &f, t, path, nil
}

// recovery is what recoverLocked found; done runs after the transaction committed.
type recovery struct {
	imported bool
	done     func()
}

// recoverLocked takes row's recovery file, if there is one, inside tx, which holds the
// row's lock:
//
//   - the row already holds the file's pair: the file is removed after the commit;
//   - the row holds the refresh token the pair replaces: the pair is stored in tx (ending
//     a reauth_required state only if it came from that token being used) and the file is
//     removed after the commit;
//   - anything else (the connection was authorized again meanwhile): the file is set aside
//     as .stale with a warning and nothing is imported over the newer chain.
func (s *Store) recoverLocked(ctx context.Context, tx pgx.Tx, row tokenRow) (tokenRow, *recovery, error) {
	f, t, path, err := s.readRecovery(row)
	if err != nil || f == nil {
		return row, nil, err
	}
	log := s.log.With().Int64("connection", row.connID).Str("file", path).Logger()
	switch {
	case t.RefreshToken == row.tok.RefreshToken:
		return row, &recovery{done: func() { s.removeRecovery(path) }}, nil
	case f.Replaces == tokenHash(row.tok.RefreshToken):
		if err := s.storeToken(ctx, tx, row.connID, t, true); err != nil {
			return row, nil, fmt.Errorf("importing the recovery file %s of connection %d: %w", path, row.connID, err)
		}
		if row.state != dest.StateReauthRequired || row.cause == dest.ReauthRefreshTokenUsed {
			row.state, row.reason, row.cause = dest.StateOK, "", dest.ReauthOther
		}
		row.tok = t
		return row, &recovery{imported: true, done: func() {
			s.removeRecovery(path)
			log.Warn().Time("written_at", f.WrittenAt).Str("state", row.state).
				Msg("imported a refreshed token pair from its recovery file: the token chain is whole again")
		}}, nil
	default:
		to := s.setAsideRecovery(path, "stale")
		log.Warn().Str("set_aside_as", to).Time("written_at", f.WrittenAt).
			Msg("a recovery file does not replace the stored refresh token (the connection was authorized again since); set aside, not imported")
		return row, nil, nil
	}
}

// RecoverTokens imports the recovery files of Config.StateDir (see UpdateToken): for each
// connection that has one, under the connection's row lock, the kept pair is stored when
// the row still holds the refresh token it replaces, and the file is removed; a file that
// does not replace the stored token is set aside (.stale) with a warning. It returns how
// many pairs it imported. Every exactsync command calls it when it opens the store,
// before anything else; a file sealed with a key that is not configured is an error
// wrapping seal.ErrNoKey.
func (s *Store) RecoverTokens(ctx context.Context) (int, error) {
	if s.stateDir == "" {
		return 0, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT id, base_url, client_id FROM exact_sync.connections ORDER BY id`)
	if err != nil {
		return 0, fmt.Errorf("looking for recovery files: %w", err)
	}
	conns, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tokenRow, error) {
		var t tokenRow
		return t, r.Scan(&t.connID, &t.baseURL, &t.clientID)
	})
	if err != nil {
		return 0, fmt.Errorf("looking for recovery files: %w", err)
	}
	n := 0
	for _, c := range conns {
		if _, err := os.Stat(s.recoveryPath(c)); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		imported, err := s.recoverOne(ctx, c.connID)
		if err != nil {
			return n, err
		}
		if imported {
			n++
		}
	}
	return n, nil
}

func (s *Store) recoverOne(ctx context.Context, connID int64) (bool, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("importing the recovery file of connection %d: %w", connID, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := s.setTokenTxLimits(ctx, tx); err != nil {
		return false, fmt.Errorf("importing the recovery file of connection %d: %w", connID, err)
	}
	row, err := s.lockTokenRow(ctx, tx, connID)
	if err != nil {
		return false, err
	}
	_, rec, err := s.recoverLocked(ctx, tx, row)
	if err != nil || rec == nil {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("importing the recovery file of connection %d: %w", connID, err)
	}
	rec.done()
	return rec.imported, nil
}
