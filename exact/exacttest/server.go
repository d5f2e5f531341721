package exacttest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// Server is a Simulator listening on a loopback port, in the style of httptest.Server.
type Server struct {
	*Simulator
	URL string // base URL, like "http://127.0.0.1:PORT"

	srv *http.Server
	ln  net.Listener
}

// NewServer starts a simulator on 127.0.0.1 with a free port. It panics when it cannot listen,
// like httptest.NewServer.
func NewServer(opts Options) *Server {
	srv, err := Listen("127.0.0.1:0", opts)
	if err != nil {
		panic("exacttest: " + err.Error())
	}
	return srv
}

// Listen starts a simulator on addr (port 0 picks a free port).
func Listen(addr string, opts Options) (*Server, error) {
	sim, err := Open(opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{Simulator: sim, URL: "http://" + ln.Addr().String(), ln: ln}
	s.hooks.base = s.URL
	s.srv = &http.Server{Handler: s.Simulator, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Shutdown stops the server gracefully, waiting for requests in flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	defer s.stopWebhooks()
	if err := s.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close stops the server at once.
func (s *Server) Close() {
	_ = s.srv.Close()
	s.stopWebhooks()
}
