package exact

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// Secrets used by the fakes all contain "Zsekrit", so a test can look for leaks.
const (
	testClientID     = "test-client"
	testClientSecret = "client-Zsekrit-d41d8cd9"
)

var testStart = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// fakeClock is an injected clock: Sleep advances it instantly and records the duration.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{t: testStart} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// memStore is an in-memory TokenStore; its mutex plays the row lock. It keeps an
// announced refresh as the sink does: with its own clock (now, default time.Now) and a
// window of the announcement's Left plus window (default 10 minutes), for the refresh token
// it was made for only, ended by a new pair and by MarkReauthRequired.
type memStore struct {
	row     sync.Mutex // held during UpdateToken, like SELECT … FOR UPDATE
	mu      sync.Mutex
	tok     Token
	updates int
	reads   int // LoadToken and UpdateToken calls
	reasons []string

	now       func() time.Time
	window    time.Duration
	until     time.Time // the end of the announcement's window
	pendingRT string    // the refresh token it was made for
}

func (s *memStore) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// read returns the token as a reader sees it; s.mu is held.
func (s *memStore) read() Token {
	t := s.tok
	switch {
	case t.Pending.By == "" || t.RefreshToken != s.pendingRT:
		t.Pending = PendingRefresh{}
	default:
		t.Pending.Left = s.until.Sub(s.clock())
	}
	return t
}

// announce stores t's announcement, if any, as made now; s.mu is held.
func (s *memStore) announce(t Token) Token {
	if t.Pending.By == "" {
		return t
	}
	now := s.clock()
	window := s.window
	if window == 0 {
		window = 10 * time.Minute
	}
	s.until, s.pendingRT = now.Add(t.Pending.Left+window), t.RefreshToken
	if t.Pending.Since.IsZero() {
		t.Pending.Since = now
	}
	if t.Pending.Holder == "" {
		t.Pending.Holder = "host test pid 1"
	}
	return t
}

func (s *memStore) LoadToken(context.Context) (Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	return s.read(), nil
}

// Reads returns how many times the token was read.
func (s *memStore) Reads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

func (s *memStore) UpdateToken(ctx context.Context, fn func(context.Context, Token) (Token, bool, error)) (Token, error) {
	s.row.Lock()
	defer s.row.Unlock()
	cur, _ := s.LoadToken(ctx)
	next, changed, err := fn(ctx, cur)
	if err != nil {
		return Token{}, err
	}
	if !changed {
		return cur, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case next.AccessToken != cur.AccessToken || next.RefreshToken != cur.RefreshToken || next.Pending.By == "":
		next.Pending = PendingRefresh{}
	case next.Pending.Since.IsZero():
		next = s.announce(next)
	default:
		next.Pending = s.tok.Pending
	}
	s.tok = next
	s.updates++
	return next, nil
}

func (s *memStore) MarkReauthRequired(_ context.Context, e *ReauthError) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reasons = append(s.reasons, e.Reason)
	s.tok.Pending = PendingRefresh{}
	return nil
}

func (s *memStore) Token() Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok
}

func (s *memStore) Marks() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reasons...)
}

// fakeExact fakes Exact's token endpoint (a valid rotating chain) and lets a test serve the
// REST paths. Tokens it issues contain "Zsekrit".
type fakeExact struct {
	t         *testing.T
	srv       *httptest.Server
	mu        sync.Mutex
	n         int                                           // tokens issued
	rt        string                                        // the refresh token at the head of the chain
	valid     map[string]bool                               // access tokens accepted by the REST handler's helper
	token     func(http.ResponseWriter, *http.Request) bool // optional override; true = handled
	api       http.HandlerFunc                              // REST handler
	tokReq    int
	apiReq    int
	expiresIn any              // expires_in value, default "600"
	now       func() time.Time // Exact's clock, sent as the Date header of every answer
}

func newFakeExact(t *testing.T) *fakeExact {
	t.Helper()
	f := &fakeExact{t: t, rt: "ref-Zsekrit!0", valid: map[string]bool{}, expiresIn: "600"}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeExact) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	now := f.now
	f.mu.Unlock()
	if now != nil {
		w.Header().Set("Date", now().UTC().Format(http.TimeFormat))
	}
	switch {
	case r.URL.Path == "/api/oauth2/token":
		f.mu.Lock()
		f.tokReq++
		override := f.token
		f.mu.Unlock()
		if override != nil && override(w, r) {
			return
		}
		f.serveToken(w, r)
	case strings.HasPrefix(r.URL.Path, "/api/v1/"):
		f.mu.Lock()
		f.apiReq++
		api := f.api
		f.mu.Unlock()
		if api == nil {
			http.NotFound(w, r)
			return
		}
		api(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeExact) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	if r.PostForm.Get("client_id") != testClientID || r.PostForm.Get("client_secret") != testClientSecret {
		writeJSON(w, http.StatusBadRequest, `{"error":"invalid_request"}`)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.PostForm.Get("grant_type") {
	case "refresh_token":
		if r.PostForm.Get("refresh_token") != f.rt {
			writeJSON(w, http.StatusUnauthorized, `{"error":"unauthorized_client","error_description":"Old refresh token used."}`)
			return
		}
	case "authorization_code":
		if r.PostForm.Get("code") != "code!ok" {
			http.Error(w, "Bad Request", http.StatusBadRequest)
			return
		}
	default:
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	f.n++
	at := fmt.Sprintf("acc-Zsekrit-%d", f.n)
	f.rt = fmt.Sprintf("ref-Zsekrit!%d", f.n)
	f.valid[at] = true
	body := map[string]any{"access_token": at, "token_type": "bearer", "refresh_token": f.rt}
	if f.expiresIn != nil {
		body["expires_in"] = f.expiresIn
	}
	b, _ := json.Marshal(body)
	writeJSON(w, http.StatusOK, string(b))
}

// authorized reports whether r carries an access token this fake issued.
func (f *fakeExact) authorized(r *http.Request) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.valid[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
}

func (f *fakeExact) setAPI(h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.api = h
}

func (f *fakeExact) setToken(h func(http.ResponseWriter, *http.Request) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.token = h
}

func (f *fakeExact) counts() (tokenCalls, apiCalls int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokReq, f.apiReq
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// syncBuffer collects log output from concurrent goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testEnv struct {
	exact  *fakeExact
	clock  *fakeClock
	store  *memStore
	client *Client
	logs   *syncBuffer
}

// newTestEnv returns a client against a fake Exact whose chain starts at the stored refresh
// token, with a fake clock and Debug logs collected.
func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	env := &testEnv{exact: newFakeExact(t), clock: newFakeClock(), logs: &syncBuffer{}}
	env.exact.mu.Lock()
	env.exact.now = env.clock.Now
	env.exact.mu.Unlock()
	env.store = &memStore{tok: Token{RefreshToken: env.exact.rt}}
	env.client = env.newClient(t, env.store)
	t.Cleanup(func() { checkNoSecrets(t, "logs", env.logs.String()) })
	return env
}

func (env *testEnv) newClient(t *testing.T, store TokenStore) *Client {
	t.Helper()
	c, err := New(Config{
		BaseURL:      env.exact.srv.URL,
		ClientID:     testClientID,
		ClientSecret: testClientSecret,
		RedirectURL:  "https://localhost:8443/callback",
		Logger:       zerolog.New(env.logs).Level(zerolog.DebugLevel),
		Now:          env.clock.Now,
		Sleep:        env.clock.Sleep,
	}, store)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// validToken stores a token issued now by the fake, valid for 600 s.
func (env *testEnv) validToken(t *testing.T) Token {
	t.Helper()
	tok, _, err := env.client.token(context.Background(), "", rotation{})
	if err != nil {
		t.Fatalf("getting a first token: %v", err)
	}
	return tok
}

func checkNoSecrets(t *testing.T, what, s string) {
	t.Helper()
	if i := strings.Index(s, "Zsekrit"); i >= 0 {
		t.Errorf("%s contain a secret: …%s…", what, s[max(0, i-80):min(len(s), i+40)])
	}
}
