package exacttest

import (
	"net/http"
	"net/http/httptest"
)

// InProcessURL is the base URL of a client of InProcessClient: a loopback host that
// nothing listens on, since the client's requests never leave the process.
const InProcessURL = "http://127.0.0.1:1"

// InProcessClient returns an HTTP client whose requests the simulator's handler serves in
// the caller's process, without a socket: for tests of a client's logic (paging, __next,
// tokens, rate-limit headers) that need no server, such as sync's. Give the client
// InProcessURL as its base URL.
func (s *Simulator) InProcessClient() *http.Client {
	return &http.Client{Transport: handlerTransport{s}}
}

// handlerTransport hands each request to a handler in process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	in := r.Clone(r.Context())
	if in.Body == nil {
		in.Body = http.NoBody
	}
	if in.Host == "" {
		in.Host = in.URL.Host
	}
	in.RequestURI = in.URL.RequestURI()
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, in)
	res := rec.Result()
	res.Request = r
	return res, nil
}
