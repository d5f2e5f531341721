package sink_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
)

func TestConnections(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	ignore := cmpopts.IgnoreFields(dest.Connection{}, "CreatedAt")

	first, err := s.UpsertConnection(ctx, "https://start.exactonline.nl", "client-1", "")
	if err != nil {
		t.Fatal(err)
	}
	want := dest.Connection{ID: first.ID, BaseURL: "https://start.exactonline.nl", ClientID: "client-1", State: dest.StateOK}
	if diff := cmp.Diff(want, first, ignore); diff != "" {
		t.Errorf("UpsertConnection (-want +got):\n%s", diff)
	}
	again, err := s.UpsertConnection(ctx, "https://start.exactonline.nl", "client-1", "")
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID {
		t.Errorf("second UpsertConnection id = %d, want %d (the same row)", again.ID, first.ID)
	}
	if err := s.SetConnectionUser(ctx, first.ID, "user-guid-1"); err != nil {
		t.Fatal(err)
	}
	other, err := s.UpsertConnection(ctx, "https://start.exactonline.be", "client-1", "user-guid-1")
	if err != nil {
		t.Fatal(err)
	}
	if other.ID == first.ID {
		t.Errorf("a connection to another host got the same id %d", other.ID)
	}

	got, err := s.Connections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want.UserKey = "user-guid-1"
	wantAll := []dest.Connection{want, {ID: other.ID, BaseURL: "https://start.exactonline.be", ClientID: "client-1", UserKey: "user-guid-1", State: dest.StateOK}}
	if diff := cmp.Diff(wantAll, got, ignore); diff != "" {
		t.Errorf("Connections (-want +got):\n%s", diff)
	}
	one, err := s.Connection(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, one, ignore); diff != "" {
		t.Errorf("Connection (-want +got):\n%s", diff)
	}

	for name, err := range map[string]error{
		"Connection":         func() error { _, err := s.Connection(ctx, 999); return err }(),
		"LoadToken":          func() error { _, err := s.LoadToken(ctx, 999); return err }(),
		"SetConnectionUser":  s.SetConnectionUser(ctx, 999, "x"),
		"ImportRefreshToken": s.ImportRefreshToken(ctx, 999, "x"),
		"MarkReauthRequired": s.MarkReauthRequired(ctx, 999, "x", dest.ReauthOther),
	} {
		if !errors.Is(err, sink.ErrNotFound) {
			t.Errorf("%s of a missing connection: got %v, want ErrNotFound", name, err)
		}
	}
}

func TestTokenImportLoadMark(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)
	conn := newConnection(t, s)

	if err := s.ImportRefreshToken(ctx, conn.ID, "refresh!1"); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadToken(ctx, conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(dest.Token{RefreshToken: "refresh!1"}, got); diff != "" {
		t.Errorf("LoadToken after import (-want +got):\n%s", diff)
	}

	if err := s.MarkReauthRequired(ctx, conn.ID, "Old refresh token used", dest.ReauthRefreshTokenUsed); err != nil {
		t.Fatal(err)
	}
	c, err := s.Connection(ctx, conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != dest.StateReauthRequired || c.StateReason != "Old refresh token used" {
		t.Errorf("after MarkReauthRequired: state %q, reason %q; want reauth_required, Old refresh token used", c.State, c.StateReason)
	}
	var reason string
	errRefused := errors.New("refused")
	_, err = s.UpdateToken(ctx, conn.ID, func(ctx context.Context, cur dest.Token) (dest.Token, bool, error) {
		reason = cur.ReauthReason
		return cur, false, errRefused
	})
	if err != errRefused || reason != "Old refresh token used" {
		t.Errorf("UpdateToken on a reauth_required connection: err %v, ReauthReason %q; want fn's error, Old refresh token used", err, reason)
	}

	// A new import repairs the connection.
	if err := s.ImportRefreshToken(ctx, conn.ID, "refresh!2"); err != nil {
		t.Fatal(err)
	}
	if c, err = s.Connection(ctx, conn.ID); err != nil {
		t.Fatal(err)
	}
	if c.State != dest.StateOK || c.StateReason != "" || c.RefreshTokenIssuedAt.IsZero() {
		t.Errorf("after a new import: state %q, reason %q, refresh token issued %v; want ok, empty, set", c.State, c.StateReason, c.RefreshTokenIssuedAt)
	}
}

func TestUpdateToken(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC().Truncate(time.Microsecond)
	stored := dest.Token{AccessToken: "access-1", RefreshToken: "refresh-1", Expiry: now.Add(time.Minute), IssuedAt: now.Add(-9 * time.Minute)}
	next := dest.Token{AccessToken: "access-2", RefreshToken: "refresh-2", Expiry: now.Add(10 * time.Minute), IssuedAt: now}
	errBoom := errors.New("token endpoint said no")
	tests := []struct {
		name       string
		fn         func(ctx context.Context, cur dest.Token) (dest.Token, bool, error)
		want       dest.Token // returned
		wantErr    error
		wantStored dest.Token
	}{
		{
			name:       "unchanged",
			fn:         func(ctx context.Context, cur dest.Token) (dest.Token, bool, error) { return cur, false, nil },
			want:       stored,
			wantStored: stored,
		},
		{
			name:       "refreshed",
			fn:         func(ctx context.Context, cur dest.Token) (dest.Token, bool, error) { return next, true, nil },
			want:       next,
			wantStored: next,
		},
		{
			name:       "error",
			fn:         func(ctx context.Context, cur dest.Token) (dest.Token, bool, error) { return next, true, errBoom },
			wantErr:    errBoom,
			wantStored: stored,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := sinktest.NewStore(t)
			ctx := testContext(t)
			conn := newConnection(t, s)
			if _, err := s.UpdateToken(ctx, conn.ID, func(context.Context, dest.Token) (dest.Token, bool, error) { return stored, true, nil }); err != nil {
				t.Fatal(err)
			}
			before, _ := s.Connection(ctx, conn.ID)

			var gotCur dest.Token
			got, err := s.UpdateToken(ctx, conn.ID, func(ctx context.Context, cur dest.Token) (dest.Token, bool, error) {
				gotCur = cur
				return tt.fn(ctx, cur)
			})
			if err != tt.wantErr {
				t.Errorf("UpdateToken error = %v, want %v (as is)", err, tt.wantErr)
			}
			if diff := cmp.Diff(stored, gotCur); diff != "" {
				t.Errorf("fn got (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("UpdateToken returned (-want +got):\n%s", diff)
			}
			loaded, err := s.LoadToken(ctx, conn.ID)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantStored, loaded); diff != "" {
				t.Errorf("stored token (-want +got):\n%s", diff)
			}
			after, _ := s.Connection(ctx, conn.ID)
			refreshed := tt.wantStored == next
			if moved := !after.LastRefreshAt.Equal(before.LastRefreshAt); moved != refreshed {
				t.Errorf("last_refresh_at moved = %t, want %t", moved, refreshed)
			}
			if moved := !after.RefreshTokenIssuedAt.Equal(before.RefreshTokenIssuedAt); moved != refreshed {
				t.Errorf("refresh_token_issued_at moved = %t, want %t", moved, refreshed)
			}
		})
	}
}

// TestUpdateTokenOneRefresh: ten goroutines, each on its own database session, find a
// stale token at once; exactly one refreshes, the others see its result.
func TestUpdateTokenOneRefresh(t *testing.T) {
	t.Parallel()
	const workers = 10
	s := sinktest.NewStoreConfig(t, sink.Config{MaxConns: workers + 2})
	ctx := testContext(t)
	conn := newConnection(t, s)
	if err := s.ImportRefreshToken(ctx, conn.ID, "refresh-0"); err != nil {
		t.Fatal(err)
	}

	var refreshes atomic.Int32
	var start, wg sync.WaitGroup
	start.Add(1)
	got := make([]dest.Token, workers)
	errs := make([]error, workers)
	for i := range workers {
		wg.Go(func() {
			start.Wait()
			got[i], errs[i] = s.UpdateToken(ctx, conn.ID, func(ctx context.Context, cur dest.Token) (dest.Token, bool, error) {
				if time.Until(cur.Expiry) >= 30*time.Second {
					return cur, false, nil
				}
				n := refreshes.Add(1)
				time.Sleep(50 * time.Millisecond) // the token call
				now := time.Now().UTC().Truncate(time.Microsecond)
				return dest.Token{AccessToken: fmt.Sprintf("access-%d", n), RefreshToken: fmt.Sprintf("refresh-%d", n),
					Expiry: now.Add(10 * time.Minute), IssuedAt: now}, true, nil
			})
		})
	}
	start.Done()
	wg.Wait()
	if n := refreshes.Load(); n != 1 {
		t.Errorf("refreshes = %d, want 1", n)
	}
	for i := range workers {
		if errs[i] != nil {
			t.Errorf("worker %d: %v", i, errs[i])
		} else if got[i].RefreshToken != "refresh-1" {
			t.Errorf("worker %d got refresh token %q, want refresh-1", i, got[i].RefreshToken)
		}
	}
}

func TestUpdateTokenLockTimeout(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStoreConfig(t, sink.Config{LockTimeout: 200 * time.Millisecond})
	ctx := testContext(t)
	conn := newConnection(t, s)

	holder, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx)
	if _, err := holder.Exec(ctx, `SELECT 1 FROM exact_sync.connections WHERE id = $1 FOR UPDATE`, conn.ID); err != nil {
		t.Fatal(err)
	}
	called := false
	begun := time.Now()
	_, err = s.UpdateToken(ctx, conn.ID, func(ctx context.Context, cur dest.Token) (dest.Token, bool, error) {
		called = true
		return cur, false, nil
	})
	if !errors.Is(err, sink.ErrLockTimeout) || called {
		t.Fatalf("UpdateToken while locked: err %v, fn called %t; want ErrLockTimeout, not called", err, called)
	}
	if want := fmt.Sprintf("locking the token of connection %d: lock timeout: another process held it for more than 200ms", conn.ID); err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if d := time.Since(begun); d > 5*time.Second {
		t.Errorf("UpdateToken gave up after %v, want about 200ms", d)
	}
}

// TestUpdateTokenRetriesFailedCommit: the callback outlives the idle-in-transaction
// timeout, so PostgreSQL ends the session and the first write fails after the "token
// call" succeeded; the pair must still be stored, by the retry.
func TestUpdateTokenRetriesFailedCommit(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	s := sinktest.NewStoreConfig(t, sink.Config{IdleInTransactionTimeout: 200 * time.Millisecond, Logger: zerolog.New(&logs)})
	ctx := testContext(t)
	conn := newConnection(t, s)

	now := time.Now().UTC().Truncate(time.Microsecond)
	next := dest.Token{AccessToken: "access-secret-2", RefreshToken: "refresh-secret-2", Expiry: now.Add(10 * time.Minute), IssuedAt: now}
	got, err := s.UpdateToken(ctx, conn.ID, func(ctx context.Context, cur dest.Token) (dest.Token, bool, error) {
		time.Sleep(time.Second)
		return next, true, nil
	})
	if err != nil {
		t.Fatalf("UpdateToken: %v", err)
	}
	if got != next {
		t.Errorf("UpdateToken = %+v, want %+v", got, next)
	}
	stored, err := s.LoadToken(ctx, conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(next, stored); diff != "" {
		t.Errorf("stored token (-want +got):\n%s", diff)
	}
	if !strings.Contains(logs.String(), "storing refreshed token failed, retrying") {
		t.Errorf("logs %q show no retry; the first write was expected to fail", logs.String())
	}
	for _, tok := range []string{next.AccessToken, next.RefreshToken} {
		if strings.Contains(logs.String(), tok) {
			t.Errorf("logs contain a token: %s", logs.String())
		}
	}
}

// TestMarkReauthRequiredAfterUpdate: a terminal token error returned by the callback
// leaves the row unlocked, so that MarkReauthRequired records it at once, in its own
// statement (no transaction travels in the context).
func TestMarkReauthRequiredAfterUpdate(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStoreConfig(t, sink.Config{LockTimeout: 2 * time.Second})
	ctx := testContext(t)
	conn := newConnection(t, s)
	errTerminal := errors.New("old refresh token used")

	_, err := s.UpdateToken(ctx, conn.ID, func(ctx context.Context, cur dest.Token) (dest.Token, bool, error) {
		return cur, false, errTerminal
	})
	if err != errTerminal {
		t.Fatalf("UpdateToken error = %v, want %v", err, errTerminal)
	}
	if err := s.MarkReauthRequired(ctx, conn.ID, "Old refresh token used", dest.ReauthRefreshTokenUsed); err != nil {
		t.Fatal(err)
	}
	c, err := s.Connection(ctx, conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != dest.StateReauthRequired || c.StateReason != "Old refresh token used" {
		t.Errorf("state %q, reason %q; want reauth_required, Old refresh token used", c.State, c.StateReason)
	}
}
