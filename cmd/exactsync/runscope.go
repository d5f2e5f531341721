package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/sink"
)

// checkRunDivisions holds run to what sync holds a command to: an EXACT_DIVISIONS of
// which no division is granted to any connection is refused (nothing would be synced),
// and the divisions in it that no connection grants are named in a warning. A
// connection whose division list is not stored yet has it read from Exact first; when
// Exact cannot tell, the check is left to the schedules, which sync what is granted.
func checkRunDivisions(ctx context.Context, cfg *config.Config, st *sink.Store, newClient func(context.Context, dest.Connection) (*exact.Client, error), log zerolog.Logger) error {
	if len(cfg.Divisions) == 0 {
		return nil
	}
	conns, err := st.Connections(ctx)
	if err != nil {
		return fmt.Errorf("reading connections: %w", err)
	}
	granted := map[int]bool{}
	var lists []string // "connection 1: 101, 102"
	for _, c := range conns {
		if c.State == dest.StateReauthRequired {
			continue
		}
		ds, err := st.Divisions(ctx, c.ID)
		if err != nil {
			return err
		}
		if len(ds) == 0 {
			client, cerr := newClient(ctx, c)
			if cerr == nil {
				ds, cerr = saveDivisions(ctx, st, c.ID, client, cfg.Divisions, log)
			}
			if cerr != nil {
				if sink.Unavailable(cerr) || ctx.Err() != nil {
					return cerr
				}
				log.Warn().Err(cerr).Int64("connection", c.ID).
					Msg("cannot list the connection's divisions to check " + config.EnvDivisions + "; the schedules sync those it grants")
				continue
			}
		}
		codes := make([]string, len(ds))
		for i, d := range ds {
			granted[d.Code] = true
			codes[i] = fmt.Sprint(d.Code)
		}
		lists = append(lists, fmt.Sprintf("connection %d: %s", c.ID, strings.Join(codes, ", ")))
	}
	if len(lists) == 0 {
		return nil // nothing known to check against
	}
	var missing []int
	for _, d := range cfg.Divisions {
		if !granted[d] {
			missing = append(missing, d)
		}
	}
	switch {
	case len(missing) == len(cfg.Divisions):
		return usageError{fmt.Errorf("%s names %s, which no connection grants (%s); set it to granted divisions, or leave it unset to sync every granted division",
			config.EnvDivisions, joinInts(missing), strings.Join(lists, "; "))}
	case len(missing) > 0:
		log.Warn().Ints("divisions", missing).Str("granted", strings.Join(lists, "; ")).
			Msg(config.EnvDivisions + " names divisions no connection grants; they are not synced")
	}
	return nil
}

func joinInts(vs []int) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ", ")
}
