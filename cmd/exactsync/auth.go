package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/sink"
)

// importToken stores a refresh token and proves it works: the token is
// stored first, under a connection whose user is not known yet; the first
// refresh stores the rotated pair before it is used (fact sheet §6.1);
// current/Me then names the user, and the token moves to that user's
// connection (keeping its cursors) if one exists.
func importToken(e *env, cfg *config.Config, st *sink.Store, token string, log zerolog.Logger) (sink.Connection, error) {
	pending, err := st.UpsertConnection(e.ctx, cfg.BaseURL, cfg.ClientID, "")
	if err != nil {
		return sink.Connection{}, fmt.Errorf("storing the connection: %w", err)
	}
	if err := st.ImportRefreshToken(e.ctx, pending.ID, token); err != nil {
		return sink.Connection{}, fmt.Errorf("storing the refresh token: %w", err)
	}
	client, err := newClient(cfg, st, pending, log)
	if err != nil {
		return sink.Connection{}, usageError{err}
	}
	me, err := client.Me(e.ctx)
	if err != nil {
		// Nothing half-written: a token Exact never accepted leaves no row.
		if _, derr := st.DeletePendingConnection(context.WithoutCancel(e.ctx), pending.ID); derr != nil {
			log.Warn().Err(derr).Msg("cannot remove the pending connection")
		}
		return sink.Connection{}, fmt.Errorf("checking the refresh token with Exact Online: %w", err)
	}
	conn, err := st.ClaimConnectionUser(e.ctx, pending.ID, me.UserID)
	if err != nil {
		return sink.Connection{}, fmt.Errorf("storing the connection's user: %w", err)
	}
	return conn, nil
}

type authStatusCmd struct{}

func (authStatusCmd) Run(e *env) error {
	cfg, err := loadConfig(e, config.Needs{Database: true})
	if err != nil {
		return err
	}
	log := newLogger(cfg, e.stderr)
	st, err := openStore(e.ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	conns, err := st.Connections(e.ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tHOST\tCLIENT\tUSER\tSTATE\tACCESS TOKEN EXPIRES")
	for _, c := range conns {
		tok, err := st.LoadToken(e.ctx, c.ID)
		if err != nil {
			return err
		}
		exp := "-"
		if !tok.Expiry.IsZero() {
			exp = tok.Expiry.UTC().Format(time.RFC3339)
		}
		state := c.State
		if c.StateReason != "" && c.State != "ok" {
			state += " (" + c.StateReason + ")"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", c.ID, host(c.BaseURL), c.ClientID, c.UserKey, state, exp)
	}
	return tw.Flush()
}
