package divisions_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/internal/divisions"
	exsync "github.com/exactsync/exactsync/sync"
)

// memStore is an in-memory divisions.Store.
type memStore struct {
	stored []dest.Division
	limits map[int]dest.RateLimit
	saved  [][]dest.Division // SaveDivisionsResettingMoved's lists
	tables int               // tables given to the last SaveDivisionsResettingMoved
}

func (m *memStore) Divisions(context.Context, int64) ([]dest.Division, error) {
	return slices.Clone(m.stored), nil
}

func (m *memStore) SaveDivisionsResettingMoved(_ context.Context, _ int64, divs []dest.Division, tables ...dest.Table) ([]int, error) {
	m.saved, m.stored, m.tables = append(m.saved, divs), slices.Clone(divs), len(tables)
	return nil, nil
}

func (m *memStore) RateLimits(context.Context, int64) (map[int]dest.RateLimit, error) {
	out := map[int]dest.RateLimit{}
	for d, rl := range m.limits {
		out[d] = rl
	}
	return out, nil
}

func (m *memStore) SaveRateLimit(_ context.Context, _ int64, division int, rl dest.RateLimit) error {
	m.limits[division] = rl
	return nil
}

var _ divisions.Store = (*memStore)(nil)

// tokens is a token row in memory.
type tokens struct {
	mu  sync.Mutex
	tok exact.Token
}

func (s *tokens) LoadToken(context.Context) (exact.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok, nil
}

func (s *tokens) UpdateToken(ctx context.Context, fn func(context.Context, exact.Token) (exact.Token, bool, error)) (exact.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next, changed, err := fn(ctx, s.tok)
	if err != nil {
		return exact.Token{}, err
	}
	if changed {
		s.tok = next
	}
	return s.tok, nil
}

func (s *tokens) MarkReauthRequired(context.Context, *exact.ReauthError) error { return nil }

func client(t *testing.T, sim *exacttest.Simulator) *exact.Client {
	t.Helper()
	c, err := exact.New(exact.Config{BaseURL: exacttest.InProcessURL, ClientID: "exactsim-client", ClientSecret: "exactsim-secret",
		HTTPClient: sim.InProcessClient(), Logger: zerolog.Nop(), Now: sim.Now,
		Sleep: func(ctx context.Context, d time.Duration) error { sim.Advance(d); return ctx.Err() },
	}, &tokens{tok: exact.Token{RefreshToken: sim.RefreshToken()}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// divisionCalls is how many data calls the simulator answered through a division (its
// Stats key "division endpoint"; current/Me is the user's, of no division).
func divisionCalls(sim *exacttest.Simulator) int {
	n := 0
	for k, c := range sim.Stats().APICalls {
		if strings.Contains(k, " ") {
			n += c
		}
	}
	return n
}

// TestSaveListsAndStores: the list Exact gives is stored with every table of the
// catalogue (for the cursors and versions of a moved division), and the rate limits the
// listing saw are stored for the other processes.
func TestSaveListsAndStores(t *testing.T) {
	sim := exacttest.New(exacttest.Options{Divisions: []int{101, 102}, DailyLimit: 5000, Seed: 1})
	st := &memStore{limits: map[int]dest.RateLimit{}}
	got, err := divisions.Save(context.Background(), st, 1, client(t, sim), nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if codes := divisions.Codes(got); !slices.Equal(codes, []int{101, 102}) || got[0].Description == "" {
		t.Errorf("listed %+v, want divisions 101 and 102 with their descriptions", got)
	}
	if len(st.saved) != 1 || !slices.Equal(divisions.Codes(st.saved[0]), []int{101, 102}) || st.tables != len(exsync.Targets()) {
		t.Errorf("stored %+v with %d tables, want the list once with the catalogue's %d tables", st.saved, st.tables, len(exsync.Targets()))
	}
	if rl := st.limits[101]; rl.DailyLimit != 5000 || rl.DailyRemaining <= 0 || rl.DailyRemaining >= 5000 {
		t.Errorf("rate limit of division 101 stored as %+v, want the day's 5000 less the calls made", rl)
	}
}

// TestSaveWithEveryDaySpentKeepsTheStoredList: when every known division has spent its
// day budget, as stored by any process, Save returns the stored list without a call
// through any of them.
func TestSaveWithEveryDaySpentKeepsTheStoredList(t *testing.T) {
	sim := exacttest.New(exacttest.Options{Divisions: []int{101, 102}, DailyLimit: 5000, Seed: 1})
	reset := sim.Now().Add(6 * time.Hour)
	stored := []dest.Division{{Code: 101, Description: "a"}, {Code: 102, Description: "b"}}
	st := &memStore{stored: stored, limits: map[int]dest.RateLimit{
		101: {DailyLimit: 5000, DailyRemaining: 0, DailyReset: reset},
		102: {DailyLimit: 5000, DailyRemaining: 0, DailyReset: reset},
	}}
	got, err := divisions.Save(context.Background(), st, 1, client(t, sim), nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, stored) || len(st.saved) != 0 {
		t.Errorf("got %+v, saved %+v; want the stored list, nothing saved", got, st.saved)
	}
	if n := divisionCalls(sim); n != 0 {
		t.Errorf("%d calls through a division (%v), want none: every day is spent", n, sim.Stats().APICalls)
	}
}
