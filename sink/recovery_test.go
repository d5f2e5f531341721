package sink_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/seal"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// A recovery file is imported only over the refresh token it replaces; a newer chain is
// never overwritten, and a reauth_required state is ended only when it came from the
// replaced token being used.
func TestRecoverTokens(t *testing.T) {
	t.Parallel()
	key := make([]byte, seal.KeySize)
	key[0] = 7
	keys, err := seal.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	kept := dest.Token{AccessToken: "access-kept-Zsekrit", RefreshToken: "refresh!kept-Zsekrit", IssuedAt: now, Expiry: now.Add(10 * time.Minute), ClockOffset: 3 * time.Second}
	const predecessor = "refresh!old-Zsekrit"

	tests := []struct {
		name      string
		keys      *seal.Keyring
		stored    string           // the refresh token stored when the file is imported
		mark      dest.ReauthCause // marks the connection reauth_required when not nil
		marked    bool
		wantN     int
		wantToken string // stored refresh token afterwards
		wantState string
		wantFiles []string // suffixes of the files left in the directory
		wantLog   string
	}{
		{name: "over its predecessor", stored: predecessor, wantN: 1, wantToken: kept.RefreshToken, wantState: dest.StateOK,
			wantLog: "imported a refreshed token pair"},
		{name: "sealed, over its predecessor", keys: keys, stored: predecessor, wantN: 1, wantToken: kept.RefreshToken, wantState: dest.StateOK},
		{name: "already stored", stored: kept.RefreshToken, wantN: 0, wantToken: kept.RefreshToken, wantState: dest.StateOK},
		{name: "authorized again meanwhile: stale", stored: "refresh!newer-chain", wantN: 0, wantToken: "refresh!newer-chain", wantState: dest.StateOK,
			wantFiles: []string{".json.stale"}, wantLog: "set aside, not imported"},
		{name: "old token used meanwhile: chain repaired", stored: predecessor, marked: true, mark: dest.ReauthRefreshTokenUsed,
			wantN: 1, wantToken: kept.RefreshToken, wantState: dest.StateOK},
		{name: "other reauth cause stays", stored: predecessor, marked: true, mark: dest.ReauthOther,
			wantN: 1, wantToken: kept.RefreshToken, wantState: dest.StateReauthRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			dir := t.TempDir()
			s := sinktest.NewStoreConfig(t, sink.Config{StateDir: dir, Keyring: tt.keys, Logger: zerolog.New(&logs)})
			ctx := testContext(t)
			conn := newConnection(t, s)
			if err := s.ImportRefreshToken(ctx, conn.ID, predecessor); err != nil {
				t.Fatal(err)
			}
			path, err := s.WriteRecoveryFile(ctx, conn.ID, predecessor, kept)
			if err != nil {
				t.Fatal(err)
			}
			checkRecoveryFile(t, path, tt.keys != nil, kept)
			if tt.stored != predecessor {
				if err := s.ImportRefreshToken(ctx, conn.ID, tt.stored); err != nil {
					t.Fatal(err)
				}
			}
			if tt.marked {
				if err := s.MarkReauthRequired(ctx, conn.ID, "reason", tt.mark); err != nil {
					t.Fatal(err)
				}
			}

			n, err := s.RecoverTokens(ctx)
			if err != nil {
				t.Fatalf("RecoverTokens: %v", err)
			}
			if n != tt.wantN {
				t.Errorf("RecoverTokens imported %d pairs, want %d", n, tt.wantN)
			}
			got, err := s.LoadToken(ctx, conn.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.RefreshToken != tt.wantToken {
				t.Errorf("stored refresh token %q, want %q", got.RefreshToken, tt.wantToken)
			}
			if tt.wantN == 1 {
				if diff := cmp.Diff(kept, got); diff != "" {
					t.Errorf("stored pair (-want +got):\n%s", diff)
				}
			}
			c, err := s.Connection(ctx, conn.ID)
			if err != nil {
				t.Fatal(err)
			}
			if c.State != tt.wantState {
				t.Errorf("state %q, want %q", c.State, tt.wantState)
			}
			var left []string
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				left = append(left, strings.TrimPrefix(e.Name(), strings.TrimSuffix(filepath.Base(path), ".json")))
			}
			if diff := cmp.Diff(tt.wantFiles, left); diff != "" {
				t.Errorf("files left in the state directory (-want +got):\n%s", diff)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("logs do not say %q:\n%s", tt.wantLog, logs.String())
			}
			if strings.Contains(logs.String(), "Zsekrit") {
				t.Errorf("logs contain a token:\n%s", logs.String())
			}
			// Importing twice changes nothing.
			if n, err := s.RecoverTokens(ctx); err != nil || n != 0 {
				t.Errorf("second RecoverTokens = %d, %v; want 0, nil", n, err)
			}
		})
	}
}

// checkRecoveryFile checks a recovery file's mode and that its tokens are sealed when a
// key is set.
func checkRecoveryFile(t *testing.T, path string, sealed bool, kept dest.Token) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("recovery file: %v", err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("recovery file mode %v, want 0600", mode)
	}
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	hasPlain := strings.Contains(string(body), kept.RefreshToken) || strings.Contains(string(body), kept.AccessToken)
	if sealed && (hasPlain || !strings.Contains(string(body), "seal:v1:")) {
		t.Errorf("recovery file holds plaintext tokens although a key is set:\n%s", body)
	}
	if !sealed && !hasPlain {
		t.Errorf("recovery file without a key does not hold the tokens:\n%s", body)
	}
	if strings.Contains(string(body), "refresh!old-Zsekrit") {
		t.Errorf("recovery file names the refresh token it replaces; want only its hash")
	}
}

// A sealed recovery file and no key: the start is refused, the file is kept.
func TestRecoverTokensNeedsTheKey(t *testing.T) {
	t.Parallel()
	key := make([]byte, seal.KeySize)
	keys, err := seal.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	url := sinktest.NewMigratedDatabase(t)
	ctx := testContext(t)
	withKey := sinktest.OpenStore(t, sink.Config{DatabaseURL: url, StateDir: dir, Keyring: keys})
	conn := newConnection(t, withKey)
	if err := withKey.ImportRefreshToken(ctx, conn.ID, "refresh!old-Zsekrit"); err != nil {
		t.Fatal(err)
	}
	path, err := withKey.WriteRecoveryFile(ctx, conn.ID, "refresh!old-Zsekrit", dest.Token{AccessToken: "a-Zsekrit", RefreshToken: "r!Zsekrit"})
	if err != nil {
		t.Fatal(err)
	}
	noKey := sinktest.OpenStore(t, sink.Config{DatabaseURL: url, StateDir: dir})
	if _, err := noKey.RecoverTokens(ctx); !errors.Is(err, seal.ErrNoKey) {
		t.Errorf("RecoverTokens without the key: %v, want seal.ErrNoKey", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the recovery file is gone after a refused import: %v", err)
	}
}
