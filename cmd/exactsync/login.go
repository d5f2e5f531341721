package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	stdlog "log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	gosync "sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/sink"
)

// defaultRedirectURL is the redirect URI used when EXACT_REDIRECT_URL is unset. Exact
// accepts only https redirect URIs (fact sheet §1.4), so the callback listener serves https
// with a self-signed certificate.
const defaultRedirectURL = "https://localhost:8443/callback"

type authLoginCmd struct {
	Listen   string        `placeholder:"HOST:PORT" help:"Address of the local callback listener (default: the redirect URI's port, on the loopback interface when its host is localhost, else on every interface)."`
	NoListen bool          `name:"no-listen" help:"Do not listen for the redirect; only accept the pasted redirected URL or code."`
	Timeout  time.Duration `default:"5m" help:"How long to wait for the authorization."`
}

// Run prints the authorization URL, waits for the code (from the browser's redirect to the
// callback listener, or pasted into the terminal), exchanges it at once (a code works once
// and only for a few minutes, §1.7), stores the token pair under the user's connection, and
// proves it works with current/Me and the list of divisions.
func (c *authLoginCmd) Run(e *env) error {
	if c.Timeout <= 0 {
		return usageError{fmt.Errorf("--timeout %s: use a positive duration such as 5m", c.Timeout)}
	}
	cfg, err := loadConfig(e, config.Needs{Database: true, Credentials: true})
	if err != nil {
		return err
	}
	redirectRaw := cmp.Or(cfg.RedirectURL, defaultRedirectURL)
	redirect, err := parseRedirectURL(redirectRaw)
	if err != nil {
		return usageError{err}
	}
	lcfg := *cfg
	lcfg.RedirectURL = redirectRaw // sent verbatim: Exact compares it character for character (§1.4)
	log := newLogger(cfg, e.stderr)

	st, err := openStore(e.ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	pending, err := st.UpsertConnection(e.ctx, cfg.BaseURL, cfg.ClientID, "")
	if err != nil {
		return fmt.Errorf("storing the connection: %w", err)
	}
	exchanged := false
	defer func() {
		if !exchanged { // an abandoned login leaves no empty connection behind
			if _, err := st.DeletePendingConnection(context.WithoutCancel(e.ctx), pending.ID); err != nil {
				log.Warn().Err(err).Msg("cannot remove the pending connection")
			}
		}
	}()
	if err := storeClientSecret(e.ctx, &lcfg, st, pending.ID); err != nil {
		return err
	}
	client, err := newClientContext(e.ctx, &lcfg, st, pending, log)
	if err != nil {
		return usageError{err}
	}
	state, err := newState()
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(e.ctx, c.Timeout)
	defer cancel()
	codes := make(chan loginInput, 1)
	var where string
	if !c.NoListen {
		stop, addrs, cert, err := listenForCallback(redirect, c.Listen, state, codes, log)
		if err != nil {
			fmt.Fprintf(e.stdout, "Cannot listen for the redirect (%v); paste the redirected URL instead, or use --listen HOST:PORT.\n\n", err)
		} else {
			defer stop()
			where = fmt.Sprintf("exactsync listens on %s for the redirect to %s", strings.Join(addrs, " and "), redirectRaw)
			if cert != "" {
				where += ", with a self-signed certificate (SHA-256 " + cert + "): the browser warns about it; that is expected, continue to the page"
			}
		}
	}

	fmt.Fprintf(e.stdout, "Open this URL in a browser and sign in to Exact Online with the user whose data is to be synced:\n\n  %s\n\n", client.AuthCodeURL(state))
	fmt.Fprintf(e.stdout, "The redirect URI %s must be registered exactly so (scheme, host, port and path) for client ID %s in the Exact Online App Center; set EXACT_REDIRECT_URL to use another.\n", redirectRaw, cfg.ClientID)
	if where != "" {
		fmt.Fprintf(e.stdout, "%s.\nOr paste the URL the browser was sent to (or just its code) here and press Enter:\n", where)
	} else {
		fmt.Fprintln(e.stdout, "Paste the URL the browser was sent to (it starts with the redirect URI; the page itself may fail to load), or just its code, here and press Enter:")
	}

	pasted := readLines(ctx, e.stdin)
	code, err := waitForCode(ctx, e, state, codes, pasted, where != "")
	if err != nil {
		if e.ctx.Err() != nil {
			return errors.New("login interrupted before an authorization arrived; nothing was stored")
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("no authorization arrived within %s: run `exactsync auth login` again (if Exact showed an error about the redirect URI, register %s in the App Center or set EXACT_REDIRECT_URL to the registered one)",
				c.Timeout, redirectRaw)
		}
		return err
	}

	// Exchange at once, with the process's context: the code expires in minutes (§1.7).
	if _, err := client.Exchange(e.ctx, code); err != nil {
		return loginError(err, cfg.BaseURL)
	}
	exchanged = true
	if err := finishLogin(e, &lcfg, st, pending, client, log); err != nil {
		return loginError(err, cfg.BaseURL)
	}
	return nil
}

// finishLogin proves the stored token with current/Me, moves it to the user's connection
// (as importToken does), and lists and stores the divisions the user granted.
func finishLogin(e *env, cfg *config.Config, st *sink.Store, pending sink.Connection, client *exact.Client, log zerolog.Logger) error {
	me, err := client.Me(e.ctx)
	if err != nil {
		return fmt.Errorf("checking the new token with Exact Online: %w", err)
	}
	conn, err := st.ClaimConnectionUser(e.ctx, pending.ID, me.UserID)
	if err != nil {
		return fmt.Errorf("storing the connection's user: %w", err)
	}
	who := cmp.Or(me.FullName, me.UserID)
	if me.Email != "" {
		who += " <" + me.Email + ">"
	}
	fmt.Fprintf(e.stdout, "\nConnected to %s as %s: connection %d.\n", host(conn.BaseURL), who, conn.ID)

	// A client for the claimed connection: the pending row may have been merged away.
	cc, err := newClientContext(e.ctx, cfg, st, conn, log)
	if err != nil {
		return err
	}
	divs, err := saveDivisions(e.ctx, st, conn.ID, cc, cfg.Divisions, log)
	if err != nil {
		return fmt.Errorf("listing the divisions of connection %d: %w", conn.ID, err)
	}
	if len(divs) == 0 {
		fmt.Fprintln(e.stdout, "The user granted no divisions: nothing can be synced. Check the user's rights in Exact Online, then run `exactsync auth login` again.")
		return nil
	}
	fmt.Fprintln(e.stdout, "Divisions granted:")
	for _, d := range divs {
		fmt.Fprintf(e.stdout, "  %d  %s%s\n", d.Code, d.Description, map[int]string{0: " (inactive)", 2: " (archived)"}[d.Status])
	}
	fmt.Fprintln(e.stdout, "Next: `exactsync sync --entity accounts` syncs once; `exactsync run` keeps syncing on schedule.")
	return nil
}

// loginError adds the fix to errors whose cause the message alone does not cure.
func loginError(err error, baseURL string) error {
	var op *net.OpError
	var dns *net.DNSError
	if errors.As(err, &op) || errors.As(err, &dns) {
		return fmt.Errorf("%w; check EXACT_BASE_URL (%s) and this machine's network connection, then run `exactsync auth login` again", err, baseURL)
	}
	if strings.Contains(err.Error(), "authorization code") {
		return fmt.Errorf("%w; run `exactsync auth login` again", err)
	}
	return err
}

// parseRedirectURL checks the redirect URI: https (§1.4), or plain http on a loopback host
// (a local simulator).
func parseRedirectURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%s %q is not an absolute URL; use the redirect URI registered for the app, e.g. %s", config.EnvRedirectURL, raw, defaultRedirectURL)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
	default:
		return nil, fmt.Errorf("%s %q: Exact Online accepts only https redirect URIs; register one such as %s", config.EnvRedirectURL, raw, defaultRedirectURL)
	}
	return u, nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func newState() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating the login state: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// loginInput is a redirected URL (or its query, or a bare code) and where it came from.
type loginInput struct {
	text     string
	callback bool
}

// waitForCode returns the first authorization code that arrives through the callback
// listener or the terminal and belongs to this login (state). Pasted mistakes are
// reported and another paste is awaited.
func waitForCode(ctx context.Context, e *env, state string, codes <-chan loginInput, pasted <-chan string, listening bool) (string, error) {
	for {
		var in loginInput
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case in = <-codes:
		case line, ok := <-pasted:
			if !ok {
				pasted = nil
				if !listening {
					return "", errors.New("standard input ended before a redirected URL or code was pasted: run `exactsync auth login` in a terminal, or without --no-listen")
				}
				continue
			}
			if strings.TrimSpace(line) == "" {
				continue
			}
			in = loginInput{text: line}
		}
		code, err := parseLoginInput(in.text, state, in.callback)
		if err == nil {
			return code, nil
		}
		var fatal fatalInput
		if errors.As(err, &fatal) {
			return "", err
		}
		fmt.Fprintf(e.stdout, "%v\nPaste the redirected URL (or its code) again:\n", err)
	}
}

// fatalInput is an answer that ends the login: the user or Exact refused it.
type fatalInput struct{ error }

// parseLoginInput reads the code from a redirected URL, a query string or a bare code,
// decoding it exactly once (§1.10), and checks the state when there is one. The callback
// listener requires the state; a pasted bare code has none.
func parseLoginInput(input, state string, requireState bool) (string, error) {
	in := strings.TrimSpace(input)
	code, err := exact.ParseAuthCode(in)
	if err != nil {
		if strings.HasPrefix(err.Error(), "Exact answered") {
			return "", fatalInput{fmt.Errorf("%w; nothing was stored", err)}
		}
		return "", err
	}
	var got []string
	haveState := false
	if i := strings.IndexByte(in, '?'); i >= 0 || strings.HasPrefix(in, "code=") {
		q, _ := url.ParseQuery(in[i+1:]) // ParseAuthCode parsed it already
		got, haveState = q["state"]
	}
	switch {
	case !haveState && requireState:
		return "", errors.New("the redirect has no state parameter: it does not come from this login")
	case haveState && (len(got) != 1 || got[0] != state):
		return "", errors.New("the redirect's state does not match this login: it belongs to another `exactsync auth login` (use the URL printed by this one) or was altered")
	}
	if strings.Contains(code, "%") {
		return "", errors.New("the code is still percent-encoded after decoding it once (was it encoded twice, %2521?): copy the URL from the browser's address bar unchanged")
	}
	return code, nil
}

// readLines delivers the lines of r until it ends (the channel is then closed) or ctx ends.
func readLines(ctx context.Context, r io.Reader) <-chan string {
	out := make(chan string)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			select {
			case out <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// listenForCallback serves the redirect URI's path on addr (or the addresses derived from
// the redirect URI) and sends each redirect that carries this login's state to codes. For
// an https redirect URI it serves a self-signed certificate generated in memory and returns
// its SHA-256 fingerprint.
func listenForCallback(redirect *url.URL, addr, state string, codes chan<- loginInput, log zerolog.Logger) (stop func(), addrs []string, fingerprint string, err error) {
	candidates := []string{addr}
	if addr == "" {
		candidates = callbackAddrs(redirect)
	}
	var tlsCfg *tls.Config
	if redirect.Scheme == "https" {
		cert, err := selfSignedCert(redirect.Hostname())
		if err != nil {
			return nil, nil, "", err
		}
		fingerprint = certFingerprint(cert.Certificate[0])
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	path := cmp.Or(redirect.Path, "/")
	srv := &http.Server{
		Handler:           callbackHandler(path, state, codes, log),
		ReadHeaderTimeout: 10 * time.Second,
		// A browser that refuses the self-signed certificate ends the handshake: Debug.
		ErrorLog: stdlog.New(debugWriter{log}, "", 0),
	}
	var lns []net.Listener
	var firstErr error
	for _, a := range candidates {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		if tlsCfg != nil {
			ln = tls.NewListener(ln, tlsCfg)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	if len(lns) == 0 {
		return nil, nil, "", firstErr
	}
	for _, ln := range lns {
		go func() { _ = srv.Serve(ln) }()
	}
	stop = func() {
		// Let the browser receive its page before the listener goes away.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	return stop, addrs, fingerprint, nil
}

// callbackAddrs derives listen addresses from the redirect URI: its port (443 or 80 when
// absent), on the loopback interface when the host is a loopback name or address (both
// IPv4 and IPv6 for localhost, which browsers may resolve either way), else on every
// interface, since the browser then reaches this machine by name.
func callbackAddrs(redirect *url.URL) []string {
	port := redirect.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[redirect.Scheme]
	}
	h := redirect.Hostname()
	switch {
	case strings.EqualFold(h, "localhost"):
		return []string{net.JoinHostPort("127.0.0.1", port), net.JoinHostPort("::1", port)}
	case isLoopbackHost(h):
		return []string{net.JoinHostPort(h, port)}
	default:
		return []string{net.JoinHostPort("", port)}
	}
}

func callbackHandler(path, state string, codes chan<- loginInput, log zerolog.Logger) http.Handler {
	page := func(w http.ResponseWriter, status int, title, msg string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><title>exactsync: %s</title><h1>%s</h1><p>%s</p>\n",
			html.EscapeString(title), html.EscapeString(title), html.EscapeString(msg))
	}
	var mu gosync.Mutex
	delivered := false // an authorization went to codes
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			page(w, http.StatusNotFound, "Not here", "exactsync waits for the redirect on "+path+".")
			return
		}
		in := "?" + r.URL.RawQuery
		if _, err := parseLoginInput(in, state, true); err != nil {
			log.Warn().Str("remote", r.RemoteAddr).Str("error", err.Error()).Msg("callback refused")
			page(w, http.StatusBadRequest, "Authorization not accepted", err.Error())
			return
		}
		// A code works once (§1.7): a replayed redirect (a reload, the back button, a
		// second request) is refused, and only the first is delivered.
		mu.Lock()
		defer mu.Unlock()
		if delivered {
			log.Warn().Str("remote", r.RemoteAddr).Msg("callback refused: the authorization was already used")
			page(w, http.StatusConflict, "Authorization already used",
				"This authorization was already used; run `exactsync auth login` again if you need a new one.")
			return
		}
		select {
		case codes <- loginInput{text: in, callback: true}:
			delivered = true
			page(w, http.StatusOK, "Authorization received", "exactsync received the authorization. Return to the terminal; you may close this tab.")
		default:
			page(w, http.StatusConflict, "Already received", "exactsync already received an authorization for this login.")
		}
	})
}

// selfSignedCert returns a certificate for host (and localhost, 127.0.0.1, ::1), valid for
// a day and never written to disk.
func selfSignedCert(host string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generating the callback key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generating the callback certificate: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: host, Organization: []string{"exactsync auth login"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	} else if !strings.EqualFold(host, "localhost") {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generating the callback certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// debugWriter turns the callback server's own log lines into Debug events.
type debugWriter struct{ log zerolog.Logger }

func (w debugWriter) Write(p []byte) (int, error) {
	w.log.Debug().Str("error", strings.TrimSpace(string(p))).Msg("callback listener")
	return len(p), nil
}

// certFingerprint is the SHA-256 fingerprint as browsers show it: AB:CD:….
func certFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}
