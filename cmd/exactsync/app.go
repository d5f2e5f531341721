package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/seal"
	"github.com/exactsync/exactsync/sync"
)

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func loadConfig(e *env, needs config.Needs) (*config.Config, error) {
	opts := configOptions()
	if e.environ != nil {
		opts.Environ = e.environ()
	}
	opts.Known = e.flagEnvs
	cfg, err := config.Load(e.getenv, needs, opts)
	if err != nil {
		return nil, usageError{err}
	}
	return cfg, nil
}

// setup reads the configuration, builds the logger and opens the migrated
// store: the start of most commands. The caller closes the store.
func setup(e *env, needs config.Needs) (*config.Config, zerolog.Logger, *sink.Store, error) {
	cfg, err := loadConfig(e, needs)
	if err != nil {
		return nil, zerolog.Nop(), nil, err
	}
	log := newLogger(cfg, e.stderr)
	st, err := openStore(e, cfg, log)
	if err != nil {
		return nil, log, nil, err
	}
	return cfg, log, st, nil
}

// newLogger builds the root logger; it writes to w (stderr). Console lines are coloured
// on a terminal only: a file or a pipe gets them plain.
func newLogger(cfg *config.Config, w io.Writer) zerolog.Logger {
	if tty := isTerminal(w); cfg.LogFormat == "console" || cfg.LogFormat == "auto" && tty {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339, NoColor: !tty}
	}
	return zerolog.New(w).Level(cfg.LogLevel).With().Timestamp().Logger()
}

// openStore connects to PostgreSQL, brings the schema up to date, imports the token
// pairs an earlier process kept in recovery files because PostgreSQL could not store them
// (before anything else uses a token), and checks that every stored secret opens with
// the configured keys, so that a process without the right key refuses to start (one
// line naming the key id and how to provide it) instead of failing at its first refresh.
// Secrets found stored as plaintext are sealed, with a key generated for them when none
// is configured (see sealingKey), unless EXACTSYNC_ENCRYPTION_KEY=none.
func openStore(e *env, cfg *config.Config, log zerolog.Logger) (*sink.Store, error) {
	st, err := sink.Open(e.ctx, storeConfig(cfg, log))
	if err != nil {
		return nil, err
	}
	if err := prepareStore(e, cfg, st, log); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// storeConfig is the store's configuration of cfg.
func storeConfig(cfg *config.Config, log zerolog.Logger) sink.Config {
	scfg := sink.Config{DatabaseURL: cfg.DatabaseURL, Logger: log, Keyring: cfg.Keyring, StateDir: cfg.StateDir}
	if cfg.Keyring == nil && !cfg.Unencrypted {
		scfg.KeyFile = cfg.KeyFile // the key another process may generate while this one runs
	}
	return scfg
}

// prepareStore is openStore's work once connected: migrate, import the kept token pairs,
// check the secrets, and warn (once per command) of what the configuration and the
// stored secrets deserve.
func prepareStore(e *env, cfg *config.Config, st *sink.Store, log zerolog.Logger) error {
	ctx := e.ctx
	if err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("migrating the database: %w", err)
	}
	if _, err := st.RecoverTokens(ctx); err != nil {
		if errors.Is(err, seal.ErrNoKey) {
			return keyRefusal(cfg, err)
		}
		return fmt.Errorf("importing kept token pairs: %w", err)
	}
	if err := sealingKey(e, cfg, st, log, false); err != nil {
		return err
	}
	rep, err := st.CheckSecrets(ctx)
	if err != nil {
		if errors.Is(err, seal.ErrNoKey) {
			return keyRefusal(cfg, err)
		}
		return err
	}
	if e.warnedConfig {
		return nil // a start tried again (run waiting for PostgreSQL) says it once
	}
	e.warnedConfig = true
	for _, w := range cfg.Warnings {
		log.Warn().Msg(w)
	}
	if cfg.Keyring != nil && rep.Plaintext > 0 {
		n, err := st.SealPlaintext(ctx)
		if err != nil {
			// Sealed at the next start; doctor says so meanwhile.
			log.Warn().Err(err).Int("plaintext", rep.Plaintext).Msg("cannot seal the secrets stored in plain text now; the next start tries again")
		} else if n > 0 {
			e.sealedAtStart += n
			log.Info().Int("values", n).Str("key_id", cfg.Keyring.CurrentID()).Msg("sealed the secrets stored in plain text")
		}
	}
	switch {
	case cfg.Unencrypted:
		if rep.Values > 0 {
			warnPlaintext(e, log, rep.Values)
		}
	case rep.OtherKey > 0:
		log.Warn().Int("old_key", rep.OtherKey).Str("key_id", rep.CurrentKeyID).
			Msg("some stored secrets are not encrypted with the current key; run `exactsync auth rotate-key`")
	}
	return nil
}

// warnPlaintext says, once per command, that secrets are stored without encryption, as
// EXACTSYNC_ENCRYPTION_KEY=none asks.
func warnPlaintext(e *env, log zerolog.Logger, stored int) {
	if e.warnedPlaintext {
		return
	}
	e.warnedPlaintext = true
	log.Warn().Int("stored_secrets", stored).
		Msg("secrets are stored unencrypted, as " + config.EnvEncryptionKey + "=" + config.KeyNone + " asks; unset it (or set a key) and the next start seals them")
}

// newClient builds the Exact client of one connection with the connection's
// own host, client id and stored client secret.
func newClient(cfg *config.Config, st *sink.Store, conn dest.Connection, log zerolog.Logger) (*exact.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return newClientContext(ctx, cfg, st, conn, log)
}

// newClientContext is newClient reading the stored client secret under ctx.
// Each option may change the client's configuration.
func newClientContext(ctx context.Context, cfg *config.Config, st *sink.Store, conn dest.Connection, log zerolog.Logger, options ...func(*exact.Config)) (*exact.Client, error) {
	secret, err := clientSecret(ctx, cfg, st, conn)
	if err != nil {
		return nil, err
	}
	ecfg := exact.Config{
		BaseURL:      conn.BaseURL,
		ClientID:     conn.ClientID,
		ClientSecret: secret,
		RedirectURL:  cfg.RedirectURL,
		Logger:       log.With().Int64("connection", conn.ID).Logger(),
	}
	for _, o := range options {
		o(&ecfg)
	}
	return exact.New(ecfg, sync.NewTokenStore(st, conn.ID))
}

// clientSecret is the connection's stored client secret; for a connection
// stored without one, EXACT_CLIENT_SECRET when EXACT_CLIENT_ID is unset or
// names the connection's app.
func clientSecret(ctx context.Context, cfg *config.Config, st *sink.Store, conn dest.Connection) (string, error) {
	secret, err := st.ClientSecret(ctx, conn.ID)
	if err != nil {
		return "", err
	}
	if secret != "" {
		return secret, nil
	}
	if cfg.ClientSecret != "" && (cfg.ClientID == "" || cfg.ClientID == conn.ClientID) {
		return cfg.ClientSecret, nil
	}
	return "", usageError{fmt.Errorf("connection %d (%s, client %s) has no stored client secret: set %s=%s and %s, or run `exactsync auth import` for it again to store the secret",
		conn.ID, host(conn.BaseURL), conn.ClientID, config.EnvClientID, conn.ClientID, config.EnvClientSecret)}
}

func readAllTrim(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// redactURL hides a password in a database URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
