package exact

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/oauth2"
)

// DefaultBaseURL is the Dutch Exact Online host; other countries have their own (§1.1).
const DefaultBaseURL = "https://start.exactonline.nl"

// Config configures a Client. Zero values mean the documented defaults.
type Config struct {
	BaseURL        string       // default DefaultBaseURL; must be https unless the host is loopback
	ClientID       string       // required
	ClientSecret   string       // required
	RedirectURL    string       // the registered redirect URI; used by AuthCodeURL and Exchange only
	HTTPClient     *http.Client // default: a client with sane transport timeouts
	Logger         zerolog.Logger
	Now            func() time.Time                                 // default time.Now
	Sleep          func(ctx context.Context, d time.Duration) error // default: a timer honouring ctx
	TokenTimeout   time.Duration                                    // one token call, default 10s (well under the 30 s row lock)
	RequestTimeout time.Duration                                    // one data call incl. its body, default 60s
	// Retry decides how often a failed call is tried again and how long it waits
	// (default: DefaultAttempts calls, backoff from 1s to 30s).
	Retry RetryPolicy
	// NoRefreshWait makes a call that needs a token refresh Exact does not allow yet
	// (§1.8) return a *RefreshWaitError at once instead of waiting for the window:
	// for a person at a terminal, who is better told how long it is than kept waiting.
	NoRefreshWait bool
	// Observer is told of every data call, token refresh and rate-limit budget (default:
	// nobody).
	Observer Observer
	// TracerProvider gives the tracer of a span per call and per token refresh (see
	// trace.go; default: no spans).
	TracerProvider trace.TracerProvider
}

// Client talks to one Exact Online connection (one host, app and user). It is safe for
// concurrent use.
type Client struct {
	base      *url.URL // scheme://host[/prefix], no trailing slash
	baseStr   string
	oauth     *oauth2.Config
	store     TokenStore
	http      *http.Client // data calls: no redirects, counted in calls
	tokenHTTP *http.Client // token calls, counted in tokenCalls
	log       zerolog.Logger
	obs       Observer
	tracer    trace.Tracer
	now       func() time.Time
	sleep     func(ctx context.Context, d time.Duration) error
	// noRefreshWait: see Config.NoRefreshWait.
	noRefreshWait bool

	tokenTimeout, requestTimeout time.Duration
	retry                        RetryPolicy

	calls, tokenCalls atomic.Int64
	bodyHint          atomic.Int64 // largest answer body read so far, to size the next buffer
	limits            limiter

	// Exact's clock, learned from the Date headers of its answers.
	clock exactClock

	// Tokens: one refresher per process (gate), the last good token in memory (mu), the
	// refresh token Exact rejected for good, so it is never sent again, and one it called
	// used while another process's refresh of it was pending (see afterTerminal).
	gate     chan struct{}
	mu       sync.Mutex
	cached   Token
	previous [2]string // the access and refresh token cached before, for redaction
	brokenRT string
	broken   *ReauthError
	spent    *spentToken

	// id names this client in the refreshes it announces (PendingRefresh.By).
	id string
	// pendingPoll is the first pause between two looks at another process's announced
	// refresh (pendingPollFirst; tests shorten it).
	pendingPoll time.Duration
}

// New returns a Client for cfg that keeps its token chain in store.
func New(cfg Config, store TokenStore) (*Client, error) {
	if store == nil {
		return nil, errors.New("exact: a token store is required")
	}
	switch {
	case cfg.ClientID == "" && cfg.ClientSecret == "":
		return nil, errors.New("exact: client id and client secret are required")
	case cfg.ClientID == "":
		return nil, errors.New("exact: client id is required")
	case cfg.ClientSecret == "":
		return nil, errors.New("exact: client secret is required")
	}
	base, err := ParseBaseURL(cmp.Or(cfg.BaseURL, DefaultBaseURL))
	if err != nil {
		return nil, err
	}
	c := &Client{
		base:           base,
		baseStr:        base.String(),
		store:          store,
		log:            cfg.Logger,
		obs:            cfg.Observer,
		now:            cfg.Now,
		sleep:          cfg.Sleep,
		noRefreshWait:  cfg.NoRefreshWait,
		tokenTimeout:   cmp.Or(cfg.TokenTimeout, 10*time.Second),
		requestTimeout: cmp.Or(cfg.RequestTimeout, 60*time.Second),
		retry:          cfg.Retry.withDefaults(),
		gate:           make(chan struct{}, 1),
		id:             newClientID(),
		pendingPoll:    pendingPollFirst,
	}
	if cfg.Now == nil {
		c.now = time.Now
	}
	if cfg.Sleep == nil {
		c.sleep = sleepContext
	}
	if cfg.Observer == nil {
		c.obs = nopObserver{}
	}
	tp := cfg.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	c.tracer = tp.Tracer(TracerName)
	c.oauth = &oauth2.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		RedirectURL:  cfg.RedirectURL,
		Endpoint: oauth2.Endpoint{ // §1.1, §1.5: client credentials in the form body
			AuthURL:   c.baseStr + "/api/oauth2/auth",
			TokenURL:  c.baseStr + "/api/oauth2/token",
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: defaultTransport()}
	}
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	c.http = &http.Client{
		Transport: &logTransport{base: rt, log: &c.log, calls: &c.calls, answered: c.observeDate},
		Jar:       hc.Jar,
		Timeout:   hc.Timeout,
		// A redirect on a data call means a login page or a foreign host, never data (§4.2);
		// following it would also send the request elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	c.tokenHTTP = &http.Client{
		Transport:     &logTransport{base: rt, log: &c.log, calls: &c.tokenCalls, answered: c.observeDate},
		Timeout:       hc.Timeout,
		CheckRedirect: c.http.CheckRedirect,
	}
	return c, nil
}

// newClientID is a random id for a Client's announced refreshes.
func newClientID() string {
	return "c-" + rand.Text()[:16]
}

// ParseBaseURL validates an Exact Online base URL such as "https://start.exactonline.be":
// https is required unless the host is a loopback address or localhost (a local simulator).
func ParseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(raw), "/"))
	if err != nil {
		return nil, fmt.Errorf("exact: invalid base URL %q: %v", raw, err)
	}
	if u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("exact: invalid base URL %q: want https://host, e.g. %s", raw, DefaultBaseURL)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("exact: invalid base URL %q: want only scheme, host and an optional path", raw)
	}
	if u.Scheme == "http" && !IsLoopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("exact: base URL %q must use https (plain http is allowed only for localhost and loopback addresses)", raw)
	}
	return u, nil
}

// IsLoopbackHost reports whether host (a URL's Hostname, without brackets or port) names
// this machine: localhost or a name under .localhost (RFC 6761 reserves them for loopback),
// in any case, or a loopback address (127.0.0.0/8, ::1). It is the one rule for where plain
// http is allowed: a base URL, a redirect URI, the callback listener of a login.
func IsLoopbackHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func defaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 60 * time.Second
	t.IdleConnTimeout = 90 * time.Second
	t.MaxIdleConnsPerHost = 16
	return t
}

func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Calls returns the number of REST API HTTP calls made so far, retries included.
func (c *Client) Calls() int64 { return c.calls.Load() }

// TokenCalls returns the number of token-endpoint HTTP calls made so far.
func (c *Client) TokenCalls() int64 { return c.tokenCalls.Load() }

// RateLimit returns the last known budgets of division (zero and Known=false before the
// first call to it).
func (c *Client) RateLimit(division int) RateLimit { return c.limits.snapshot(division) }

// URL builds {base}/api/v1/{division}/{path}?{query} (§3.1); division <= 0 leaves the
// division out (current/Me). Query keys are sorted; $ , ( ) : / and the single quote
// stay readable and spaces become %20, as Exact's own examples write them.
func (c *Client) URL(division int, path string, query url.Values) string {
	var b strings.Builder
	b.WriteString(c.baseStr)
	b.WriteString("/api/v1/")
	if division > 0 {
		fmt.Fprintf(&b, "%d/", division)
	}
	b.WriteString(strings.TrimLeft(path, "/"))
	if len(query) > 0 {
		b.WriteByte('?')
		b.WriteString(encodeQuery(query))
	}
	return b.String()
}

func encodeQuery(q url.Values) string {
	enc := q.Encode() // sorted, with QueryEscape; undo the escaping of readable characters
	var b strings.Builder
	b.Grow(len(enc))
	for i := 0; i < len(enc); i++ {
		switch c := enc[i]; {
		case c == '+':
			b.WriteString("%20")
		case c == '%' && i+2 < len(enc):
			switch enc[i+1 : i+3] {
			case "24":
				b.WriteByte('$')
			case "2C":
				b.WriteByte(',')
			case "27":
				b.WriteByte('\'')
			case "28":
				b.WriteByte('(')
			case "29":
				b.WriteByte(')')
			case "3A":
				b.WriteByte(':')
			case "2F":
				b.WriteByte('/')
			default:
				b.WriteString(enc[i : i+3])
			}
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// logTransport counts HTTP calls and logs each at Debug: method, URL, status, the six
// rate-limit headers and the duration. It never logs request headers or bodies, which
// carry the tokens and the client secret.
type logTransport struct {
	base     http.RoundTripper
	log      *zerolog.Logger
	calls    *atomic.Int64
	answered func(http.Header) // called with the headers of every answer
}

func (t *logTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	t.calls.Add(1)
	resp, err := t.base.RoundTrip(req)
	if err == nil && t.answered != nil {
		t.answered(resp.Header)
	}
	if ev := t.log.Debug(); ev.Enabled() {
		ev.Str("method", req.Method).Str("url", req.URL.Redacted())
		if err != nil {
			ev.Str("error", networkError(req.URL.Host, err).Error())
		} else {
			ev.Int("status", resp.StatusCode)
			for _, rh := range rateHeaders {
				if v := resp.Header.Get(rh.name); v != "" {
					ev.Str(rh.key, v)
				}
			}
		}
		ev.Dur("duration_ms", time.Since(start)).Msg("exact request")
	}
	return resp, err
}

// networkError names the host of a failed call: "cannot reach start.exactonline.nl: …".
func networkError(host string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &reachError{host: host, err: err}
}

type reachError struct {
	host string
	err  error
}

func (e *reachError) Error() string { return "cannot reach " + e.host + ": " + e.err.Error() }
func (e *reachError) Unwrap() error { return e.err }
