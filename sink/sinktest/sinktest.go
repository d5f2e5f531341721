// Package sinktest gives tests a fresh PostgreSQL database, migrated or not, on the test
// server named by TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable).
//
// A database from NewDatabase has a unique name and is dropped (WITH (FORCE)) when the
// test ends. The migrated databases of NewMigratedDatabase are kept between tests (and
// test runs) and emptied when a test takes one (see pool.go): a few dozen named
// exactsync_test_pool_*, besides the template. Either way tests can run in parallel. Tests that need PostgreSQL fail,
// rather than skip, when the server is unreachable: a test that cannot fail is a defect.
package sinktest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"regexp"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/internal/tcpproxy"
	"github.com/exactsync/exactsync/migrations"
	"github.com/exactsync/exactsync/sink"
)

// DefaultURL is the test server used when TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ServerURL returns TEST_DATABASE_URL or DefaultURL.
func ServerURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)

// NewDatabase creates an empty database with a unique name on the test server and
// returns its URL. The database is dropped when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return newDatabase(t, "")
}

// newDatabase creates a database as a copy of template ("" for an empty one).
func newDatabase(t testing.TB, template string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cfg, err := pgx.ParseConfig(ServerURL())
	if err != nil {
		t.Fatalf("parsing TEST_DATABASE_URL: %v", err)
	}
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connecting to the test PostgreSQL server: %v", err)
	}
	defer admin.Close(context.Background())

	suffix := make([]byte, 4)
	rand.Read(suffix)
	prefix := unsafeChars.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(prefix) > 40 {
		prefix = prefix[:40]
	}
	name := "exactsync_test_" + prefix + "_" + hex.EncodeToString(suffix)
	create := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		create += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	_, err = admin.Exec(ctx, create)
	var pgErr *pgconn.PgError
	if template != "" && errors.As(err, &pgErr) && pgErr.Code == "3D000" { // the template went away
		if template, err = remakeTemplate(); err == nil {
			_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{template}.Sanitize())
		}
	}
	if err != nil {
		t.Fatalf("creating test database %s: %v", name, err)
	}
	configure(t, ctx, admin, name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Errorf("connecting to drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
	})

	return URLFor(ServerURL(), name)
}

// URLFor returns serverURL (a URL or a keyword/value string) with its database replaced by
// name.
func URLFor(serverURL, name string) string {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return serverURL + " dbname=" + name
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// NewStore returns a Store on a fresh, migrated database (see NewDatabase), closed when
// the test ends.
func NewStore(t testing.TB) *sink.Store {
	t.Helper()
	return NewStoreConfig(t, sink.Config{})
}

// NewStoreConfig is NewStore with cfg (its DatabaseURL is replaced by the fresh
// database's).
func NewStoreConfig(t testing.TB, cfg sink.Config) *sink.Store {
	t.Helper()
	cfg.DatabaseURL = NewMigratedDatabase(t)
	return OpenStore(t, cfg)
}

// NewMigratedDatabase is NewDatabase for a database that is migrated at once: it is
// copied from a template database that holds every migration (PostgreSQL copies a
// template far faster than the migrations run: the catalogue alone has 70 tables). The
// template is named after the migration files, made once per server and kept, as a
// cache (other checkouts with other migrations keep theirs). OpenStore still migrates,
// which then changes nothing.
func NewMigratedDatabase(t testing.TB) string {
	t.Helper()
	tpl, err := template()
	if err != nil {
		t.Fatalf("preparing the migrated template database: %v", err)
	}
	if name, ok := reuseDatabase(t, tpl); ok {
		return URLFor(ServerURL(), name)
	}
	return newDatabase(t, tpl)
}

// remakeTemplate makes the template again after it went away (dropped by hand).
func remakeTemplate() (string, error) {
	templateMu.Lock()
	defer templateMu.Unlock()
	return makeTemplate()
}

var templateMu gosync.Mutex

var (
	templateOnce gosync.Once
	templateName string
	templateErr  error
)

// template returns the name of the migrated template database, making it if needed.
// Concurrent test processes take turns under an advisory lock.
func template() (string, error) {
	templateOnce.Do(func() { templateName, templateErr = makeTemplate() })
	return templateName, templateErr
}

func makeTemplate() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := sha256.New()
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return "", err
	}
	for _, f := range files {
		b, err := fs.ReadFile(migrations.FS, f)
		if err != nil {
			return "", err
		}
		h.Write([]byte(f))
		h.Write(b)
	}
	name := "exactsync_test_template_" + hex.EncodeToString(h.Sum(nil))[:12]

	cfg, err := pgx.ParseConfig(ServerURL())
	if err != nil {
		return "", err
	}
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock(hashtext('exactsync_test_template'))`); err != nil {
		return "", err
	}
	defer admin.Exec(context.Background(), `SELECT pg_advisory_unlock(hashtext('exactsync_test_template'))`)
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	building := name + "_new"
	admin.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{building}.Sanitize()+` WITH (FORCE)`)
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{building}.Sanitize()); err != nil {
		return "", err
	}
	st, err := sink.Open(ctx, sink.Config{DatabaseURL: URLFor(ServerURL(), building)})
	if err != nil {
		return "", err
	}
	err = st.Migrate(ctx)
	st.Close()
	if err != nil {
		return "", err
	}
	for _, q := range []string{
		`ALTER DATABASE ` + pgx.Identifier{building}.Sanitize() + ` RENAME TO ` + pgx.Identifier{name}.Sanitize(),
		`ALTER DATABASE ` + pgx.Identifier{name}.Sanitize() + ` IS_TEMPLATE true`,
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			return "", err
		}
	}
	return name, nil
}

// OpenStore opens and migrates a Store on cfg.DatabaseURL, closed when the test ends.
func OpenStore(t testing.TB, cfg sink.Config) *sink.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := sink.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrating: %v", err)
	}
	return s
}

// NewStorePool is NewStore, with a pool of its own on the same database for what a test
// checks with raw SQL; both are closed when the test ends.
func NewStorePool(t testing.TB) (*sink.Store, *pgxpool.Pool) {
	t.Helper()
	url := NewMigratedDatabase(t)
	return OpenStore(t, sink.Config{DatabaseURL: url}), NewPool(t, url)
}

// NewPool opens a pool on databaseURL for raw SQL, closed when the test ends.
func NewPool(t testing.TB, databaseURL string) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		t.Fatalf("opening a pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Proxied returns databaseURL reaching its server through a TCP proxy the test can cut
// (an outage without touching the shared server), and the proxy, closed when the test ends.
func Proxied(t testing.TB, databaseURL string) (string, *tcpproxy.Proxy) {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil || u.Host == "" {
		t.Fatalf("proxying %q: not a postgres:// URL with a host", databaseURL)
	}
	proxy, err := tcpproxy.New(u.Host)
	if err != nil {
		t.Fatalf("proxying the database: %v", err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	u.Host = proxy.Addr()
	return u.String(), proxy
}

// NewConnection stores a connection to baseURL for clientID with refreshToken imported,
// as `exactsync auth import` does.
func NewConnection(t testing.TB, st *sink.Store, baseURL, clientID, refreshToken string) dest.Connection {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := st.UpsertConnection(ctx, baseURL, clientID, "test-user")
	if err != nil {
		t.Fatalf("storing a connection: %v", err)
	}
	if err := st.ImportRefreshToken(ctx, conn.ID, refreshToken); err != nil {
		t.Fatalf("importing its refresh token: %v", err)
	}
	return conn
}
