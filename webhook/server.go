package webhook

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/netutil"
)

// Path is the path of a callback URL, where the Receiver is mounted ("/" for none).
func Path(callbackURL string) (string, error) {
	u, err := url.Parse(callbackURL)
	if err != nil {
		return "", fmt.Errorf("webhook: callback URL %q: %w", callbackURL, err)
	}
	if p := u.EscapedPath(); p != "" {
		return p, nil
	}
	return "/", nil
}

// Mount registers h on mux at the path of callbackURL (h answers 405 to all but POST).
func Mount(mux *http.ServeMux, callbackURL string, h http.Handler) error {
	p, err := Path(callbackURL)
	if err != nil {
		return err
	}
	mux.Handle(p, h)
	return nil
}

// Defaults of the ServerConfig fields.
const (
	// DefaultAddr is where the callback listens: every interface, for the reverse proxy.
	DefaultAddr              = ":8090"
	DefaultMaxConns          = 128
	DefaultMaxConnsPerClient = 32
	DefaultHeaderTimeout     = 5 * time.Second
	DefaultReadTimeout       = 10 * time.Second
	DefaultIdleTimeout       = 30 * time.Second
)

// Fixed bounds of a call: its answer (a status line and a few bytes) must be taken within
// writeTimeout, and its headers are at most maxHeaderBytes (net/http allows 4 KiB more).
const (
	writeTimeout   = 10 * time.Second
	maxHeaderBytes = 16 << 10
)

// Refusals is told of what the server refuses before a call reaches its handler: a
// connection over its client's cap (ReasonClientCap) and each line of the HTTP server's
// own error log (ReasonHTTP). *Receiver implements it, so that one summary counts both.
// The server bounds and escapes detail (see excerpt) before it tells it.
type Refusals interface {
	Refused(reason, client, detail string)
}

// ServerConfig configures the listener of the webhook callback: the public surface of a
// process, which anyone on the internet can reach. Its limits keep an attack on it from
// taking the descriptors, memory and goroutines the rest of the process needs: at most
// MaxConns connections are open at once (each with one goroutine, a request of at most
// 16 KiB of headers and the handler's body limit), MaxConnsPerClient of them from one client
// address, and every connection is closed when it is slower than the timeouts. Further
// connections wait in the kernel's accept queue, which holds no descriptor of the process.
// Zero values mean the defaults.
type ServerConfig struct {
	Addr    string // host:port (default DefaultAddr; port 0 picks a free one)
	Handler http.Handler
	// MaxConns caps the connections open at once (default 128).
	MaxConns int
	// MaxConnsPerClient caps those of one client address (an IPv4 address, an IPv6 /64;
	// default 32, at most MaxConns). Behind a reverse proxy every connection comes from
	// the proxy, so this caps the proxy as a whole.
	MaxConnsPerClient int
	// HeaderTimeout bounds the reading of a request's headers (default 5s).
	HeaderTimeout time.Duration
	// ReadTimeout bounds the reading of a whole request, headers and body (default 10s).
	ReadTimeout time.Duration
	// IdleTimeout is how long a kept-alive connection may wait for its next request
	// (default 30s).
	IdleTimeout time.Duration
	// Refusals is told of refused connections and of the server's own errors; nil drops them.
	Refusals Refusals
}

// WithDefaults returns c with the defaults in place of its zero values: the limits the
// server keeps.
func (c ServerConfig) WithDefaults() ServerConfig {
	c.Addr = cmp.Or(c.Addr, DefaultAddr)
	c.MaxConns = cmp.Or(c.MaxConns, DefaultMaxConns)
	c.MaxConnsPerClient = cmp.Or(c.MaxConnsPerClient, min(DefaultMaxConnsPerClient, c.MaxConns))
	c.HeaderTimeout = cmp.Or(c.HeaderTimeout, DefaultHeaderTimeout)
	c.ReadTimeout = cmp.Or(c.ReadTimeout, DefaultReadTimeout)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, DefaultIdleTimeout)
	return c
}

// Check reports a limit that cannot work: a negative one, a per-client cap above the cap
// of all, a header timeout longer than the whole request's.
func (c ServerConfig) Check() error {
	if c.MaxConns < 0 || c.MaxConnsPerClient < 0 || c.HeaderTimeout < 0 || c.ReadTimeout < 0 || c.IdleTimeout < 0 {
		return errors.New("webhook: negative server limit")
	}
	d := c.WithDefaults()
	var errs []error
	if d.MaxConnsPerClient > d.MaxConns {
		errs = append(errs, &LimitError{Field: "MaxConnsPerClient", Problem: fmt.Sprintf("%d is more than the %d connections allowed in all", d.MaxConnsPerClient, d.MaxConns)})
	}
	if d.HeaderTimeout > d.ReadTimeout {
		errs = append(errs, &LimitError{Field: "HeaderTimeout", Problem: fmt.Sprintf("%s is longer than the %s a whole request may take", d.HeaderTimeout, d.ReadTimeout)})
	}
	return errors.Join(errs...)
}

// LimitError is a limit of a ServerConfig that cannot work, by its field.
type LimitError struct {
	Field   string // MaxConnsPerClient or HeaderTimeout
	Problem string
}

func (e *LimitError) Error() string { return "webhook: " + e.Field + ": " + e.Problem }

// Descriptors is the most file descriptors the server holds at once: one per connection
// and the listener's.
func (c ServerConfig) Descriptors() int { return c.WithDefaults().MaxConns + 1 }

// Server serves the webhook callback on its own listener, within its limits, until Stop.
type Server struct {
	Addr string // the address listened on, with the port chosen
	srv  *http.Server
	done chan error
}

// Listen checks cfg, listens on its address and serves its handler in a goroutine of its
// own.
func Listen(cfg ServerConfig) (*Server, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	refused := func(reason, client, detail string) {
		if cfg.Refusals != nil {
			cfg.Refusals.Refused(reason, client, detail)
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listening for webhook deliveries on %s: %w", cfg.Addr, err)
	}
	over := fmt.Sprintf("over %d connections at once", cfg.MaxConnsPerClient)
	limited := netutil.LimitListener(newClientListener(ln, cfg.MaxConnsPerClient, func(client string) {
		refused(ReasonClientCap, client, over)
	}), cfg.MaxConns)
	s := &Server{Addr: ln.Addr().String(), done: make(chan error, 1), srv: &http.Server{
		Handler:           cfg.Handler,
		ReadHeaderTimeout: cfg.HeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog: log.New(errorLog(func(line string) {
			refused(ReasonHTTP, "", excerpt(strings.TrimSpace(line), excerptLong))
		}), "", 0),
	}}
	go func() {
		err := s.srv.Serve(limited)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return s, nil
}

// errorLog hands each line of the HTTP server's error log to a function.
type errorLog func(line string)

func (f errorLog) Write(p []byte) (int, error) {
	f(string(p))
	return len(p), nil
}

// Stop stops accepting calls, lets the ones in flight finish (until ctx ends) and waits
// for the serving goroutine.
func (s *Server) Stop(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	return errors.Join(err, <-s.done)
}
