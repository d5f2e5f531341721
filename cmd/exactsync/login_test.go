package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/internal/onboard"
)

// The login tests run `exactsync auth login` against the simulator and play the browser:
// they open the printed authorization URL without following the redirect, then either
// deliver the redirect to the callback listener or paste it into the terminal.

// loginWorld is a world whose simulator has redirect registered; "PORT" in redirect is
// replaced with a free port.
func loginWorld(t *testing.T, redirect string) *world {
	t.Helper()
	redirect = strings.Replace(redirect, "PORT", freePort(t), 1)
	w := newWorld(t, exacttest.Options{Divisions: []int{101, 102}, Accounts: 40, RedirectURI: redirect})
	w.env["EXACT_REDIRECT_URL"] = redirect
	return w
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// loginRun is a running `exactsync auth login`.
type loginRun struct {
	t     *testing.T
	w     *world
	stdin io.WriteCloser
	done  chan result

	mu    gosync.Mutex
	out   strings.Builder
	added chan struct{} // signalled when out grows
}

func (w *world) startLogin(extra map[string]string, args ...string) *loginRun {
	w.t.Helper()
	c := w.cmd(extra, append([]string{"auth", "login"}, args...)...)
	l := &loginRun{t: w.t, w: w, done: make(chan result, 1), added: make(chan struct{}, 1)}
	var err error
	if l.stdin, err = c.StdinPipe(); err != nil {
		w.t.Fatal(err)
	}
	stdout, err := c.StdoutPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	var errb strings.Builder
	c.Stderr = &errb
	if err := c.Start(); err != nil {
		w.t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			l.mu.Lock()
			l.out.WriteString(sc.Text() + "\n")
			l.mu.Unlock()
			select {
			case l.added <- struct{}{}:
			default:
			}
		}
		err := c.Wait()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			code = -1
		}
		r := result{stdout: l.stdout(), stderr: errb.String(), code: code}
		w.mu.Lock()
		w.logs = append(w.logs, r.stdout, r.stderr)
		w.mu.Unlock()
		l.done <- r
	}()
	w.t.Cleanup(func() {
		l.stdin.Close()
		_ = c.Process.Kill()
	})
	return l
}

func (l *loginRun) stdout() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.String()
}

// waitFor waits until stdout contains s and returns stdout.
func (l *loginRun) waitFor(s string) string {
	l.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if out := l.stdout(); strings.Contains(out, s) {
			return out
		}
		select {
		case <-l.added:
		case r := <-l.done:
			l.done <- r
			if out := l.stdout(); strings.Contains(out, s) {
				return out
			}
			l.t.Fatalf("auth login ended before printing %q: %s", s, r)
		case <-deadline:
			l.t.Fatalf("auth login did not print %q within 20s; stdout:\n%s", s, l.stdout())
		}
	}
}

// authURL returns the authorization URL auth login printed.
func (l *loginRun) authURL() string {
	l.t.Helper()
	out := l.waitFor("press Enter")
	prefix := l.w.sim.URL + "/api/oauth2/auth?"
	for _, line := range strings.Split(out, "\n") {
		if s := strings.TrimSpace(line); strings.HasPrefix(s, prefix) {
			return s
		}
	}
	l.t.Fatalf("no line starts with %s:\n%s", prefix, out)
	return ""
}

func (l *loginRun) paste(s string) {
	l.t.Helper()
	if _, err := io.WriteString(l.stdin, s+"\n"); err != nil {
		l.t.Fatalf("pasting: %v", err)
	}
}

func (l *loginRun) wait() result {
	l.t.Helper()
	select {
	case r := <-l.done:
		return r
	case <-time.After(30 * time.Second):
		l.t.Fatalf("auth login did not end within 30s; stdout:\n%s", l.stdout())
		return result{}
	}
}

// consent plays the browser at Exact: it opens authURL and returns where Exact redirects to.
func consent(t *testing.T, authURL string) string {
	t.Helper()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || loc == "" {
		t.Fatalf("authorization answered %d with Location %q, want a redirect", resp.StatusCode, loc)
	}
	return loc
}

// checkLoggedIn checks what a successful login printed and stored, and that a sync then
// works without a token call.
func (w *world) checkLoggedIn(r result) {
	w.t.Helper()
	if r.code != 0 {
		w.t.Fatalf("auth login failed: %s", r)
	}
	for _, s := range []string{"Connected to", "Divisions granted", "  101  ", "  102  "} {
		if !strings.Contains(r.stdout, s) {
			w.t.Errorf("stdout does not contain %q:\n%s", s, r.stdout)
		}
	}
	st := w.sim.Stats()
	if got := st.TokenCalls["authorization_code/ok"]; got != 1 {
		w.t.Errorf("%d successful code exchanges, want 1 (stats %v)", got, st.TokenCalls)
	}
	var n int
	var user, state string
	var secret bool
	if err := w.pool.QueryRow(context.Background(),
		`SELECT count(*), max(user_key), max(state), bool_and(client_secret <> '') FROM exact_sync.connections`).Scan(&n, &user, &state, &secret); err != nil {
		w.t.Fatal(err)
	}
	if n != 1 || user == "" || state != "ok" || !secret {
		w.t.Errorf("connections: %d, user %q, state %q, client secret stored %v; want 1 with a user, ok, stored", n, user, state, secret)
	}
	calls := st.TotalTokenCalls()
	w.mustRun("sync", "--entity", "accounts", "--division", "101")
	if got := w.sim.Stats().TotalTokenCalls() - calls; got != 0 {
		w.t.Errorf("the first sync after login made %d token calls, want 0", got)
	}
	w.checkTablesAccountsOnly([]int{101})
}

func TestLoginThroughCallbackListener(t *testing.T) {
	t.Parallel()
	w := loginWorld(t, "http://127.0.0.1:PORT/callback")
	l := w.startLogin(nil, "--timeout", "30s")
	authURL := l.authURL()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("client_id") != testClientID || q.Get("redirect_uri") != w.env["EXACT_REDIRECT_URL"] ||
		q.Get("response_type") != "code" || len(q.Get("state")) < 16 {
		t.Errorf("authorization URL %s lacks client_id, redirect_uri, response_type or a state", authURL)
	}
	if !strings.Contains(l.stdout(), "must be registered exactly so") {
		t.Errorf("stdout does not explain the redirect URI registration:\n%s", l.stdout())
	}

	// A stale tab of another login: refused, and the login keeps waiting.
	loc := consent(t, authURL)
	stale := strings.Replace(loc, "state="+q.Get("state"), "state=0123456789abcdef", 1)
	if resp, err := http.Get(stale); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("callback with another login's state answered %d, want 400", resp.StatusCode)
	}

	resp, err := http.Get(loc)
	if err != nil {
		t.Fatalf("the browser's redirect to the callback listener: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Authorization received") {
		t.Errorf("callback answered %d: %s", resp.StatusCode, body)
	}
	w.checkLoggedIn(l.wait())
}

// Exact only accepts https redirect URIs (§1.4): the listener serves a certificate it
// generated, and prints its fingerprint.
func TestLoginThroughHTTPSCallbackListener(t *testing.T) {
	t.Parallel()
	w := loginWorld(t, "https://localhost:PORT/callback")
	l := w.startLogin(nil, "--timeout", "30s")
	loc := consent(t, l.authURL())

	var fingerprint string
	browser := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // self-signed: what the user accepts in the browser's warning
		VerifyConnection: func(cs tls.ConnectionState) error {
			fingerprint = onboard.Fingerprint(cs.PeerCertificates[0].Raw)
			return cs.PeerCertificates[0].VerifyHostname("localhost")
		},
	}}}
	resp, err := browser.Get(loc)
	if err != nil {
		t.Fatalf("the browser's redirect to the https callback listener: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("callback answered %d, want 200", resp.StatusCode)
	}
	r := l.wait()
	if fingerprint == "" || !strings.Contains(r.stdout, fingerprint) {
		t.Errorf("stdout does not show the served certificate's fingerprint %s:\n%s", fingerprint, r.stdout)
	}
	w.checkLoggedIn(r)
}

func TestLoginByPasting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		paste func(t *testing.T, loc string) string
	}{
		{"redirected URL", func(t *testing.T, loc string) string { return loc }},
		{"bare code, percent-encoded", func(t *testing.T, loc string) string {
			_, query, _ := strings.Cut(loc, "?")
			for _, kv := range strings.Split(query, "&") {
				if v, ok := strings.CutPrefix(kv, "code="); ok {
					return v
				}
			}
			t.Fatalf("no code in %s", loc)
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := loginWorld(t, "http://127.0.0.1:PORT/callback")
			// The listener runs too: pasting works while it waits.
			l := w.startLogin(nil, "--timeout", "30s")
			authURL := l.authURL()
			loc := consent(t, authURL)
			if !strings.Contains(loc, "%21") {
				t.Fatalf("redirect %s has no %%21; the test would not prove decoding", loc)
			}
			state := func() string { u, _ := url.Parse(authURL); return u.Query().Get("state") }()

			// A URL of another login attempt first: refused, and asked again.
			l.paste(strings.Replace(loc, "state="+state, "state=0123456789abcdef", 1))
			l.waitFor("does not match this login")

			l.paste(tt.paste(t, loc))
			w.checkLoggedIn(l.wait())
		})
	}
}

// TestLoginErrors checks that each failure names its cause and fix, and leaves no
// connection behind.
func TestLoginErrors(t *testing.T) {
	t.Parallel()
	w := loginWorld(t, "http://127.0.0.1:PORT/callback")
	registered := w.env["EXACT_REDIRECT_URL"]
	authURL := func(redirect string) string {
		q := url.Values{"client_id": {testClientID}, "redirect_uri": {redirect}, "response_type": {"code"}, "state": {"s"}}
		return w.sim.URL + "/api/oauth2/auth?" + q.Encode()
	}
	code := func(loc string) string {
		u, err := url.Parse(loc)
		if err != nil {
			t.Fatal(err)
		}
		return u.Query().Get("code")
	}

	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		paste  func() string // "" pastes nothing
		code   int
		wantIn []string
	}{
		{"code already used", nil, nil, func() string {
			c := code(consent(t, authURL(registered)))
			form := url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {registered},
				"client_id": {testClientID}, "client_secret": {testClientSecret}}
			resp, err := http.PostForm(w.sim.URL+"/api/oauth2/token", form)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return c
		}, 1, []string{"already used", "exactsync auth login"}},
		{"code expired", nil, nil, func() string {
			c := code(consent(t, authURL(registered)))
			w.sim.Advance(4 * time.Minute)
			return c
		}, 1, []string{"expired", "exactsync auth login"}},
		{"wrong client secret", map[string]string{"EXACT_CLIENT_SECRET": "not-the-secret"}, nil, func() string {
			return code(consent(t, authURL(registered)))
		}, 1, []string{"client credentials", "EXACT_CLIENT_SECRET"}},
		{"redirect URI not the registered one", map[string]string{"EXACT_REDIRECT_URL": registered + "x"}, nil, func() string {
			return code(consent(t, authURL(registered)))
		}, 1, []string{"redirect URI " + registered + "x", "App Center"}},
		{"unreachable host", map[string]string{"EXACT_BASE_URL": "http://127.0.0.1:1"}, nil, func() string {
			return "stampNL001.abc!def"
		}, 1, []string{"cannot reach 127.0.0.1:1", "EXACT_BASE_URL"}},
		{"denied in the browser", nil, nil, func() string {
			return registered + "?error=access_denied&error_description=The+user+denied+access&state=s"
		}, 1, []string{"access_denied", "nothing was stored"}},
		{"nothing arrives", nil, []string{"--timeout", "1s"}, nil, 1,
			[]string{"no authorization arrived within 1s", "auth login"}},
		{"plain http redirect URI on another host", map[string]string{"EXACT_REDIRECT_URL": "http://example.com/callback"}, nil, nil, 2,
			[]string{"EXACT_REDIRECT_URL", "https"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if args == nil {
				args = []string{"--timeout", "20s"}
			}
			l := w.startLogin(tt.env, append([]string{"--no-listen"}, args...)...)
			if tt.paste != nil {
				l.paste(tt.paste())
			}
			r := l.wait()
			if r.code != tt.code {
				t.Fatalf("exit code %d, want %d\n%s", r.code, tt.code, r)
			}
			checkErrorLine(t, r, tt.wantIn...)
		})
	}

	var n int
	if err := w.pool.QueryRow(context.Background(), `SELECT count(*) FROM exact_sync.connections`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("failed logins left %d connections behind, want 0", n)
	}
}
