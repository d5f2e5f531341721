package sink

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/sink/seal"
)

// Config configures a Store. Zero values mean the defaults.
type Config struct {
	// DatabaseURL is a PostgreSQL connection URL or keyword/value string.
	DatabaseURL string
	// MaxConns caps the pool. Default 4.
	MaxConns int32
	// LockTimeout bounds the wait for a connection's token row lock in UpdateToken.
	// Default 30s.
	LockTimeout time.Duration
	// IdleInTransactionTimeout is the idle_in_transaction_session_timeout of the
	// UpdateToken transaction: PostgreSQL ends the session (and so releases the row lock)
	// when the token callback stalls longer than this. It must exceed the token HTTP
	// timeout. Default 60s.
	IdleInTransactionTimeout time.Duration
	// Logger receives migration and retry events.
	Logger zerolog.Logger
	// Keyring seals the secrets stored in exact_sync.connections (access and refresh
	// tokens, client secret) and opens them again. Nil stores them as plaintext and
	// refuses to read sealed ones (see CheckSecrets).
	Keyring *seal.Keyring
	// StateDir holds the recovery files of refreshed token pairs that could not be stored
	// (see UpdateToken and RecoverTokens). Empty: no recovery files.
	StateDir string
	// KeyFile, for a store without a Keyring, is the file another process may generate the
	// key of the stored secrets into (see GenerateKey): the store takes that key when it
	// first needs one after the file appeared. Empty: none.
	KeyFile string
	// TokenStoreWindow bounds how long UpdateToken keeps retrying to store a refreshed
	// pair whose commit failed. Default 10 minutes, the life of the access token that
	// came with it (docs/exact-online.md §1.7). It is also part of the window in which the other
	// processes wait for the pair of a refresh this process announced (dest.PendingRefresh).
	TokenStoreWindow time.Duration
	// TokenStoreGrace is how long those retries go on after the caller's context is done
	// (a shutdown), before the pair is left to the recovery file. Default 10s.
	TokenStoreGrace time.Duration
}

// Store is exactsync's PostgreSQL state: a connection pool plus the operations on the
// exact and exact_sync schemas. It is safe for concurrent use.
type Store struct {
	pool        *pgxpool.Pool
	log         zerolog.Logger
	lockTimeout time.Duration
	idleTimeout time.Duration
	addr        string // host:port, for error messages
	keysMu      sync.Mutex
	keys        *seal.Keyring // see keyring
	keyFile     string
	database    string // the database's name, part of a recovery file's identity
	stateDir    string
	storeWindow time.Duration
	storeGrace  time.Duration

	plansMu sync.Mutex
	plans   map[planKey]*tablePlan

	divLocks lockSessions // see LockDivision
}

// Open connects to PostgreSQL and pings it. It does not migrate; call Migrate.
// On failure the error names host:port (never the password).
func Open(ctx context.Context, cfg Config) (*Store, error) {
	s, err := New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := s.pool.Ping(ctx); err != nil {
		s.pool.Close()
		return nil, connectError(s.addr, s.database, err)
	}
	return s, nil
}

// New returns a Store whose pool connects on first use: it fails only on a database
// URL it cannot parse, and a server that cannot be reached yet shows in the first
// operation's error (see Ping and Unavailable). A process that must wait for
// PostgreSQL uses it; Open is New and a Ping.
func New(ctx context.Context, cfg Config) (*Store, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		// pgx redacts the password in parse errors.
		return nil, fmt.Errorf("parsing database URL: %w; check DATABASE_URL", err)
	}
	pcfg.MaxConns = cmp.Or(cfg.MaxConns, 4)
	s := &Store{
		log:         cfg.Logger,
		lockTimeout: cmp.Or(cfg.LockTimeout, 30*time.Second),
		idleTimeout: cmp.Or(cfg.IdleInTransactionTimeout, 60*time.Second),
		addr:        hostPort(pcfg.ConnConfig.Config),
		keys:        cfg.Keyring,
		keyFile:     cfg.KeyFile,
		database:    pcfg.ConnConfig.Database,
		stateDir:    cfg.StateDir,
		storeWindow: cmp.Or(cfg.TokenStoreWindow, defaultTokenStoreWindow),
		storeGrace:  cmp.Or(cfg.TokenStoreGrace, defaultTokenStoreGrace),
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, connectError(s.addr, pcfg.ConnConfig.Database, err)
	}
	s.pool = pool
	return s, nil
}

// Close closes the pool and the idle sessions of the division locks. A division lock
// still held stays held until its holder releases it (or the process ends): a job that
// outlives a shutdown's grace period keeps its division until it has stopped.
func (s *Store) Close() {
	s.divLocks.close()
	s.pool.Close()
}

// EnsureDatabase connects to the "postgres" database of the server databaseURL points at
// and creates the URL's database if it does not exist. Concurrent callers are safe.
func EnsureDatabase(ctx context.Context, databaseURL string) error {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return fmt.Errorf("parsing database URL: %w; check DATABASE_URL", err)
	}
	name := cfg.Database
	if name == "" {
		return errors.New("database URL names no database; check DATABASE_URL")
	}
	addr := hostPort(cfg.Config)
	if name == "postgres" {
		return nil
	}
	admin := cfg.Copy()
	admin.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return connectError(addr, "postgres", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("checking for database %q on %s: %w", name, addr, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505") {
		return nil // created concurrently by someone else
	}
	if err != nil {
		return fmt.Errorf("creating database %q on %s: %w", name, addr, err)
	}
	return nil
}

// DropDatabase drops the database databaseURL names, if it exists, disconnecting its
// sessions (WITH (FORCE)). It refuses the "postgres" database.
func DropDatabase(ctx context.Context, databaseURL string) error {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return fmt.Errorf("parsing database URL: %w; check DATABASE_URL", err)
	}
	name := cfg.Database
	if name == "" || name == "postgres" {
		return fmt.Errorf("refusing to drop database %q", name)
	}
	admin := cfg.Copy()
	admin.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return connectError(hostPort(cfg.Config), "postgres", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("dropping database %q: %w", name, err)
	}
	return nil
}

// hostPort names the server of a connection config, e.g. "127.0.0.1:5432" or a socket
// directory.
func hostPort(c pgconn.Config) string {
	if len(c.Host) > 0 && c.Host[0] == '/' {
		return c.Host
	}
	return net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port)))
}
