package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
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

// Server serves a handler on one address until Stop: the listener of the webhook
// callback when no other server of the process carries it.
type Server struct {
	Addr string // the address listened on, with the port chosen
	srv  *http.Server
	done chan error
}

// Listen listens on addr and serves h in a goroutine of its own.
func Listen(addr string, h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for webhook deliveries on %s: %w", addr, err)
	}
	s := &Server{Addr: ln.Addr().String(), done: make(chan error, 1), srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
	}}
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return s, nil
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
