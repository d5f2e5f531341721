package sink_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
)

// TestConnectErrorSaysEachReasonOnce: pgx dials an address once with TLS and once
// without, and reports both; the error names the address and the fix once, and each
// reason once.
func TestConnectErrorSaysEachReasonOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := sink.Open(ctx, sink.Config{DatabaseURL: "postgres://postgres@127.0.0.1:1/x?sslmode=prefer&connect_timeout=5"})
	if err == nil {
		t.Fatal("Open of a closed port: no error")
	}
	msg := err.Error()
	for _, s := range []string{"127.0.0.1:1", "connection refused", "check DATABASE_URL"} {
		if n := strings.Count(msg, s); n != 1 {
			t.Errorf("error %q says %q %d times, want once", msg, s, n)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error %q spans several lines", msg)
	}
	var ce *sink.ConnectError
	if !errors.As(err, &ce) || !sink.Unavailable(err) {
		t.Errorf("error %v: a *sink.ConnectError that is Unavailable, got %T, unavailable %t", err, err, sink.Unavailable(err))
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("error %v does not wrap ECONNREFUSED", err)
	}
}

func TestUnavailable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"canceled", context.Canceled, false},
		{"deadline", fmt.Errorf("migrating: %w", context.DeadlineExceeded), true},
		{"unexpected EOF", fmt.Errorf("error initializing driver: %w", io.ErrUnexpectedEOF), true},
		{"refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"conn closed", pgconn.ErrConnClosed, true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"wrong password", &pgconn.PgError{Code: "28P01"}, false},
		{"no such database", &pgconn.PgError{Code: "3D000"}, false},
		{"permission denied", &pgconn.PgError{Code: "42501"}, false},
		{"plain error", errors.New("schema is broken"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sink.Unavailable(tt.err); got != tt.want {
				t.Errorf("Unavailable(%v) = %t, want %t", tt.err, got, tt.want)
			}
		})
	}
}

// TestNewConnectsOnFirstUse: a Store made while PostgreSQL is unreachable is there at
// once; its Ping fails with an Unavailable error until the server answers, then succeeds.
func TestNewConnectsOnFirstUse(t *testing.T) {
	if testing.Short() {
		t.Skip("proxies PostgreSQL; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dbURL, proxy := sinktest.Proxied(t, sinktest.NewMigratedDatabase(t))
	proxy.Cut()
	st, err := sink.New(ctx, sink.Config{DatabaseURL: dbURL})
	if err != nil {
		t.Fatalf("New with the database cut: %v", err)
	}
	defer st.Close()
	err = st.Ping(ctx)
	if err == nil || !sink.Unavailable(err) || !strings.HasPrefix(err.Error(), "cannot reach PostgreSQL at "+proxy.Addr()) {
		t.Fatalf("Ping with the database cut: %v (unavailable %t), want an Unavailable error naming %s", err, sink.Unavailable(err), proxy.Addr())
	}
	proxy.Restore()
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping once restored: %v", err)
	}
}
