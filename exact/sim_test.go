package exact_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/exacttest"
)

// These tests run the client against the simulator, the way the sync job uses it.

func newSimClient(t *testing.T, opts exacttest.Options) (*exacttest.Server, *exact.Client, *exact.MemStore) {
	t.Helper()
	opts.FreezeClock = true
	srv := exacttest.NewServer(opts)
	t.Cleanup(srv.Close)
	store := exact.NewMemStore(exact.Token{RefreshToken: srv.RefreshToken()})
	c, err := exact.New(exact.Config{
		BaseURL:      srv.URL,
		ClientID:     "exactsim-client",
		ClientSecret: "exactsim-secret",
		Logger:       zerolog.Nop(),
		Now:          srv.Now,
		Sleep: func(ctx context.Context, d time.Duration) error {
			srv.Advance(d)
			return ctx.Err()
		},
	}, store)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, store
}

type account struct {
	ID, Code, Name    string
	IsSupplier        bool
	Email             *string
	Created, Modified time.Time
	Timestamp         int64
}

// syncAccounts pages through sync/CRM/Accounts from the start.
func syncAccounts(t *testing.T, c *exact.Client, division int) (map[string]account, int) {
	t.Helper()
	next := c.URL(division, "sync/CRM/Accounts", url.Values{
		"$filter": {"Timestamp gt 0L"},
		"$select": {"ID,Code,Name,IsSupplier,Email,Created,Modified,Timestamp"},
	})
	got := map[string]account{}
	pages := 0
	for next != "" {
		p, err := c.Page(context.Background(), division, next)
		if err != nil {
			t.Fatalf("page %d: %v", pages+1, err)
		}
		pages++
		for _, r := range p.Records {
			var a account
			var errs []error
			var err error
			a.ID, _, err = exact.GUID(r.Field("ID"))
			errs = append(errs, err)
			a.Code, _, err = exact.Code(r.Field("Code"))
			errs = append(errs, err)
			a.Name, _, err = exact.String(r.Field("Name"))
			errs = append(errs, err)
			a.IsSupplier, _, err = exact.Bool(r.Field("IsSupplier"))
			errs = append(errs, err)
			if s, ok, err := exact.String(r.Field("Email")); ok {
				a.Email = &s
			} else {
				errs = append(errs, err)
			}
			a.Created, _, err = exact.Date(r.Field("Created"))
			errs = append(errs, err)
			a.Modified, _, err = exact.Date(r.Field("Modified"))
			errs = append(errs, err)
			a.Timestamp, _, err = exact.Int64(r.Field("Timestamp"))
			errs = append(errs, err)
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("page %d: %v", pages, err)
			}
			got[a.ID] = a
		}
		next = p.Next
	}
	return got, pages
}

func wantAccounts(srv *exacttest.Server, division int) map[string]account {
	want := map[string]account{}
	for _, a := range srv.Accounts(division) {
		want[a.ID] = account{
			ID: a.ID, Code: trimSpace(a.Code), Name: a.Name, IsSupplier: a.IsSupplier, Email: a.Email,
			Created: a.Created.UTC(), Modified: a.Modified.UTC(), Timestamp: a.Timestamp,
		}
	}
	return want
}

func trimSpace(s string) string {
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	return s
}

func TestSimulatorFullSync(t *testing.T) {
	tests := []struct {
		name   string
		opts   exacttest.Options
		checks func(t *testing.T, st exacttest.Stats)
	}{
		{
			name: "no limits",
			opts: exacttest.Options{Accounts: 2500, Seed: 7},
		},
		{
			name: "minute limit of 2: waits instead of 429s",
			opts: exacttest.Options{Accounts: 2500, Seed: 7, MinutelyLimit: 2},
			checks: func(t *testing.T, st exacttest.Stats) {
				if st.TooManyRequests != 0 {
					t.Errorf("429s: got %d, want 0", st.TooManyRequests)
				}
			},
		},
		{
			name: "faults: 5xx and truncated bodies are retried",
			opts: exacttest.Options{Accounts: 2500, Seed: 7, Faults: exacttest.Faults{ErrorRate: 0.3, TruncateRate: 0.2, MalformedNext: 1}},
			checks: func(t *testing.T, st exacttest.Stats) {
				if st.FaultsInjected == 0 {
					t.Errorf("no faults were injected")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, _ := newSimClient(t, tt.opts)
			got, pages := syncAccounts(t, c, 101)
			if pages != 3 {
				t.Errorf("pages: got %d, want 3", pages)
			}
			if diff := cmp.Diff(wantAccounts(srv, 101), got); diff != "" {
				t.Errorf("accounts (-simulator +client):\n%s", diff)
			}
			st := srv.Stats()
			if n := st.TotalTokenCalls(); n != 1 {
				t.Errorf("token calls: got %d (%v), want 1", n, st.TokenCalls)
			}
			if tt.checks != nil {
				tt.checks(t, st)
			}
		})
	}
}

func TestSimulatorTokenChain(t *testing.T) {
	srv, c, store := newSimClient(t, exacttest.Options{})
	ctx := context.Background()
	var wg sync.WaitGroup
	for lifetime := range 5 {
		for range 20 {
			wg.Go(func() {
				if _, err := c.AccessToken(ctx); err != nil {
					t.Errorf("lifetime %d: %v", lifetime, err)
				}
			})
		}
		wg.Wait()
		srv.Advance(575 * time.Second)
	}
	st := srv.Stats()
	if diff := cmp.Diff(map[string]int{"refresh_token/ok": 5}, st.TokenCalls); diff != "" {
		t.Errorf("token calls (-want +got):\n%s", diff)
	}
	if got, want := store.Token().RefreshToken, srv.RefreshToken(); got != want {
		t.Errorf("stored refresh token is not the head of the chain")
	}

	// A chain broken elsewhere is terminal, marked once, never retried.
	store.SetToken(exact.Token{RefreshToken: "stale!token"})
	for range 3 {
		if _, err := c.AccessToken(ctx); !errors.Is(err, exact.ErrReauthRequired) {
			t.Fatalf("got %v, want ErrReauthRequired", err)
		}
	}
	if got := srv.Stats().TotalTokenCalls(); got != 6 {
		t.Errorf("token calls: got %d, want 6", got)
	}
	if marks := store.Marks(); len(marks) != 1 {
		t.Errorf("MarkReauthRequired: got %d calls, want 1", len(marks))
	}
}

func TestSimulatorMeDivisionsAndRevoke(t *testing.T) {
	srv, c, _ := newSimClient(t, exacttest.Options{Divisions: []int{101, 202}})
	ctx := context.Background()
	me, err := c.Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if me.CurrentDivision != 101 || me.UserID == "" {
		t.Errorf("Me: got %+v, want CurrentDivision 101 and a UserID", me)
	}
	divs, err := c.Divisions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var codes []int
	for _, d := range divs {
		codes = append(codes, d.Code)
	}
	if diff := cmp.Diff([]int{101, 202}, codes); diff != "" {
		t.Errorf("divisions (-want +got):\n%s", diff)
	}
	srv.RevokeDivision(202)
	_, err = c.Page(ctx, 202, c.URL(202, "sync/CRM/Accounts", url.Values{"$filter": {"Timestamp gt 0L"}, "$select": {"ID"}}))
	var ae *exact.APIError
	if !errors.As(err, &ae) || ae.Status != 403 || ae.Reason != "NoDivisionAccess" {
		t.Errorf("revoked division: got %v, want 403 NoDivisionAccess", err)
	}
}

func TestSimulatorDailyLimit(t *testing.T) {
	srv, c, _ := newSimClient(t, exacttest.Options{Accounts: 10, DailyLimit: 3})
	ctx := context.Background()
	u := c.URL(101, "sync/CRM/Accounts", url.Values{"$filter": {"Timestamp gt 0L"}, "$select": {"ID"}})
	var err error
	for i := 0; i < 5 && err == nil; i++ {
		_, err = c.Page(ctx, 101, u)
	}
	var de *exact.DailyLimitError
	if !errors.As(err, &de) || de.Division != 101 {
		t.Fatalf("got %v, want *DailyLimitError", err)
	}
	if got := srv.Stats().Calls(101, "sync/CRM/Accounts"); got != 3 {
		t.Errorf("calls: got %d, want 3 (no call once the budget is known to be spent)", got)
	}
	if st := srv.Stats(); st.TooManyRequests != 0 {
		t.Errorf("429s: got %d, want 0", st.TooManyRequests)
	}
}

// TestSimulatorLicenceCap: another application has spent the licence's day but for three
// calls (§2.7). The client believes its headers, which give the app's own 5,000 until the
// 429: that 429 is a *DailyLimitError saying how many calls the client still counted on,
// and the client sends the division nothing more before the reset (§2.4).
func TestSimulatorLicenceCap(t *testing.T) {
	srv, c, _ := newSimClient(t, exacttest.Options{Accounts: 10, DailyLimit: 5000, MinutelyLimit: 60,
		Licence: exacttest.Licence{DailyLimit: 20000, OtherAppCalls: 19997}})
	ctx := context.Background()
	u := c.URL(101, "sync/CRM/Accounts", url.Values{"$filter": {"Timestamp gt 0L"}, "$select": {"ID"}})
	for i := range 3 {
		if _, err := c.Page(ctx, 101, u); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	if rl := c.RateLimit(101); rl.DailyRemaining != 4997 {
		t.Fatalf("after 3 calls the client counts %d left, want the app's own 4997", rl.DailyRemaining)
	}
	_, err := c.Page(ctx, 101, u)
	var de *exact.DailyLimitError
	if !errors.As(err, &de) || de.Expected != 4996 || !de.Reset.Equal(time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("got %v (%+v), want a *DailyLimitError expecting 4996 more calls, resuming at 00:00 UTC", err, de)
	}
	if msg := err.Error(); !strings.Contains(msg, "4996 calls of this app's budget left") || !strings.Contains(msg, "other applications of the licence") {
		t.Errorf("error %q does not say another application spent the day", msg)
	}
	if rl := c.RateLimit(101); rl.DailyRemaining != 0 {
		t.Errorf("after the 429 the client counts %d left, want Exact's 0", rl.DailyRemaining)
	}
	_, err = c.Page(ctx, 101, u)
	if !errors.As(err, &de) || de.Expected != 0 {
		t.Errorf("the next page: %v, want a *DailyLimitError without a call", err)
	}
	if st := srv.Stats(); st.TooManyRequests != 1 || st.Calls(101, "sync/CRM/Accounts") != 4 {
		t.Errorf("%d calls, %d 429s; want 4 calls and one 429", st.Calls(101, "sync/CRM/Accounts"), st.TooManyRequests)
	}
}

// TestSpentDayFromAnotherProcess: a day another process saw end (exact_sync.rate_limits)
// stops this client's calls to the division although its own last answer left calls
// (§2.4, §2.7); an earlier day's does not.
func TestSpentDayFromAnotherProcess(t *testing.T) {
	srv, c, _ := newSimClient(t, exacttest.Options{Accounts: 10, DailyLimit: 5000})
	ctx := context.Background()
	u := c.URL(101, "sync/CRM/Accounts", url.Values{"$filter": {"Timestamp gt 0L"}, "$select": {"ID"}})
	if _, err := c.Page(ctx, 101, u); err != nil {
		t.Fatal(err)
	}
	reset := c.RateLimit(101).DailyReset
	c.SpentDay(101, reset.Add(-24*time.Hour))
	if _, err := c.Page(ctx, 101, u); err != nil {
		t.Fatalf("after an earlier day was reported spent: %v, want the page", err)
	}
	c.SpentDay(101, reset)
	var de *exact.DailyLimitError
	if _, err := c.Page(ctx, 101, u); !errors.As(err, &de) {
		t.Fatalf("after this day was reported spent: %v, want a *DailyLimitError", err)
	}
	if got := srv.Stats().Calls(101, "sync/CRM/Accounts"); got != 2 {
		t.Errorf("%d calls, want 2: none once the day is known spent", got)
	}
}

// TestSimulatorBareSelectWithDeferred: a regular endpoint asked for $top of at most 60
// answers the bare {"d":[…]} (§3.5); without $select it carries the navigation members as
// {"__deferred":…}. The client reads both envelopes alike, and the deferred member is an
// ordinary member of the record.
func TestSimulatorBareSelectWithDeferred(t *testing.T) {
	_, c, _ := newSimClient(t, exacttest.Options{Records: map[string]int{"vat_codes": 8}})
	ctx := context.Background()
	for _, q := range []url.Values{{"$top": {"5"}}, {"$top": {"5"}, "$select": {"ID,Code,VATPercentages"}}} {
		p, err := c.Page(ctx, 101, c.URL(101, "vat/VATCodes", q))
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Records) != 5 || p.Next != "" {
			t.Fatalf("%v: %d records, next %q; want the 5 of a bare page", q, len(p.Records), p.Next)
		}
		for _, r := range p.Records {
			if err := r.Err(); err != nil {
				t.Fatalf("%v: %v", q, err)
			}
			code, ok, err := exact.String(r.Field("Code"))
			if err != nil || !ok || len(code) != 3 {
				t.Errorf("%v: Code %q %v, want a VAT code of 3 characters", q, code, err)
			}
			if nav := string(r.Field("VATPercentages")); !strings.HasPrefix(nav, `{"__deferred":{"uri":"http`) || !strings.HasSuffix(nav, `/VATPercentages"}}`) {
				t.Errorf("%v: VATPercentages %s, want the deferred member", q, nav)
			}
		}
	}
}

// TestDivisionsThroughAGrantedDivision: when the app was not granted the user's current
// division, the list goes through another candidate instead of failing (§3.3, §6.9); with
// no other candidate, the error is the current division's 403.
func TestDivisionsThroughAGrantedDivision(t *testing.T) {
	srv, c, _ := newSimClient(t, exacttest.Options{Divisions: []int{101, 202, 303}})
	srv.RevokeDivision(101) // the current division
	ctx := context.Background()
	_, err := c.Divisions(ctx)
	var ae *exact.APIError
	if !errors.As(err, &ae) || ae.Status != 403 || ae.Division != 101 {
		t.Fatalf("Divisions with only the revoked current division: got %v, want its 403", err)
	}
	srv.RevokeDivision(202)
	divs, err := c.Divisions(ctx, 202, 303)
	if err != nil {
		t.Fatalf("Divisions through 202 (revoked) and 303: %v", err)
	}
	var codes []int
	for _, d := range divs {
		codes = append(codes, d.Code)
	}
	if diff := cmp.Diff([]int{303}, codes); diff != "" {
		t.Errorf("divisions listed through 303 (-want +got):\n%s", diff)
	}
	if got := srv.Stats().Calls(303, "system/Divisions"); got != 1 {
		t.Errorf("calls to system/Divisions through 303: %d, want 1", got)
	}
}

// TestTokenEndpointDownKeepsTheChain: a refresh answered 503 (Exact's nightly maintenance,
// §0, §4.2) fails the call without touching the chain: no re-authorization is asked for,
// the stored refresh token stays the simulator's, and after the window the refresh works.
func TestTokenEndpointDownKeepsTheChain(t *testing.T) {
	// 03:50 in Amsterdam (CET), ten minutes before the 04:00–04:30 window.
	srv, c, store := newSimClient(t, exacttest.Options{Maintenance: true, Start: time.Date(2026, 1, 5, 2, 50, 0, 0, time.UTC)})
	ctx := context.Background()
	if _, err := c.AccessToken(ctx); err != nil {
		t.Fatalf("before the window: %v", err)
	}
	srv.Advance(20 * time.Minute) // 04:10: the access token has expired, the endpoint is down
	head := srv.RefreshToken()
	_, err := c.AccessToken(ctx)
	if err == nil || errors.Is(err, exact.ErrReauthRequired) {
		t.Fatalf("refresh during the window: %v, want an error that is not a re-authorization", err)
	}
	if marks := store.Marks(); len(marks) != 0 {
		t.Errorf("the connection was marked for re-authorization %d times, want 0", len(marks))
	}
	if tok, _ := store.LoadToken(ctx); tok.RefreshToken != head || srv.RefreshToken() != head {
		t.Errorf("the chain moved during the window")
	}
	srv.Advance(25 * time.Minute) // 04:35
	if _, err := c.AccessToken(ctx); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	if got := srv.Stats().TokenCalls["refresh_token/ok"]; got != 2 {
		t.Errorf("successful refreshes: %d, want 2 (before and after the window)", got)
	}
}
