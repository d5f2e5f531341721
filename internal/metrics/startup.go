package metrics

import (
	"fmt"
	"net/http"
	gosync "sync"
)

// Startup is the readiness of a process while it starts: until [Startup.Started],
// readiness answers 503 with one line saying what the start is doing or waiting for
// ("worker: not started: waiting for PostgreSQL …"), without running its other checks,
// which would only say the same less clearly. A nil *Startup is a process that has
// started.
type Startup struct {
	mu      gosync.Mutex
	state   string
	started bool
}

// NewStartup returns the readiness of a start that is doing state.
func NewStartup(state string) *Startup { return &Startup{state: state} }

// Set says what the start is doing or waiting for now.
func (s *Startup) Set(state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = state
}

// Started ends the start: from now on readiness is the other checks'.
func (s *Startup) Started() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = true
}

// State is what the start is doing, and whether it has finished.
func (s *Startup) State() (state string, started bool) {
	if s == nil {
		return "", true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state, s.started
}

// Gate answers for ready (a ReadyHandler) once the start has finished, and 503 with
// "worker: not started: <state>" before.
func (s *Startup) Gate(ready http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		state, started := s.State()
		if started {
			ready.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "worker: not started: "+oneLine(state))
	})
}
