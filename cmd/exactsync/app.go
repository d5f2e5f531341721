package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sync"
)

// Default schedules, in the configured time zone (Europe/Amsterdam). The
// nightly full pass runs at 02:30, clear of Exact's 04:00–04:30 CET
// maintenance window (fact sheet §0, §6.11).
var (
	defaultSchedules     = map[string]string{"accounts": "*/15 * * * *", "suppliers": "*/15 * * * *"}
	defaultFullSchedules = map[string]string{"accounts": "30 2 * * *", "suppliers": "45 2 * * *"}
)

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func loadConfig(e *env, needs config.Needs) (*config.Config, error) {
	cfg, err := config.Load(e.getenv, needs, config.Options{
		Entities:             sync.Names(),
		ParseSchedule:        func(spec string) error { _, err := cronParser.Parse(spec); return err },
		DefaultSchedules:     defaultSchedules,
		DefaultFullSchedules: defaultFullSchedules,
	})
	if err != nil {
		return nil, usageError{err}
	}
	return cfg, nil
}

// newLogger builds the root logger; it writes to w (stderr).
func newLogger(cfg *config.Config, w io.Writer) zerolog.Logger {
	if cfg.LogFormat == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(cfg.LogLevel).With().Timestamp().Logger()
}

// openStore connects to PostgreSQL and brings the schema up to date.
func openStore(ctx context.Context, cfg *config.Config, log zerolog.Logger) (*sink.Store, error) {
	st, err := sink.Open(ctx, sink.Config{DatabaseURL: cfg.DatabaseURL, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrating the database: %w", err)
	}
	return st, nil
}

// newClient builds the Exact client of one connection.
func newClient(cfg *config.Config, st *sink.Store, conn sink.Connection, log zerolog.Logger) (*exact.Client, error) {
	return exact.New(exact.Config{
		BaseURL:      conn.BaseURL,
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		RedirectURL:  cfg.RedirectURL,
		Logger:       log.With().Int64("connection", conn.ID).Logger(),
	}, sync.NewTokenStore(st, conn.ID))
}

// connections returns the stored connections of the configured app and host.
func connections(ctx context.Context, cfg *config.Config, st *sink.Store) ([]sink.Connection, error) {
	all, err := st.Connections(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading connections: %w", err)
	}
	var out []sink.Connection
	for _, c := range all {
		if c.BaseURL == cfg.BaseURL && c.ClientID == cfg.ClientID {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no Exact Online connection for client %s at %s: run `exactsync auth import --refresh-token TOKEN` first", cfg.ClientID, host(cfg.BaseURL))
	}
	return out, nil
}

// reauthMessage is the one line printed for a broken token chain.
func reauthMessage(c sink.Connection) string {
	return fmt.Sprintf("connection %d (%s) needs re-authorization: %s; get a new refresh token and run `exactsync auth import --refresh-token TOKEN`",
		c.ID, host(c.BaseURL), c.StateReason)
}

// divisions returns the divisions to sync for one connection: the
// configured ones, or every division the token can see.
func divisions(ctx context.Context, cfg *config.Config, client *exact.Client) ([]int, error) {
	if len(cfg.Divisions) > 0 {
		return cfg.Divisions, nil
	}
	ds, err := client.Divisions(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing divisions: %w", err)
	}
	out := make([]int, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.Code)
	}
	return out, nil
}

func host(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Host
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
