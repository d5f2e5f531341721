package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/internal/onboard"
	"github.com/exactsync/exactsync/sink"
)

type authCmd struct {
	Login     authLoginCmd     `cmd:"" help:"Connect an Exact Online user: open the authorization page, receive the code, store the tokens."`
	Import    authImportCmd    `cmd:"" help:"Store a refresh token you already hold (for example from Postman)."`
	Status    authStatusCmd    `cmd:"" help:"Show each connection's state, without secrets."`
	RotateKey authRotateKeyCmd `cmd:"" name:"rotate-key" help:"Re-encrypt stored secrets with the current encryption key."`
	Remove    authRemoveCmd    `cmd:"" help:"Remove a connection: its tokens, cursors, run history and queued jobs; its rows stay unless --delete-rows."`
}

type authImportCmd struct {
	RefreshToken string `required:"" name:"refresh-token" help:"The refresh token; - reads it from standard input."`
	NoCheck      bool   `name:"no-check" help:"Store the token without asking Exact whether it works; the first run proves it. For a token whose access token was issued less than 570 s ago, which Exact does not let anyone use yet."`
	SkipExisting bool   `name:"skip-existing" help:"When a connection of this host and app already holds a usable token, keep it and exit 0 (an importer that runs at every start)."`
	Replace      bool   `help:"Give the token to the connection the same Exact user and app already have, keeping its divisions' cursors; without it a second connection of a user and app is refused (Exact keeps one live refresh token per user and app)."`
}

func (c *authImportCmd) Run(e *env) error {
	token := c.RefreshToken
	if token == "-" {
		t, err := readAllTrim(e.stdin)
		if err != nil {
			return fmt.Errorf("reading the refresh token from standard input: %w", err)
		}
		token = t
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return usageError{errors.New("--refresh-token is empty; pass the token, or - to read it from standard input")}
	}
	if strings.Contains(token, "%21") || strings.Contains(token, "%2521") {
		// §1.10: a token copied from a URL is still percent-encoded.
		return usageError{errors.New("the refresh token contains %21: it is still URL-encoded; decode it first (%21 is !)")}
	}
	cfg, log, st, err := setup(e, config.Needs{Database: true, Credentials: true})
	if err != nil {
		return err
	}
	defer st.Close()
	if c.SkipExisting {
		conns, err := st.Connections(e.ctx)
		if err != nil {
			return err
		}
		for _, conn := range conns {
			// A used refresh token imported again would be refused (§1.9): the
			// connection's own chain is the live one.
			if conn.BaseURL == cfg.BaseURL && conn.ClientID == cfg.ClientID && conn.State != dest.StateReauthRequired {
				fmt.Fprintf(e.stdout, "connection %d (%s) already exists; kept it (--skip-existing)\n", conn.ID, host(conn.BaseURL))
				return nil
			}
		}
	}
	if err := sealingKey(e, cfg, st, log, true); err != nil {
		return err
	}
	conn, checked, err := importToken(e, cfg, st, token, c.NoCheck, c.Replace, log)
	if err != nil {
		return err
	}
	if cfg.Unencrypted {
		warnPlaintext(e, log, 1)
	}
	if !checked {
		fmt.Fprintf(e.stdout, "connection %d (%s) stored, unchecked: the first run proves the token (see exactsync auth status)\n", conn.ID, host(conn.BaseURL))
		return nil
	}
	fmt.Fprintf(e.stdout, "connection %d (%s, user %s) is ready\n", conn.ID, host(conn.BaseURL), conn.UserKey)
	printDivisions(e, st, conn.ID)
	return nil
}

// importToken stores a refresh token and, unless noCheck, proves it works, through the
// onboarding flow that auth login uses too (package onboard): the token and the app's
// client secret are stored under a pending connection, current/Me names the user (its
// refresh stores the rotated pair before use, docs/exact-online.md §6.1), and the token moves to
// that user's connection, keeping its cursors, if one exists and needs re-authorization or
// replace is set (a live one is otherwise refused, dest.ConnectedError). When Exact does not allow
// the refresh yet (§1.8: 570 s after the token's access token was issued), it says so and
// counts down to the time it does. Finally, unless EXACT_DIVISIONS names the divisions to
// sync, the divisions the user granted are listed and stored (a call that counts against
// a division's daily limit, §2.1). checked is false when noCheck kept the token unproven.
func importToken(e *env, cfg *config.Config, st *sink.Store, token string, noCheck, replace bool, log zerolog.Logger) (conn dest.Connection, checked bool, err error) {
	ocfg := onboardConfig(e, cfg, st, log)
	ocfg.Replace = replace
	ob, err := onboard.Begin(e.ctx, st, ocfg)
	if err != nil {
		return dest.Connection{}, false, err
	}
	defer ob.Abandon(e.ctx) // a token Exact never accepted leaves no row
	if err := ob.ImportRefreshToken(e.ctx, token); err != nil {
		return dest.Connection{}, false, err
	}
	if noCheck {
		return ob.Keep(), false, nil
	}
	var res onboard.Result
	for attempt := 1; ; attempt++ {
		res, err = ob.Finish(e.ctx)
		var early *exact.RefreshWaitError
		if !errors.As(err, &early) || attempt > 3 {
			break
		}
		if attempt == 1 {
			fmt.Fprintf(e.stderr, "Exact does not allow this refresh token to be used yet: a refresh token works 570 s after its access token was issued, and this one is newer.\n"+
				"Waiting %s; or press Ctrl-C and run exactsync auth import --no-check to store it now and let the first run prove it.\n",
				early.Wait.Round(time.Second))
		}
		if err := countdown(e, early.Wait); err != nil {
			return dest.Connection{}, false, err
		}
	}
	if err != nil {
		return dest.Connection{}, false, err
	}
	if len(cfg.Divisions) == 0 {
		if _, err := saveDivisions(e.ctx, st, res.Connection.ID, res.Client, cfg.Divisions, log); err != nil {
			log.Warn().Err(err).Int64("connection", res.Connection.ID).Msg("cannot list the divisions; sync lists them later")
		}
	}
	return res.Connection, true, nil
}

// onboardConfig is the onboarding of cfg's host and app, building each connection's
// client as every command does.
func onboardConfig(e *env, cfg *config.Config, st *sink.Store, log zerolog.Logger) onboard.Config {
	return onboard.Config{
		BaseURL:      cfg.BaseURL,
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		Client: func(ctx context.Context, conn dest.Connection) (*exact.Client, error) {
			// A person is waiting: a refresh Exact does not allow yet is explained
			// and counted down (importToken), not waited for in silence.
			c, err := newClientContext(ctx, cfg, st, conn, log, func(c *exact.Config) {
				c.NoRefreshWait = true
				c.Now, c.Sleep = e.now, e.sleep
			})
			if err != nil {
				return nil, usageError{err}
			}
			return c, nil
		},
		Logger: log,
	}
}
