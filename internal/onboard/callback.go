package onboard

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"html"
	stdlog "log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/exact"
)

// CallbackConfig configures a Callback.
type CallbackConfig struct {
	// RedirectURL is the registered redirect URI, as ParseRedirectURL accepted it: its path
	// is served, its scheme says whether to serve https, its host and port where to listen.
	RedirectURL *url.URL
	// Addr is the address to listen on; empty derives it from RedirectURL (see
	// CallbackAddrs).
	Addr string
	// State is the state of this authorization: only a redirect that carries it is taken.
	State  string
	Logger zerolog.Logger
}

// Callback is the listener that catches the browser's redirect after the user authorized
// the app: it serves the redirect URI's path, over https with a self-signed certificate
// generated in memory when the redirect URI is https, and delivers the code of the first
// redirect that carries this authorization's state. A replayed redirect (a reload, the
// back button, a second request) is refused, since a code works once (§1.7).
type Callback struct {
	cfg         CallbackConfig
	codes       chan string
	handler     http.Handler
	srv         *http.Server
	addrs       []string
	fingerprint string
	wg          sync.WaitGroup
}

// NewCallback returns a Callback for cfg; Start starts it.
func NewCallback(cfg CallbackConfig) *Callback {
	c := &Callback{cfg: cfg, codes: make(chan string, 1)}
	c.handler = callbackHandler(cmp.Or(cfg.RedirectURL.Path, "/"), cfg.State, c.codes, cfg.Logger)
	return c
}

// Start listens on the configured address (or on each address derived from the redirect
// URI, failing only when none can be bound) and serves the redirects until Stop.
func (c *Callback) Start(ctx context.Context) error {
	candidates := []string{c.cfg.Addr}
	if c.cfg.Addr == "" {
		candidates = CallbackAddrs(c.cfg.RedirectURL)
	}
	var tlsCfg *tls.Config
	if c.cfg.RedirectURL.Scheme == "https" {
		cert, err := selfSignedCert(c.cfg.RedirectURL.Hostname())
		if err != nil {
			return err
		}
		c.fingerprint = Fingerprint(cert.Certificate[0])
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	c.srv = &http.Server{
		Handler:           c.handler,
		ReadHeaderTimeout: 10 * time.Second,
		// A browser that refuses the self-signed certificate ends the handshake: Debug.
		ErrorLog: stdlog.New(debugWriter{c.cfg.Logger}, "", 0),
	}
	var lc net.ListenConfig
	var lns []net.Listener
	var firstErr error
	for _, a := range candidates {
		ln, err := lc.Listen(ctx, "tcp", a)
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		if tlsCfg != nil {
			ln = tls.NewListener(ln, tlsCfg)
		}
		lns = append(lns, ln)
		c.addrs = append(c.addrs, ln.Addr().String())
	}
	if len(lns) == 0 {
		return firstErr
	}
	for _, ln := range lns {
		c.wg.Go(func() {
			if err := c.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				c.cfg.Logger.Debug().Str("error", err.Error()).Msg("callback listener")
			}
		})
	}
	return nil
}

// Addrs are the addresses Start listens on.
func (c *Callback) Addrs() []string { return c.addrs }

// Fingerprint is the SHA-256 fingerprint of the served certificate, as browsers show it;
// empty for a plain http redirect URI.
func (c *Callback) Fingerprint() string { return c.fingerprint }

// Codes delivers the code of the first redirect that carries this authorization's state.
func (c *Callback) Codes() <-chan string { return c.codes }

// Stop stops listening, lets the browser receive its page while ctx allows, and returns
// when every goroutine Start started has ended.
func (c *Callback) Stop(ctx context.Context) error {
	if c.srv == nil {
		return nil
	}
	err := c.srv.Shutdown(ctx)
	if err != nil {
		_ = c.srv.Close()
	}
	c.wg.Wait()
	return err
}

// CallbackAddrs derives listen addresses from the redirect URI: its port (443 or 80 when
// absent), on the loopback interface when the host is a loopback name or address (both
// IPv4 and IPv6 for a name, which browsers may resolve either way), else on every
// interface, since the browser then reaches this machine by name.
func CallbackAddrs(redirect *url.URL) []string {
	port := redirect.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[redirect.Scheme]
	}
	h := redirect.Hostname()
	switch {
	case !exact.IsLoopbackHost(h):
		return []string{net.JoinHostPort("", port)}
	case net.ParseIP(h) == nil:
		return []string{net.JoinHostPort("127.0.0.1", port), net.JoinHostPort("::1", port)}
	default:
		return []string{net.JoinHostPort(h, port)}
	}
}

func callbackHandler(path, state string, codes chan<- string, log zerolog.Logger) http.Handler {
	page := func(w http.ResponseWriter, status int, title, msg string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><title>exactsync: %s</title><h1>%s</h1><p>%s</p>\n",
			html.EscapeString(title), html.EscapeString(title), html.EscapeString(msg))
	}
	var mu sync.Mutex
	delivered := false // an authorization went to codes
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			page(w, http.StatusNotFound, "Not here", "exactsync waits for the redirect on "+path+".")
			return
		}
		code, err := ParseCode("?"+r.URL.RawQuery, state, true)
		if err != nil {
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
		case codes <- code:
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

// Fingerprint is the SHA-256 fingerprint of a DER certificate as browsers show it:
// AB:CD:….
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}
