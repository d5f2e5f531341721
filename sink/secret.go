package sink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink/seal"
)

// The columns of exact_sync.connections that hold secrets. Each is sealed with
// Config.Keyring when one is configured.
const (
	colAccessToken  = "access_token"
	colRefreshToken = "refresh_token"
	colClientSecret = "client_secret"
)

var secretColumns = []string{colAccessToken, colRefreshToken, colClientSecret}

// secretContext binds a sealed value to its row and column, so a value copied to another
// connection or column does not open (see package seal).
func secretContext(connID int64, column string) string {
	return "exact_sync.connections/" + strconv.FormatInt(connID, 10) + "/" + column
}

func (s *Store) seal(connID int64, column, plaintext string) (string, error) {
	v, err := s.keyring().Seal(plaintext, secretContext(connID, column))
	if err != nil {
		return "", fmt.Errorf("encrypting the %s: %w", column, err)
	}
	return v, nil
}

func (s *Store) open(connID int64, column, stored string) (string, error) {
	v, err := s.keyring().Open(stored, secretContext(connID, column))
	if err != nil {
		return "", fmt.Errorf("decrypting the %s: %w", column, err)
	}
	return v, nil
}

func (s *Store) openToken(connID int64, t dest.Token) (dest.Token, error) {
	var err error
	if t.AccessToken, err = s.open(connID, colAccessToken, t.AccessToken); err != nil {
		return dest.Token{}, err
	}
	if t.RefreshToken, err = s.open(connID, colRefreshToken, t.RefreshToken); err != nil {
		return dest.Token{}, err
	}
	return t, nil
}

// SetClientSecret stores the client secret of the connection's app, sealed.
func (s *Store) SetClientSecret(ctx context.Context, connID int64, secret string) error {
	sealed, err := s.seal(connID, colClientSecret, secret)
	if err != nil {
		return fmt.Errorf("storing the client secret of connection %d: %w", connID, err)
	}
	return s.updateConnection(ctx, connID, "storing the client secret of",
		`UPDATE exact_sync.connections SET client_secret = $2, updated_at = now() WHERE id = $1`, sealed)
}

// ClientSecret returns the stored client secret of a connection, "" when none is stored.
func (s *Store) ClientSecret(ctx context.Context, connID int64) (string, error) {
	var stored string
	err := s.pool.QueryRow(ctx, `SELECT client_secret FROM exact_sync.connections WHERE id = $1`, connID).Scan(&stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("reading the client secret of connection %d: %w", connID, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("reading the client secret of connection %d: %w", connID, err)
	}
	v, err := s.open(connID, colClientSecret, stored)
	if err != nil {
		return "", fmt.Errorf("reading the client secret of connection %d: %w", connID, err)
	}
	return v, nil
}

// SecretsReport counts the stored secrets (non-empty secret columns of every
// connection) by how they are stored.
type SecretsReport struct {
	Values       int // stored secrets
	Plaintext    int // not sealed
	OtherKey     int // sealed with a key other than the current one
	CurrentKey   int // sealed with the current key
	CurrentKeyID string
}

// Stale is how many secrets RotateSecrets would re-encrypt.
func (r SecretsReport) Stale() int { return r.Plaintext + r.OtherKey }

// CheckSecrets opens every stored secret with the configured keyring. It fails when one
// does not open, naming the connection, the column and the missing key (wrapping
// seal.ErrNoKey when the key is not configured), so that a process without the right key
// refuses to start instead of failing later, mid-refresh.
func (s *Store) CheckSecrets(ctx context.Context) (SecretsReport, error) {
	rep := SecretsReport{CurrentKeyID: s.keyring().CurrentID()}
	rows, err := s.pool.Query(ctx, `SELECT id, access_token, refresh_token, client_secret FROM exact_sync.connections ORDER BY id`)
	if err != nil {
		return rep, fmt.Errorf("checking stored secrets: %w", err)
	}
	var id int64
	var vals [3]string
	_, err = pgx.ForEachRow(rows, []any{&id, &vals[0], &vals[1], &vals[2]}, func() error {
		for i, v := range vals {
			if v == "" {
				continue
			}
			rep.Values++
			switch kid := seal.KeyIDOf(v); {
			case kid == "":
				rep.Plaintext++
			case kid == rep.CurrentKeyID:
				rep.CurrentKey++
			default:
				rep.OtherKey++
			}
			if _, err := s.open(id, secretColumns[i], v); err != nil {
				return fmt.Errorf("connection %d: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("checking stored secrets: %w", err)
	}
	return rep, nil
}

// RotateSecrets re-encrypts with the current key every stored secret that is plaintext or
// sealed with another key, in one transaction that locks every connection row (waiting
// at most Config.LockTimeout for a refresh in progress), and records the current key as
// the database's (exact_sync.encryption_key). It returns how many values it re-encrypted.
// It needs a keyring; values sealed with a key the keyring does not hold make it fail
// without changing anything.
func (s *Store) RotateSecrets(ctx context.Context) (int, error) {
	keys := s.keyring()
	if keys == nil {
		return 0, fmt.Errorf("re-encrypting stored secrets: %w: no current key is configured; set EXACTSYNC_ENCRYPTION_KEY (or EXACTSYNC_ENCRYPTION_KEY_FILE)", seal.ErrNoKey)
	}
	current := keys.CurrentID()
	n := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if n, err = s.resealTx(ctx, tx, keys, func(v string) bool { return seal.KeyIDOf(v) != current }); err != nil {
			return err
		}
		return recordKey(ctx, tx, current, false)
	})
	if err != nil {
		return 0, fmt.Errorf("re-encrypting stored secrets: %w", err)
	}
	return n, nil
}

// keyIDs lists the ids of the keys that sealed the non-empty values, sorted and without
// repeats; "" stands for plaintext values.
func keyIDs(vals ...string) []string {
	var out []string
	for _, v := range vals {
		if v == "" {
			continue
		}
		id := seal.KeyIDOf(v)
		dup := false
		for _, o := range out {
			dup = dup || o == id
		}
		if !dup {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}
