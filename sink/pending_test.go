package sink_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// TestPendingRefresh: the life of an announced refresh on the row. It is stored with the
// announcing process and a window on the database's clock, read back by every reader,
// kept by a write that leaves it alone, and over once it is ended, once another refresh
// token is stored (a refreshed pair, an import), or once the connection is marked
// reauth_required.
func TestPendingRefresh(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStoreConfig(t, sink.Config{LockTimeout: 5 * time.Second, TokenStoreWindow: time.Minute})
	ctx := testContext(t)
	conn := newConnection(t, s)
	if err := s.ImportRefreshToken(ctx, conn.ID, "refresh-0"); err != nil {
		t.Fatal(err)
	}
	update := func(fn func(cur dest.Token) dest.Token) dest.Token {
		t.Helper()
		var seen dest.Token
		if _, err := s.UpdateToken(ctx, conn.ID, func(_ context.Context, cur dest.Token) (dest.Token, bool, error) {
			seen = cur
			return fn(cur), true, nil
		}); err != nil {
			t.Fatal(err)
		}
		return seen
	}
	load := func() dest.Token {
		t.Helper()
		tok, err := s.LoadToken(ctx, conn.ID)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	announce := func(cur dest.Token) dest.Token {
		cur.Pending = dest.PendingRefresh{By: "client-a", Left: 10 * time.Second}
		return cur
	}

	// Announced: every reader sees who, since when and for how long.
	update(announce)
	got := load()
	p := got.Pending
	// The window: 10 s of token call, 5 s of lock timeout, 1 min of retries, 30 s margin.
	window := 10*time.Second + 5*time.Second + time.Minute + 30*time.Second
	if p.By != "client-a" || p.Holder != sink.ThisProcess() || p.Ended || p.Since.IsZero() ||
		p.Left <= window-10*time.Second || p.Left > window {
		t.Fatalf("announced refresh read back as %+v, want by client-a, held by %s, left about %s", p, sink.ThisProcess(), window)
	}
	if under := update(func(cur dest.Token) dest.Token { return cur }).Pending; under.By != p.By || !under.Since.Equal(p.Since) {
		t.Errorf("under the row lock the announcement is %+v, want %+v", under, p)
	}

	// A write that carries it (NotBefore here) leaves it as it is.
	nb := time.Now().Add(time.Minute).UTC().Truncate(time.Microsecond)
	update(func(cur dest.Token) dest.Token { cur.NotBefore = nb; return cur })
	if got := load(); got.Pending.By != "client-a" || !got.Pending.Since.Equal(p.Since) || !got.NotBefore.Equal(nb) {
		t.Errorf("after a NotBefore write: pending %+v, not before %v; want the announcement kept and %v", got.Pending, got.NotBefore, nb)
	}

	// Ended by the announcer.
	update(func(cur dest.Token) dest.Token { cur.Pending = dest.PendingRefresh{}; return cur })
	if got := load().Pending; got != (dest.PendingRefresh{}) {
		t.Errorf("after ending it: %+v, want none", got)
	}

	// A stored pair ends it.
	update(announce)
	update(func(cur dest.Token) dest.Token {
		return dest.Token{AccessToken: "access-1", RefreshToken: "refresh-1", Expiry: time.Now().Add(10 * time.Minute)}
	})
	if got := load(); got.RefreshToken != "refresh-1" || got.Pending != (dest.PendingRefresh{}) {
		t.Errorf("after a refreshed pair: refresh token %q, pending %+v; want refresh-1, none", got.RefreshToken, got.Pending)
	}

	// An announcement about another refresh token than the stored one is over.
	update(announce)
	if _, err := s.Pool().Exec(ctx, `UPDATE exact_sync.connections SET refresh_token = 'refresh-elsewhere' WHERE id = $1`, conn.ID); err != nil {
		t.Fatal(err)
	}
	if got := load().Pending; got != (dest.PendingRefresh{}) {
		t.Errorf("for another stored refresh token: %+v, want none", got)
	}

	// An import ends it.
	update(announce)
	if err := s.ImportRefreshToken(ctx, conn.ID, "refresh-2"); err != nil {
		t.Fatal(err)
	}
	var sha string
	if err := s.Pool().QueryRow(ctx, `SELECT refresh_pending_sha256 || refresh_pending_by FROM exact_sync.connections WHERE id = $1`, conn.ID).Scan(&sha); err != nil || sha != "" {
		t.Errorf("after an import the announcement columns hold %q (%v), want empty", sha, err)
	}

	// Marking reauth_required ends it.
	update(announce)
	if err := s.MarkReauthRequired(ctx, conn.ID, "the refresh token was already used", dest.ReauthRefreshTokenUsed); err != nil {
		t.Fatal(err)
	}
	if got := load().Pending; got != (dest.PendingRefresh{}) {
		t.Errorf("after marking reauth_required: %+v, want none", got)
	}
	if err := s.ImportRefreshToken(ctx, conn.ID, "refresh-3"); err != nil {
		t.Fatal(err)
	}

	// A window that has passed reads as Left <= 0.
	update(announce)
	if _, err := s.Pool().Exec(ctx, `UPDATE exact_sync.connections SET refresh_pending_until = now() - interval '1 second' WHERE id = $1`, conn.ID); err != nil {
		t.Fatal(err)
	}
	if got := load().Pending; got.By != "client-a" || got.Left > -time.Second+100*time.Millisecond {
		t.Errorf("after its window: %+v, want by client-a with Left about -1s", got)
	}

	// The announcing process: ended when it is a process of this machine that no longer
	// runs, or this pid in another incarnation.
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		proc []byte
		want bool
	}{
		{"this process", sink.ProcessJSON(os.Getpid(), true), false},
		{"this pid, another incarnation", sink.ProcessJSON(os.Getpid(), false), true},
		{"a pid that ended", sink.ProcessJSON(c.Process.Pid, false), true},
		{"a running pid", sink.ProcessJSON(os.Getppid(), false), false},
		{"unreadable", []byte(`{"pid":"x"}`), false},
	} {
		if _, err := s.Pool().Exec(ctx, `UPDATE exact_sync.connections SET refresh_pending_process = $2, refresh_pending_until = now() + interval '1 minute' WHERE id = $1`,
			conn.ID, tt.proc); err != nil {
			t.Fatal(err)
		}
		got := load().Pending
		if got.Ended != tt.want && (machineKnown() || !tt.want) {
			t.Errorf("%s: Ended = %t, want %t", tt.name, got.Ended, tt.want)
		}
		if got.Left <= 0 || got.By != "client-a" {
			t.Errorf("%s: %+v, want a pending refresh by client-a", tt.name, got)
		}
	}
}

// machineKnown reports whether this system tells its boot id and pid namespace, without
// which no process can be known to have ended.
func machineKnown() bool {
	_, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return err == nil
}
