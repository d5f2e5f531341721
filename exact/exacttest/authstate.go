package exacttest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/google/renameio/v2"
)

// savedAuth is the token chain as Options.AuthStateFile keeps it: what Exact keeps of an
// app's authorization across its own restarts, so that a client's stored refresh token
// still works after the simulator restarts.
type savedAuth struct {
	Version    int                   `json:"version"`
	Chain      int                   `json:"chain"`
	Head       string                `json:"head"`
	HeadIssued time.Time             `json:"head_issued"`
	LastIssued time.Time             `json:"last_issued,omitzero"`
	Refresh    map[string]int        `json:"refresh"` // used refresh tokens → their chain
	Access     map[string]savedToken `json:"access"`
}

type savedToken struct {
	Chain   int       `json:"chain"`
	Expires time.Time `json:"expires"`
}

const savedAuthVersion = 1

// loadAuth replaces a's chain with the one saved in path; a missing file leaves a as it is.
func (a *authState) loadAuth(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return a.restore(path, b)
}

// restore replaces a's chain with the one saved as b, read from path.
func (a *authState) restore(path string, b []byte) error {
	var sv savedAuth
	if err := json.Unmarshal(b, &sv); err != nil {
		return fmt.Errorf("%s is not a saved token chain: %w; remove it to start a new chain", path, err)
	}
	if sv.Version != savedAuthVersion || sv.Head == "" || sv.HeadIssued.IsZero() {
		return fmt.Errorf("%s is not a saved token chain of version %d; remove it to start a new chain", path, savedAuthVersion)
	}
	a.chain, a.head, a.headIssued, a.lastIssued = sv.Chain, sv.Head, sv.HeadIssued, sv.LastIssued
	if sv.Refresh != nil {
		a.refresh = sv.Refresh
	}
	for tok, t := range sv.Access {
		a.access[tok] = accessToken{chain: t.Chain, expires: t.Expires}
	}
	return nil
}

// saveAuth writes a's chain to path (0600, replaced whole by a rename, so that a crash
// leaves the old chain or the new one).
func (a *authState) saveAuth(path string) error {
	sv := savedAuth{Version: savedAuthVersion, Chain: a.chain, Head: a.head, HeadIssued: a.headIssued,
		LastIssued: a.lastIssued, Refresh: a.refresh, Access: map[string]savedToken{}}
	for tok, t := range a.access {
		sv.Access[tok] = savedToken{Chain: t.chain, Expires: t.expires}
	}
	b, err := json.Marshal(sv)
	if err != nil {
		return err
	}
	return renameio.WriteFile(path, b, 0o600, renameio.WithStaticPermissions(0o600))
}
