package sink_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/seal"
	"github.com/exactsync/exactsync/sink/sinktest"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, seal.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func newKeyring(t *testing.T, current []byte, old ...[]byte) *seal.Keyring {
	t.Helper()
	kr, err := seal.NewKeyring(current, old...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// connectionsText is the whole of exact_sync.connections as text, as someone reading the
// database would see it.
func connectionsText(t *testing.T, s *sink.Store) string {
	t.Helper()
	var text string
	err := s.Pool().QueryRow(testContext(t), `SELECT coalesce(string_agg(c::text, E'\n'), '') FROM exact_sync.connections c`).Scan(&text)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// storeSecrets gives conn a refreshed token pair and a client secret.
func storeSecrets(t *testing.T, s *sink.Store, connID int64, tok dest.Token, clientSecret string) {
	t.Helper()
	ctx := testContext(t)
	if err := s.ImportRefreshToken(ctx, connID, "imported-refresh-token!0"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateToken(ctx, connID, func(context.Context, dest.Token) (dest.Token, bool, error) { return tok, true, nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.SetClientSecret(ctx, connID, clientSecret); err != nil {
		t.Fatal(err)
	}
}

func testToken() dest.Token {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return dest.Token{AccessToken: "access-token-plain-AAAA", RefreshToken: "refresh!token-plain-BBBB", Expiry: now.Add(10 * time.Minute), IssuedAt: now}
}

const testClientSecret = "client-secret-plain-CCCC"

func TestSealedSecretsRoundTrip(t *testing.T) {
	t.Parallel()
	kr := newKeyring(t, newKey(t))
	s := sinktest.NewStoreConfig(t, sink.Config{Keyring: kr})
	ctx := testContext(t)
	conn := newConnection(t, s)
	tok := testToken()

	if err := s.ImportRefreshToken(ctx, conn.ID, "imported-refresh-token!0"); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadToken(ctx, conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(dest.Token{RefreshToken: "imported-refresh-token!0"}, got); diff != "" {
		t.Errorf("LoadToken after import (-want +got):\n%s", diff)
	}
	var cur dest.Token
	if _, err := s.UpdateToken(ctx, conn.ID, func(_ context.Context, c dest.Token) (dest.Token, bool, error) {
		cur = c
		return tok, true, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, want := cur.RefreshToken, "imported-refresh-token!0"; got != want {
		t.Errorf("UpdateToken handed fn refresh token %q, want %q", got, want)
	}
	if err := s.SetClientSecret(ctx, conn.ID, testClientSecret); err != nil {
		t.Fatal(err)
	}

	if got, err = s.LoadToken(ctx, conn.ID); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tok, got); diff != "" {
		t.Errorf("LoadToken (-want +got):\n%s", diff)
	}
	secret, err := s.ClientSecret(ctx, conn.ID)
	if err != nil || secret != testClientSecret {
		t.Errorf("ClientSecret = %q, %v; want %q", secret, err, testClientSecret)
	}
	c, err := s.Connection(ctx, conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{kr.CurrentID()}, c.KeyIDs); diff != "" || !c.HasClientSecret {
		t.Errorf("Connection: KeyIDs (-want +got):\n%s\nHasClientSecret %t, want true", diff, c.HasClientSecret)
	}

	text := connectionsText(t, s)
	for _, plain := range []string{tok.AccessToken, tok.RefreshToken, testClientSecret, "imported-refresh-token"} {
		if strings.Contains(text, plain) {
			t.Errorf("exact_sync.connections holds the plaintext %q:\n%s", plain, text)
		}
	}
	if n := strings.Count(text, "seal:v1:"+kr.CurrentID()+":"); n != 3 {
		t.Errorf("the table holds %d values sealed with the current key, want 3:\n%s", n, text)
	}
}

func TestSealedValueDoesNotOpenElsewhere(t *testing.T) {
	t.Parallel()
	kr := newKeyring(t, newKey(t))
	s := sinktest.NewStoreConfig(t, sink.Config{Keyring: kr})
	ctx := testContext(t)
	a := newConnection(t, s)
	b, err := s.UpsertConnection(ctx, "https://start.exactonline.be", "client-1", "user-1")
	if err != nil {
		t.Fatal(err)
	}
	storeSecrets(t, s, a.ID, testToken(), testClientSecret)

	tests := []struct {
		name string
		sql  string
		read func() error
	}{
		{"refresh token copied to another row",
			`UPDATE exact_sync.connections SET refresh_token = (SELECT refresh_token FROM exact_sync.connections WHERE id = $1) WHERE id = $2`,
			func() error { _, err := s.LoadToken(ctx, b.ID); return err }},
		{"client secret copied to another row",
			`UPDATE exact_sync.connections SET client_secret = (SELECT client_secret FROM exact_sync.connections WHERE id = $1) WHERE id = $2`,
			func() error { _, err := s.ClientSecret(ctx, b.ID); return err }},
		{"access token copied to the refresh token column",
			`UPDATE exact_sync.connections SET refresh_token = access_token WHERE id = $1 AND $2 > 0`,
			func() error { _, err := s.LoadToken(ctx, a.ID); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Pool().Exec(ctx, tt.sql, a.ID, b.ID); err != nil {
				t.Fatal(err)
			}
			err := tt.read()
			if err == nil || !strings.Contains(err.Error(), "tampered with or moved") {
				t.Errorf("reading a moved value: got %v, want an error saying it was tampered with or moved", err)
			}
		})
	}
}

// TestCheckSecrets opens a database written with key 1 with each keyring.
func TestCheckSecrets(t *testing.T) {
	t.Parallel()
	key1, key2 := newKey(t), newKey(t)
	id1 := seal.ID(key1)
	dbURL := sinktest.NewMigratedDatabase(t)
	s1 := sinktest.OpenStore(t, sink.Config{DatabaseURL: dbURL, Keyring: newKeyring(t, key1)})
	storeSecrets(t, s1, newConnection(t, s1).ID, testToken(), testClientSecret)

	tests := []struct {
		name       string
		keyring    *seal.Keyring
		want       sink.SecretsReport
		wantErrIn  []string // empty: no error
		wantNoKeyE bool
	}{
		{name: "the same key", keyring: newKeyring(t, key1),
			want: sink.SecretsReport{Values: 3, CurrentKey: 3, CurrentKeyID: id1}},
		{name: "no key", keyring: nil,
			wantErrIn: []string{id1, "EXACTSYNC_ENCRYPTION_KEY"}, wantNoKeyE: true},
		{name: "another key", keyring: newKeyring(t, key2),
			wantErrIn: []string{id1, "EXACTSYNC_ENCRYPTION_KEY_OLD"}, wantNoKeyE: true},
		{name: "another key with the old one", keyring: newKeyring(t, key2, key1),
			want: sink.SecretsReport{Values: 3, OtherKey: 3, CurrentKeyID: seal.ID(key2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sinktest.OpenStore(t, sink.Config{DatabaseURL: dbURL, Keyring: tt.keyring})
			got, err := s.CheckSecrets(testContext(t))
			if len(tt.wantErrIn) == 0 {
				if err != nil {
					t.Fatalf("CheckSecrets: %v", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("CheckSecrets (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckSecrets succeeded, want an error")
			}
			if errors.Is(err, seal.ErrNoKey) != tt.wantNoKeyE {
				t.Errorf("errors.Is(err, seal.ErrNoKey) = %t, want %t", !tt.wantNoKeyE, tt.wantNoKeyE)
			}
			for _, s := range tt.wantErrIn {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestRotateSecrets(t *testing.T) {
	t.Parallel()
	oldKey, keyNew := newKey(t), newKey(t)
	tests := []struct {
		name    string
		before  *seal.Keyring // the keyring the secrets are written with
		rotate  *seal.Keyring
		after   *seal.Keyring // a keyring that must open everything afterwards
		wantErr bool
	}{
		{name: "from plaintext", before: nil, rotate: newKeyring(t, keyNew), after: newKeyring(t, keyNew)},
		{name: "from an old key", before: newKeyring(t, oldKey), rotate: newKeyring(t, keyNew, oldKey), after: newKeyring(t, keyNew)},
		{name: "without the old key", before: newKeyring(t, oldKey), rotate: newKeyring(t, keyNew), wantErr: true},
		{name: "without any key", before: nil, rotate: nil, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dbURL := sinktest.NewMigratedDatabase(t)
			ctx := testContext(t)
			w := sinktest.OpenStore(t, sink.Config{DatabaseURL: dbURL, Keyring: tt.before})
			tok := testToken()
			a := newConnection(t, w)
			storeSecrets(t, w, a.ID, tok, testClientSecret)
			b, err := w.UpsertConnection(ctx, "https://start.exactonline.de", "client-2", "user-2")
			if err != nil {
				t.Fatal(err)
			}
			if err := w.ImportRefreshToken(ctx, b.ID, "second-refresh!token"); err != nil {
				t.Fatal(err)
			}
			before := connectionsText(t, w)

			r := sinktest.OpenStore(t, sink.Config{DatabaseURL: dbURL, Keyring: tt.rotate})
			n, err := r.RotateSecrets(ctx)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("RotateSecrets re-encrypted %d values, want an error", n)
				}
				if after := connectionsText(t, w); after != before {
					t.Errorf("a failed rotation changed the table:\nbefore %s\nafter  %s", before, after)
				}
				return
			}
			if err != nil {
				t.Fatalf("RotateSecrets: %v", err)
			}
			if n != 4 {
				t.Errorf("RotateSecrets re-encrypted %d values, want 4", n)
			}
			if n, err := r.RotateSecrets(ctx); err != nil || n != 0 {
				t.Errorf("second RotateSecrets = %d, %v; want 0, nil", n, err)
			}

			s := sinktest.OpenStore(t, sink.Config{DatabaseURL: dbURL, Keyring: tt.after})
			rep, err := s.CheckSecrets(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := (sink.SecretsReport{Values: 4, CurrentKey: 4, CurrentKeyID: tt.after.CurrentID()}); rep != want {
				t.Errorf("CheckSecrets after rotation = %+v, want %+v", rep, want)
			}
			got, err := s.LoadToken(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tok, got); diff != "" {
				t.Errorf("LoadToken after rotation (-want +got):\n%s", diff)
			}
			if got, err := s.ClientSecret(ctx, a.ID); err != nil || got != testClientSecret {
				t.Errorf("ClientSecret after rotation = %q, %v; want %q", got, err, testClientSecret)
			}
			if got, err := s.LoadToken(ctx, b.ID); err != nil || got.RefreshToken != "second-refresh!token" {
				t.Errorf("LoadToken of the second connection after rotation = %q, %v", got.RefreshToken, err)
			}
			text := connectionsText(t, s)
			for _, plain := range []string{tok.AccessToken, tok.RefreshToken, testClientSecret, "second-refresh"} {
				if strings.Contains(text, plain) {
					t.Errorf("after rotation the table holds the plaintext %q", plain)
				}
			}
		})
	}
}

func TestClaimConnectionUserReseals(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStoreConfig(t, sink.Config{Keyring: newKeyring(t, newKey(t))})
	ctx := testContext(t)
	existing := newConnection(t, s)
	storeSecrets(t, s, existing.ID, dest.Token{AccessToken: "old-access", RefreshToken: "old-refresh"}, "old-client-secret")

	pending, err := s.UpsertConnection(ctx, existing.BaseURL, existing.ClientID, "")
	if err != nil {
		t.Fatal(err)
	}
	tok := testToken()
	storeSecrets(t, s, pending.ID, tok, testClientSecret)

	got, err := s.ClaimConnectionUser(ctx, pending.ID, existing.UserKey, true)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != existing.ID {
		t.Fatalf("claimed connection %d, want the existing %d", got.ID, existing.ID)
	}
	loaded, err := s.LoadToken(ctx, existing.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tok, loaded); diff != "" {
		t.Errorf("token of the claimed connection (-want +got):\n%s", diff)
	}
	if secret, err := s.ClientSecret(ctx, existing.ID); err != nil || secret != testClientSecret {
		t.Errorf("client secret of the claimed connection = %q, %v; want %q", secret, err, testClientSecret)
	}
	if _, err := s.Connection(ctx, pending.ID); !errors.Is(err, sink.ErrNotFound) {
		t.Errorf("pending connection after the claim: %v, want ErrNotFound", err)
	}
}

func TestDivisions(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	conn := newConnection(t, s)
	ignore := cmpopts.IgnoreFields(dest.Division{}, "SeenAt")

	got, err := s.Divisions(ctx, conn.ID)
	if err != nil || len(got) != 0 {
		t.Fatalf("Divisions before any save = %v, %v; want none", got, err)
	}
	steps := [][]dest.Division{
		{{Code: 102, Description: "Bakkerij B.V.", Status: 1}, {Code: 101, Description: "Holding", Status: 1}},
		{{Code: 101, Description: "Holding (archived)", Status: 2}, {Code: 103, Description: "New"}},
		{},
	}
	wants := [][]dest.Division{
		{{Code: 101, Description: "Holding", Status: 1}, {Code: 102, Description: "Bakkerij B.V.", Status: 1}},
		{{Code: 101, Description: "Holding (archived)", Status: 2}, {Code: 103, Description: "New"}},
		nil,
	}
	for i, divs := range steps {
		if err := s.SaveDivisions(ctx, conn.ID, divs); err != nil {
			t.Fatal(err)
		}
		got, err := s.Divisions(ctx, conn.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wants[i], got, ignore, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("step %d: Divisions (-want +got):\n%s", i+1, diff)
		}
	}
}
