package webhook

import (
	"net"
	"net/netip"
	gosync "sync"
)

// clientListener caps the connections open at once from one client address. A connection
// over the cap is closed as soon as it is accepted, and told to refused; the others are
// counted until they close. It sits under a listener that caps the connections in all
// (netutil.LimitListener), which takes its slot before asking for the next connection, so
// that a refused connection never holds a descriptor beyond that slot.
type clientListener struct {
	net.Listener
	max     int
	refused func(client string)

	mu   gosync.Mutex
	open map[netip.Prefix]int
}

func newClientListener(ln net.Listener, max int, refused func(client string)) *clientListener {
	return &clientListener{Listener: ln, max: max, refused: refused, open: map[netip.Prefix]int{}}
}

// Accept returns the next connection of a client under its cap.
func (l *clientListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := clientKey(c.RemoteAddr().String())
		l.mu.Lock()
		over := l.open[key] >= l.max
		if !over {
			l.open[key]++
		}
		l.mu.Unlock()
		if over {
			_ = c.Close()
			l.refused(clientName(key))
			continue
		}
		return &clientConn{Conn: c, release: gosync.OnceFunc(func() { l.release(key) })}, nil
	}
}

func (l *clientListener) release(key netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}

// clientKey is the client a connection counts against: its IPv4 address, or the /64 of
// its IPv6 address (one host is given a /64 at least, and may use any address in it).
func clientKey(addr string) netip.Prefix {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return netip.Prefix{} // not an IP connection: all such count as one client
	}
	ip := ap.Addr().Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.WithZone("").Prefix(bits)
	return p
}

// clientName shows a client key: the IPv4 address, or the IPv6 /64.
func clientName(p netip.Prefix) string {
	if !p.IsValid() {
		return "unknown"
	}
	if p.Addr().Is4() {
		return p.Addr().String()
	}
	return p.String()
}

// clientConn gives its client's slot back when it is closed (once, however often it is
// closed).
type clientConn struct {
	net.Conn
	release func()
}

func (c *clientConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
