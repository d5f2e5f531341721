package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"
)

// Server is a process's HTTP server: the handlers mounted with Handle (the metrics,
// health and readiness endpoints, and any other the command adds) on one address. Start
// listens and serves; Stop shuts it down and waits for it.
type Server struct {
	addr string
	log  zerolog.Logger
	mux  *http.ServeMux
	srv  *http.Server
	ln   net.Listener
	done chan error
}

// NewServer returns a Server for addr (host:port; port 0 picks a free one).
func NewServer(addr string, log zerolog.Logger) *Server {
	return &Server{addr: addr, log: log, mux: http.NewServeMux()}
}

// CheckAddr reports whether addr is a listen address, host:port with a port from 0 to
// 65535 (an empty host listens on every interface), without listening.
func CheckAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		msg := err.Error()
		var ae *net.AddrError
		if errors.As(err, &ae) {
			msg = ae.Err
		}
		return fmt.Errorf("%s; want HOST:PORT, e.g. 127.0.0.1:9464", msg)
	}
	if _, err := net.LookupPort("tcp", port); err != nil || port == "" {
		return fmt.Errorf("port %q: want a number from 0 to 65535", port)
	}
	return nil
}

// Handle mounts h on pattern (an http.ServeMux pattern such as "GET /metrics"). Call it
// before Start.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Start listens on the address and serves in a goroutine of its own until Stop. Its error
// names the address.
func (s *Server) Start(ctx context.Context) error {
	if err := CheckAddr(s.addr); err != nil {
		return fmt.Errorf("listening on %q: %w", s.addr, err)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listening on %q: %w", s.addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.done = make(chan error, 1)
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	s.log.Info().Str("addr", ln.Addr().String()).Msg("serving HTTP: metrics at /metrics, health at /healthz, readiness at /readyz, status page at /")
	return nil
}

// Addr is the address the server listens on, once started ("" before).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Stop stops accepting connections, lets the requests being served finish until ctx ends,
// then closes the rest, and waits for the server's goroutine.
func (s *Server) Stop(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	if serr := <-s.done; serr != nil {
		return fmt.Errorf("serving on %s: %w", s.Addr(), serr)
	}
	return err
}
