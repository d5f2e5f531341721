package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// ConnectError is a connection to PostgreSQL that could not be made: the server's
// address, the database, the reason, and the variable to check. Err is pgx's error,
// for errors.Is and errors.As.
type ConnectError struct {
	Addr     string // host:port, or a socket directory
	Database string
	Err      error
}

// Error is one line: pgx reports each address it dialed, and several attempts at one
// address (with and without TLS) alike, so the reasons are given once each.
func (e *ConnectError) Error() string {
	if e.NoDatabase() {
		return fmt.Sprintf("PostgreSQL at %s has no database %q; create it or check DATABASE_URL", e.Addr, e.Database)
	}
	return fmt.Sprintf("cannot connect to PostgreSQL at %s: %s; check DATABASE_URL", e.Addr, e.Reason())
}

// Reason is why the connection failed, without the address or the fix: "connection
// refused", "password authentication failed for user …".
func (e *ConnectError) Reason() string {
	var reasons []string
	for _, r := range leafErrors(e.Err) {
		msg := reasonText(r)
		if !slices.Contains(reasons, msg) {
			reasons = append(reasons, msg)
		}
	}
	return strings.Join(reasons, "; ")
}

func (e *ConnectError) Unwrap() error { return e.Err }

// NoDatabase reports whether the server answered that the database does not exist.
func (e *ConnectError) NoDatabase() bool {
	var pgErr *pgconn.PgError
	return errors.As(e.Err, &pgErr) && pgErr.Code == "3D000"
}

// leafErrors are the attempts of a pgx connect error, one per address and mode dialed.
func leafErrors(err error) []error {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		err = ce.Unwrap()
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			var out []error
			for _, e := range j.Unwrap() {
				out = append(out, leafErrors(e)...)
			}
			return out
		}
	}
	return []error{err}
}

// reasonText says what went wrong in one attempt: the server's own message when it
// answered, else the network's, without pgx's address prefix (the address is named once).
func reasonText(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Message
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return fmt.Sprintf("cannot look up host %s: %s", dns.Name, dns.Err)
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		var sys *os.SyscallError
		if errors.As(op.Err, &sys) {
			return sys.Err.Error()
		}
		return op.Err.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return "no answer in time"
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the server closed the connection"
	}
	// pgx's per-address error is "host:port (name): what: cause"; keep what and cause.
	if inner := errors.Unwrap(err); inner != nil {
		return inner.Error()
	}
	return err.Error()
}

// connectError explains a failed connection with the server's address and the fix.
func connectError(addr, database string, err error) error {
	return &ConnectError{Addr: addr, Database: database, Err: err}
}

// Unavailable reports whether err says that PostgreSQL could not be reached or ended the
// session, rather than refused what was asked: a dial that failed or timed out, a
// connection closed or reset in the middle of a statement, the server shutting down or
// starting up, or out of connection slots. Such an error may go away by itself; a wrong
// password, a missing database or a failing statement do not.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			pgErr.Code == "57P01", // admin_shutdown
			pgErr.Code == "57P02", // crash_shutdown
			pgErr.Code == "57P03", // cannot_connect_now: starting up or in recovery
			pgErr.Code == "53300": // too_many_connections
			return true
		}
		return false
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, context.DeadlineExceeded),
		pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return true
	}
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}

// wrapped is an error whose message says it all, keeping its cause for errors.Is and
// errors.As.
type wrapped struct {
	msg string
	err error
}

func (e *wrapped) Error() string { return e.msg }
func (e *wrapped) Unwrap() error { return e.err }
