package main

import (
	"context"
	"fmt"
	"net/url"
	"slices"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/internal/divisions"
	"github.com/exactsync/exactsync/sink"
	"github.com/rs/zerolog"
)

// connections returns every stored connection: each has its own host, app
// and user, and all are synced side by side.
func connections(ctx context.Context, cfg *config.Config, st *sink.Store) ([]dest.Connection, error) {
	all, err := st.Connections(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading connections: %w", err)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("no Exact Online connection is stored: run `exactsync auth login` or `exactsync auth import --refresh-token TOKEN` first")
	}
	return all, nil
}

// reauthMessage is the one line printed for a broken token chain.
func reauthMessage(c dest.Connection) string {
	return fmt.Sprintf("connection %d (%s) needs re-authorization: %s; run `exactsync auth login` (or `exactsync auth import --refresh-token TOKEN` with a new refresh token), or remove it with `exactsync auth remove --connection %d`",
		c.ID, host(c.BaseURL), c.StateReason, c.ID)
}

// saveDivisions lists and stores the divisions of a connection (see divisions.Save).
func saveDivisions(ctx context.Context, st *sink.Store, connID int64, client *exact.Client, also []int, log zerolog.Logger) ([]dest.Division, error) {
	return divisions.Save(ctx, st, connID, client, also, log)
}

// connectionDivisions returns the divisions of a connection to sync, among
// those in only (or EXACT_DIVISIONS when only is empty; both empty: all).
// Without a filter it lists the divisions afresh and stores the list. With
// one it calls nothing but the sync endpoints: it keeps the filtered
// divisions the stored list holds, or, when none was ever stored, trusts the
// filter (a division the connection cannot see then fails on its own, §6.9).
func connectionDivisions(ctx context.Context, cfg *config.Config, st *sink.Store, conn dest.Connection, client *exact.Client, only []int, log zerolog.Logger) ([]int, error) {
	filter := only
	if len(filter) == 0 {
		filter = cfg.Divisions
	}
	if len(filter) == 0 {
		ds, err := saveDivisions(ctx, st, conn.ID, client, cfg.Divisions, log)
		if err != nil {
			return nil, err
		}
		return divisions.Codes(ds), nil
	}
	if _, err := divisions.PrimeRateLimits(ctx, st, conn.ID, client); err != nil {
		return nil, err
	}
	known, err := st.Divisions(ctx, conn.ID)
	if err != nil {
		return nil, err
	}
	if len(known) == 0 {
		return filter, nil
	}
	return divisions.Filter(divisions.Codes(known), filter), nil
}

func host(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Host
}

// onlyConnection narrows conns to the one of --connection id (0: all of them); an id that is
// not stored is a usage error naming where to look.
func onlyConnection(conns []dest.Connection, id int64) ([]dest.Connection, error) {
	if id == 0 {
		return conns, nil
	}
	i := slices.IndexFunc(conns, func(x dest.Connection) bool { return x.ID == id })
	if i < 0 {
		return nil, usageError{fmt.Errorf("--connection %d: no such connection; see exactsync auth status", id)}
	}
	return conns[i : i+1], nil
}
