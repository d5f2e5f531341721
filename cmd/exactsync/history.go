package main

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sync"
)

// applyHistory turns on the history of the tables of the entities EXACTSYNC_HISTORY
// names (the rows of each new one its first versions) and, with off (run's start), turns off the
// others' history, keeping their tables. `exactsync sync` turns nothing off: a one-off
// sync from a shell without the variable must not stop the history the service keeps.
func applyHistory(ctx context.Context, cfg *config.Config, st *sink.Store, off bool, log zerolog.Logger) error {
	tables := make([]dest.Table, 0, len(cfg.History))
	for _, name := range cfg.History {
		e, err := sync.Lookup(name)
		if err != nil {
			return fmt.Errorf("%s: %w", config.EnvHistory, err)
		}
		tables = append(tables, e.Target())
	}
	if len(tables) == 0 && !off {
		return nil
	}
	set := st.AddHistory
	if off {
		set = st.SetHistory
	}
	ch, err := set(ctx, tables)
	if err != nil {
		return err
	}
	for i, t := range ch.On {
		log.Info().Str("table", "exact_history."+t).Int64("seeded", ch.Seeded[i]).Msg("history turned on: every version of the table's rows is kept from now on")
	}
	for _, t := range ch.Off {
		log.Info().Str("table", "exact_history."+t).Msg("history turned off (EXACTSYNC_HISTORY no longer names it): the versions are kept, no version is added")
	}
	return nil
}
