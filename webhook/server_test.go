package webhook

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"
)

// refusalLog records what a Server refuses.
type refusalLog struct {
	mu   gosync.Mutex
	seen []string // "reason client detail"
}

func (r *refusalLog) Refused(reason, client, detail string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, reason+" "+client+" "+detail)
}

func (r *refusalLog) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.seen {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

// heldHandler answers each request once the test lets it go, counting the requests in it.
type heldHandler struct {
	entered chan string // the X-Conn header of each request that reached the handler
	release chan struct{}
}

func newHeldHandler() *heldHandler {
	return &heldHandler{entered: make(chan string, 64), release: make(chan struct{}, 64)}
}

func (h *heldHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	h.entered <- r.Header.Get("X-Conn")
	<-h.release
	w.WriteHeader(http.StatusOK)
}

// dialFrom opens a connection to addr from the loopback address from (127.0.0.x), or
// skips the test where such an address cannot be bound.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		if from != "127.0.0.1" {
			t.Skipf("cannot connect from %s (only Linux routes all of 127/8 to loopback): %v", from, err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sendRequest writes a complete POST named name on c.
func sendRequest(t *testing.T, c net.Conn, name string) {
	t.Helper()
	if _, err := fmt.Fprintf(c, "POST /hook HTTP/1.1\r\nHost: x\r\nX-Conn: %s\r\nContent-Length: 2\r\n\r\n{}", name); err != nil {
		t.Fatal(err)
	}
}

// readStatus reads the status code of the answer on c, within 20 s.
func readStatus(t *testing.T, c net.Conn) int {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitEntered waits (20 s at most) for the next request to reach the handler.
func waitEntered(t *testing.T, h *heldHandler) string {
	t.Helper()
	select {
	case name := <-h.entered:
		return name
	case <-time.After(20 * time.Second):
		t.Fatal("no request reached the handler within 20 s")
		return ""
	}
}

func listenTest(t *testing.T, cfg ServerConfig) *Server {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	s, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
	})
	return s
}

// TestServerCapsConnectionsPerClient: a client address over its cap has its connection
// closed at once (and told to Refusals); another address is served beside it; a slot
// given back serves the first address again.
func TestServerCapsConnectionsPerClient(t *testing.T) {
	t.Parallel()
	h, refused := newHeldHandler(), &refusalLog{}
	s := listenTest(t, ServerConfig{Handler: h, MaxConns: 8, MaxConnsPerClient: 2, Refusals: refused})
	var held []net.Conn
	for i := range 2 {
		c := dialFrom(t, "127.0.0.1", s.Addr)
		sendRequest(t, c, fmt.Sprint("held", i))
		waitEntered(t, h)
		held = append(held, c)
	}
	over := dialFrom(t, "127.0.0.1", s.Addr)
	_ = over.SetReadDeadline(time.Now().Add(20 * time.Second))
	if n, err := over.Read(make([]byte, 1)); err == nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		t.Fatalf("a third connection from one address: read %d bytes, %v; want it closed by the server", n, err)
	}
	if refused.count(ReasonClientCap+" 127.0.0.1 over 2 connections") != 1 {
		t.Errorf("refusals %d, want one client_cap of 127.0.0.1", refused.count(""))
	}
	other := dialFrom(t, "127.0.0.2", s.Addr)
	sendRequest(t, other, "other")
	if got := waitEntered(t, h); got != "other" {
		t.Errorf("request %q reached the handler, want the one from 127.0.0.2", got)
	}
	for range 3 {
		h.release <- struct{}{}
	}
	for _, c := range append(held, other) {
		if st := readStatus(t, c); st != http.StatusOK {
			t.Errorf("status %d, want 200", st)
		}
		c.Close()
	}
	// The slots come back when the connections close: the address is served again.
	deadline := time.Now().Add(20 * time.Second)
	for {
		again := dialFrom(t, "127.0.0.1", s.Addr)
		sendRequest(t, again, "again")
		h.release <- struct{}{}
		_ = again.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(again), nil)
		if err == nil {
			resp.Body.Close()
			break
		}
		<-h.release // not taken: the connection was refused before a request
		if time.Now().After(deadline) {
			t.Fatalf("127.0.0.1 not served again within 20 s of its connections closing: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestServerCapsConnectionsInAll: with the cap of all reached, a further connection is
// not served until one of the open ones closes. The handler checks, at the moment the
// further request reaches it, that the test had already let one go; the test waits a
// moment before doing so, in which a server without the cap would have served it.
func TestServerCapsConnectionsInAll(t *testing.T) {
	t.Parallel()
	h := newHeldHandler()
	s := listenTest(t, ServerConfig{Handler: h, MaxConns: 2, MaxConnsPerClient: 2})
	held := []net.Conn{dialFrom(t, "127.0.0.1", s.Addr), dialFrom(t, "127.0.0.2", s.Addr)}
	for i, c := range held {
		sendRequest(t, c, fmt.Sprint("held", i))
		waitEntered(t, h)
	}
	var letGo atomic.Bool
	third := dialFrom(t, "127.0.0.3", s.Addr)
	sendRequest(t, third, "third")
	select {
	case name := <-h.entered:
		t.Fatalf("request %q was served while the cap of 2 connections was taken", name)
	case <-time.After(300 * time.Millisecond):
	}
	letGo.Store(true)
	answered := make(chan net.Conn, len(held))
	for _, c := range held {
		go func() {
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
				resp.Body.Close()
				answered <- c
			}
		}()
	}
	h.release <- struct{}{} // one held request's answer; closing its connection gives its slot back
	select {
	case c := <-answered:
		c.Close()
	case <-time.After(20 * time.Second):
		t.Fatal("no held request was answered within 20 s")
	}
	if got := waitEntered(t, h); got != "third" || !letGo.Load() {
		t.Fatalf("request %q reached the handler; want the third, after a held one was let go", got)
	}
	h.release <- struct{}{}
	h.release <- struct{}{}
	if st := readStatus(t, third); st != http.StatusOK {
		t.Errorf("third: status %d, want 200", st)
	}
}

// TestServerTimeouts: a body that does not arrive within the read timeout gets 408 and is
// counted; headers that do not arrive within their own, shorter timeout get the
// connection closed.
func TestServerTimeouts(t *testing.T) {
	t.Parallel()
	t.Run("body", func(t *testing.T) {
		t.Parallel()
		rc, _, obs := newTestReceiver(t, Config{})
		s := listenTest(t, ServerConfig{Handler: rc, HeaderTimeout: time.Second, ReadTimeout: time.Second, Refusals: rc})
		c := dialFrom(t, "127.0.0.1", s.Addr)
		if _, err := fmt.Fprint(c, "POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"Content\":"); err != nil {
			t.Fatal(err)
		}
		if st := readStatus(t, c); st != http.StatusRequestTimeout {
			t.Errorf("slow body: status %d, want 408", st)
		}
		if obs.count(OutcomeTimeout) != 1 {
			t.Errorf("outcome %s observed %d times, want 1", OutcomeTimeout, obs.count(OutcomeTimeout))
		}
		if n := rc.refusals.counted(OutcomeTimeout); n != 1 {
			t.Errorf("%d timeouts counted for the summary, want 1", n)
		}
	})
	t.Run("headers", func(t *testing.T) {
		t.Parallel()
		rc, _, _ := newTestReceiver(t, Config{})
		// The whole request may take 30 s, its headers 1 s: the connection closes long
		// before the test stops waiting, 20 s on.
		s := listenTest(t, ServerConfig{Handler: rc, HeaderTimeout: time.Second, ReadTimeout: 30 * time.Second, Refusals: rc})
		slow := dialFrom(t, "127.0.0.1", s.Addr)
		if _, err := fmt.Fprint(slow, "POST /hook HTTP/1.1\r\nHost: x\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = slow.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.ReadAll(slow); isTimeout(err) {
			t.Errorf("slow headers: the connection was still open after 20 s; the header timeout is 1 s")
		}
	})
}

func TestServerConfigCheck(t *testing.T) {
	for _, tt := range []struct {
		cfg         ServerConfig
		fields      []string
		descriptors int
	}{
		{ServerConfig{}, nil, DefaultMaxConns + 1},
		{ServerConfig{MaxConns: 4}, nil, 5}, // the per-client default follows a smaller cap of all
		{ServerConfig{MaxConns: 4, MaxConnsPerClient: 5}, []string{"MaxConnsPerClient"}, 5},
		{ServerConfig{MaxConnsPerClient: DefaultMaxConns + 1}, []string{"MaxConnsPerClient"}, DefaultMaxConns + 1},
		{ServerConfig{HeaderTimeout: time.Minute}, []string{"HeaderTimeout"}, DefaultMaxConns + 1},
		{ServerConfig{HeaderTimeout: time.Minute, ReadTimeout: time.Minute}, nil, DefaultMaxConns + 1},
		{ServerConfig{MaxConns: 1, MaxConnsPerClient: 2, HeaderTimeout: 3 * time.Second, ReadTimeout: 2 * time.Second}, []string{"MaxConnsPerClient", "HeaderTimeout"}, 2},
	} {
		err := tt.cfg.Check()
		var fields []string
		if err != nil {
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var le *LimitError
				if errors.As(e, &le) {
					fields = append(fields, le.Field)
				}
			}
		}
		if fmt.Sprint(fields) != fmt.Sprint(tt.fields) {
			t.Errorf("%+v: Check() = %v; want problems with %v", tt.cfg, err, tt.fields)
		}
		if got := tt.cfg.Descriptors(); got != tt.descriptors {
			t.Errorf("%+v: Descriptors() = %d, want %d", tt.cfg, got, tt.descriptors)
		}
	}
	if err := (ServerConfig{IdleTimeout: -time.Second}).Check(); err == nil {
		t.Errorf("a negative limit passed")
	}
	if _, err := Listen(ServerConfig{Addr: "127.0.0.1:0", MaxConns: 1, MaxConnsPerClient: 2}); err == nil {
		t.Errorf("Listen accepted a per-client cap over the cap of all")
	}
}

func TestClientKey(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:443":                     "192.0.2.7",
		"[::ffff:192.0.2.7]:443":            "192.0.2.7",
		"[2001:db8:1:2:aaaa::1]:443":        "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::9]:80":         "2001:db8:1:2::/64",
		"[fe80::1%eth0]:80":                 "fe80::/64",
		"not an address":                    "unknown",
		"[2001:db8:1:3::1]:1":               "2001:db8:1:3::/64",
		"127.0.0.1:0":                       "127.0.0.1",
		"[::1]:9":                           "::/64",
		"[2001:db8:ffff:ffff:1:2:3:4]:9000": "2001:db8:ffff:ffff::/64",
	} {
		if got := clientName(clientKey(addr)); got != want {
			t.Errorf("client of %q: %q, want %q", addr, got, want)
		}
	}
}
