package exacttest

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"time"
)

// Options configure a Simulator. The zero value is a usable simulator with one division, no
// accounts and 20 generated records of every other entity.
type Options struct {
	ClientID, ClientSecret string // defaults "exactsim-client", "exactsim-secret"
	RedirectURI            string // registered redirect URI, default "https://localhost:8443/callback"
	RefreshToken           string // accepted as the start of a chain; generated (contains '!') when empty
	// AuthStateFile, when set, keeps the token chain across restarts, as Exact does: it is
	// written after every token issued, and Open starts from it when it exists (RefreshToken
	// then only starts a chain the first time). Data and rate limits are not kept.
	AuthStateFile string
	Divisions     []int // default []int{101}; the first is the user's CurrentDivision
	Accounts      int   // accounts per division, generated deterministically from Seed
	// Records sizes the other entities: entity name (the catalogue's, see Entities) → records
	// generated per division; "*" sets the count of every entity it does not name. Entities
	// it does not size get 20 records (defaultRecords), so that an end-to-end test of every
	// entity is cheap. The accounts are sized by Accounts, and divisions are the Divisions;
	// naming either is a mistake. Generated records are computed when served, so a million
	// records cost no memory.
	Records           map[string]int
	Seed              int64
	MinutelyLimit     int  // calls per client and division per clock minute; 0 = no limit
	DailyLimit        int  // calls per client and division per UTC day; 0 = no limit
	NoMandatoryFilter bool // mandatory filtering on crm/Accounts and logistics/Items is ON unless this is set (§3.9)
	ErrorBudget       bool // the 10-errors-per-hour block (§2.5), growing on repetition; off by default
	// Licence is the daily cap on the calls of all apps of the licence together (§2.7,
	// UNCONFIRMED), off by default; see Licence, SpendLicence and POST /_sim/licence.
	Licence Licence
	Start   time.Time // simulated clock start; default 2026-01-05T09:00:00Z
	// FreezeClock stops the simulated clock from following real time: it then moves only by
	// Advance. By default it runs from Start at real-time speed (plus every Advance), so a
	// client that sleeps until a rate-limit reset is released.
	FreezeClock bool
	Faults      Faults

	// Maintenance turns on the daily maintenance window (§0, §4.2, §6.11): every /api/ call
	// (OAuth2 and REST, not /_sim/) in the window gets 503. Off by default.
	Maintenance bool
	// MaintenanceStart and MaintenanceEnd bound the window as Amsterdam wall-clock times of day
	// (offsets from local midnight); both zero means 04:00–04:30 (§0). An end not after the
	// start wraps over midnight.
	MaintenanceStart, MaintenanceEnd time.Duration
	// EmptyUnauthorizedBody makes the REST 401 body empty instead of the historic HTML "Object
	// moved" page (§4.2, §7); the WWW-Authenticate header is sent either way.
	EmptyUnauthorizedBody bool
	// Webhooks configure webhook deliveries (§3.14): the secret, the validation delay and
	// the knobs for delay, loss, duplicates and a wrong signature (see webhooks.go).
	Webhooks WebhookOptions
	// IgnoreOrderBy makes regular and bulk endpoints accept $orderby and ignore it, serving
	// their default order, by ID, as Exact may (§3.7: $orderby "may be dropped in future
	// versions"): a client reading by a Modified cursor must not skip records then.
	IgnoreOrderBy bool
	// NoBareEnvelope always serves {"d":{"results":[…]}}. By default a GET of a collection
	// with $top of at most 60 and no $skiptoken gets the bare {"d":[…]} of §3.5 (see doc.go).
	NoBareEnvelope bool
	// SyncTimestampEndpoints are the endpoint names read/sync/Sync/SyncTimestamp accepts
	// (§3.10, §3.16); nil means the ones §3.10 names: TransactionLines, SalesInvoices,
	// PurchaseOrders, Projects and SalesOrderHeaders (not Accounts).
	SyncTimestampEndpoints []string
	// HiddenFromSync plants drift from the start (§3.16): entity name (the catalogue's) →
	// how many of its generated records per division the sync endpoint never serves, while
	// the regular and bulk endpoints, /$count and financial/ReportingBalance include them
	// (the last ones generated; see PlantDrift's Hidden, which plants the same later).
	HiddenFromSync map[string]int
	// DeletedRetention is how long sync/Deleted keeps a deletion; zero means two months
	// (60 days, §3.12). A shorter one lets a test age deletions out of the log by Advance.
	DeletedRetention time.Duration
}

// Faults are injected failures on REST data calls (not on the token endpoint, current/Me or /_sim/).
type Faults struct {
	ErrorRate     float64       // probability of a 500 or 503 on a REST data call
	Latency       time.Duration // added to each REST call
	TruncateRate  float64       // probability of a truncated JSON body
	MalformedNext int           // the next n pages carry a __next with the host cut off
}

// Stats are the simulator's counters.
type Stats struct {
	// TokenCalls by "grant/outcome", e.g. "refresh_token/ok", "refresh_token/old_refresh_token",
	// "refresh_token/too_early", "authorization_code/ok".
	TokenCalls             map[string]int `json:"token_calls"`
	RefreshReuseRejections int            `json:"refresh_reuse_rejections"`
	EarlyRefreshRejections int            `json:"early_refresh_rejections"`
	// APICalls by "division endpoint" (e.g. "101 sync/CRM/Accounts"), or the bare endpoint for
	// calls without a division ("current/Me"). Every request received is counted, whatever its status.
	APICalls        map[string]int `json:"api_calls"`
	TooManyRequests int            `json:"too_many_requests"`
	// TooManyByDivision counts the 429s of the rate limits (the app's minute and day, the
	// licence's day) by division code; LicenceTooMany those of the licence's cap (§2.7).
	TooManyByDivision map[string]int `json:"too_many_by_division"`
	LicenceTooMany    int            `json:"licence_too_many"`
	Unauthorized      int            `json:"unauthorized"`
	FaultsInjected    int            `json:"faults_injected"`
	Maintenance       int            `json:"maintenance"` // calls answered 503 in the maintenance window
	// MaxConcurrent is, by division (its code in decimal), the most data calls it had in
	// flight at once: 1 when no two clients ever synced it at the same time. The division
	// listing (system/ endpoints), which goes through any division, is not counted.
	MaxConcurrent map[string]int `json:"max_concurrent"`
}

// TotalTokenCalls is the number of token-endpoint calls of any grant and outcome.
func (st Stats) TotalTokenCalls() int {
	n := 0
	for _, c := range st.TokenCalls {
		n += c
	}
	return n
}

// Calls is the number of calls to endpoint in division; division 0 for calls without one.
func (st Stats) Calls(division int, endpoint string) int {
	return st.APICalls[statsKey(division, endpoint)]
}

func statsKey(division int, endpoint string) string {
	if division == 0 {
		return endpoint
	}
	return strconv.Itoa(division) + " " + endpoint
}

// Simulator is a stateful fake of Exact Online's OAuth2 and REST API; it is an http.Handler.
type Simulator struct {
	opts  Options
	start time.Time // simulated time at realStart
	real  time.Time

	mu       gosync.Mutex // guards the fields below
	offset   time.Duration
	faults   Faults
	rng      *rand.Rand
	revoked  map[int]bool
	stats    Stats
	inFlight map[int]int // data calls in flight, by division
	auth     authState
	limits   map[limitKey]*limitState
	budget   map[budgetKey]*budgetState
	licence  Licence
	// licenceDay is the UTC day licenceUsed counts, by scope (licenceScope).
	licenceDay  time.Time
	licenceUsed map[int]*licenceCount
	userID      string
	division    []int

	dataMu gosync.RWMutex // guards data
	data   map[int]*divisionData

	hooks webhooks // subscriptions and deliveries, under their own mutex
}

// New returns a simulator configured by opts. It panics when Open would fail: only an
// unreadable Options.AuthStateFile makes it fail.
func New(opts Options) *Simulator {
	s, err := Open(opts)
	if err != nil {
		panic("exacttest: " + err.Error())
	}
	return s
}

// Open returns a simulator configured by opts, with the token chain saved in
// Options.AuthStateFile when there is one.
func Open(opts Options) (*Simulator, error) {
	opts.ClientID = cmp.Or(opts.ClientID, "exactsim-client")
	opts.ClientSecret = cmp.Or(opts.ClientSecret, "exactsim-secret")
	opts.RedirectURI = cmp.Or(opts.RedirectURI, "https://localhost:8443/callback")
	if len(opts.Divisions) == 0 {
		opts.Divisions = []int{101}
	}
	if opts.Start.IsZero() {
		opts.Start = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	}
	s := &Simulator{
		opts:     opts,
		start:    opts.Start.UTC(),
		real:     time.Now(),
		faults:   opts.Faults,
		rng:      rand.New(rand.NewPCG(uint64(opts.Seed), 0x5eed)),
		revoked:  map[int]bool{},
		limits:   map[limitKey]*limitState{},
		budget:   map[budgetKey]*budgetState{},
		division: slices.Clone(opts.Divisions),
		data:     map[int]*divisionData{},
		stats: Stats{TokenCalls: map[string]int{}, APICalls: map[string]int{}, MaxConcurrent: map[string]int{},
			TooManyByDivision: map[string]int{}},
		licence:  opts.Licence,
		inFlight: map[int]int{},
	}
	if opts.Licence.DailyLimit < 0 || opts.Licence.OtherAppCalls < 0 {
		return nil, fmt.Errorf("licence cap: DailyLimit %d and OtherAppCalls %d must not be negative", opts.Licence.DailyLimit, opts.Licence.OtherAppCalls)
	}
	s.userID = newGenerator(opts.Seed, 0, s.start, 0).guid(1 << 44)
	for name, n := range opts.Records {
		if _, err := lookupEntity(name); (err != nil && name != "*") || name == "accounts" || name == "divisions" || n < 0 {
			panic(fmt.Sprintf("exacttest: Options.Records[%q] = %d: want an entity's name (or \"*\") and a count >= 0", name, n))
		}
	}
	for name, n := range opts.HiddenFromSync {
		if e, err := lookupEntity(name); err != nil || e == divisionsEntity || e.sync == "" || n < 0 {
			panic(fmt.Sprintf("exacttest: Options.HiddenFromSync[%q] = %d: want an entity with a sync endpoint and a count >= 0", name, n))
		}
	}
	for _, d := range opts.Divisions {
		s.data[d] = newDivisionData(d, &s.opts, s.start, s.userID)
		for name, n := range opts.HiddenFromSync {
			t := s.data[d].tables[entitiesByName[name]]
			for i := max(t.base-n, 0); i < t.base; i++ {
				t.hide(t.gen.guid(i))
			}
		}
	}
	s.auth.init(s.start, opts.RefreshToken)
	if opts.AuthStateFile != "" {
		if err := s.auth.loadAuth(opts.AuthStateFile); err != nil {
			return nil, fmt.Errorf("reading the saved token chain: %w", err)
		}
	}
	s.hooks.init(opts.Webhooks)
	return s, nil
}

// Now returns the simulated time.
func (s *Simulator) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

func (s *Simulator) nowLocked() time.Time {
	t := s.start.Add(s.offset)
	if !s.opts.FreezeClock {
		t = t.Add(time.Since(s.real))
	}
	return t
}

// Advance moves the simulated clock forward by d: token lifetimes, rate-limit windows and the
// deletion-log retention all follow it.
func (s *Simulator) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset += d
}

// SetFaults replaces the injected faults.
func (s *Simulator) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// RevokeDivision removes a division from the app's scope: its calls get 403 with
// Reason: NoDivisionAccess (§4.3) and system/Divisions no longer lists it.
func (s *Simulator) RevokeDivision(division int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[division] = true
}

// MoveDivision simulates Exact moving a division to another database (§3.10, §7):
// system/Divisions then serves the simulated now as the division's DivisionMoveDate, and every
// Timestamp of the division (its rows and sync/Deleted) is regenerated, so old sync cursors are
// meaningless and a client must resync from the start. The new numbering is described in
// doc.go. It returns the move date.
func (s *Simulator) MoveDivision(division int) (time.Time, error) {
	now := s.Now()
	s.dataMu.Lock()
	defer s.dataMu.Unlock()
	div := s.data[division]
	if div == nil {
		return time.Time{}, fmt.Errorf("moving division: unknown division %d", division)
	}
	div.move(now)
	return now, nil
}

// Stats returns a copy of the counters.
func (s *Simulator) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.TokenCalls = maps(st.TokenCalls)
	st.APICalls = maps(st.APICalls)
	st.MaxConcurrent = maps(st.MaxConcurrent)
	st.TooManyByDivision = maps(st.TooManyByDivision)
	return st
}

func maps(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (s *Simulator) granted(division int) bool {
	return slices.Contains(s.division, division) && !s.revoked[division]
}

// ServeHTTP routes a request to the OAuth2, REST or control handlers.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Every answer is dated on the simulated clock, as Exact's are on its own: clients
	// judge token times on it (§1.8).
	w.Header().Set("Date", s.Now().UTC().Format(http.TimeFormat))
	p := r.URL.Path
	switch {
	case p == "/api/oauth2/auth":
		s.serveAuthorize(w, r)
	case p == "/api/oauth2/token":
		s.serveToken(w, r)
	case p == "/_sim/webhooks":
		s.serveWebhookControl(w, r)
	case strings.HasPrefix(p, "/_sim/"):
		s.serveControl(w, r)
	case strings.EqualFold(p, "/api/v1/current/Me"):
		s.serveMe(w, r)
	case strings.HasPrefix(p, "/api/v1/"):
		rest := strings.TrimPrefix(p, "/api/v1/")
		divText, endpoint, _ := strings.Cut(rest, "/")
		div, err := strconv.Atoi(divText)
		if err != nil || div <= 0 || endpoint == "" {
			// Not /api/v1/{division}/{service}/{Entity} (§3.1): Exact's error envelope (§4.1),
			// as for every 4xx but the 401 and the 429, whose bodies Exact leaves alone (§4.2).
			s.countCall(0, "(unknown)")
			writeNotFound(w, r, rest)
			return
		}
		s.serveREST(w, r, div, endpoint)
	default:
		writeNotFound(w, r, p)
	}
}

// baseURL is the scheme and host the client used, for absolute __next and __metadata URIs.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// enter counts a data call in flight in division; the returned func ends it.
func (s *Simulator) enter(division int, endpoint string) func() {
	if strings.HasPrefix(strings.ToLower(endpoint), "system/") {
		return func() {}
	}
	s.mu.Lock()
	s.inFlight[division]++
	key := strconv.Itoa(division)
	s.stats.MaxConcurrent[key] = max(s.stats.MaxConcurrent[key], s.inFlight[division])
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.inFlight[division]--
		s.mu.Unlock()
	}
}

func (s *Simulator) countCall(division int, endpoint string) {
	s.mu.Lock()
	s.stats.APICalls[statsKey(division, endpoint)]++
	s.mu.Unlock()
}

func (s *Simulator) String() string {
	return fmt.Sprintf("exacttest.Simulator(client %s, divisions %v)", s.opts.ClientID, s.opts.Divisions)
}
