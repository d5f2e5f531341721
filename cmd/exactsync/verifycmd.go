package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sync"
	"github.com/exactsync/exactsync/verify"
)

type verifyCmd struct {
	Entity     string `help:"Only this entity (default: every enabled entity): ${entities}."`
	Division   *int   `help:"Only this division (default: EXACT_DIVISIONS, or every division each connection can see)."`
	Connection int64  `help:"Only this connection (see auth status; default: every connection)."`
	Repair     bool   `help:"Repair what differs (rows Exact no longer has removed by comparing the IDs; a re-read since the last clean verification, else a full pass; rows still missing read by key from the bulk endpoint), then verify again."`
}

// Run compares the copy with Exact (package verify), prints the differences per entity
// and group, and exits 1 when drift remains.
func (c *verifyCmd) Run(e *env) error {
	division := 0
	if c.Division != nil {
		if division = *c.Division; division <= 0 {
			return usageError{fmt.Errorf("--division %d is not a division code; use a positive number such as 101, or leave --division out to verify every division", division)}
		}
	}
	if c.Connection < 0 {
		return usageError{fmt.Errorf("--connection %d is not a connection id; see exactsync auth status", c.Connection)}
	}
	if c.Entity != "" {
		if _, err := sync.Lookup(c.Entity); err != nil {
			return usageError{err}
		}
	}
	cfg, log, st, err := setup(e, config.Needs{Database: true})
	if err != nil {
		return err
	}
	defer st.Close()
	names := cfg.Entities
	if c.Entity != "" {
		names = []string{c.Entity}
	}
	conns, err := connections(e.ctx, cfg, st)
	if err != nil {
		return err
	}
	if conns, err = onlyConnection(conns, c.Connection); err != nil {
		return err
	}
	var only []int
	if division != 0 {
		only = []int{division}
	}
	enabled := cfg.Entities
	for _, n := range names {
		if !slices.Contains(enabled, n) {
			enabled = append(slices.Clone(enabled), n)
		}
	}
	runner := sync.NewRunner(sync.Config{Logger: log, WaitForLock: true, Enabled: enabled, OmitRaw: cfg.OmitRaw, RawExtra: cfg.RawExtra, ProgressEvery: -1}, st, st, st)
	var errs []error
	drift, divs := 0, 0
	var unverified []string
	for _, conn := range conns {
		if conn.State == dest.StateReauthRequired {
			errs = append(errs, errors.New(reauthMessage(conn)))
			continue
		}
		client, err := newClientContext(e.ctx, cfg, st, conn, log)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ds, err := connectionDivisions(e.ctx, cfg, st, conn, client, only, log)
		if err != nil {
			errs = append(errs, fmt.Errorf("connection %d (%s): %w", conn.ID, host(conn.BaseURL), err))
			continue
		}
		v := verify.New(verify.Options{Logger: log, ConnectionID: conn.ID, Repair: c.Repair,
			LastClean: func(ctx context.Context, division int, entity string) (time.Time, error) {
				return st.LastClean(ctx, conn.ID, division, entity)
			}}, client, st, verify.RunnerSyncer{Runner: runner, Source: client, ConnectionID: conn.ID})
		for _, d := range ds {
			divs++
			res, err := v.Division(e.ctx, d, names)
			fmt.Fprintf(e.stdout, "division %d (connection %d):\n", d, conn.ID)
			drift += printVerifications(e.stdout, res)
			for _, r := range res {
				if r.Status == dest.VerifySkipped || r.Status == dest.VerifyNoCount {
					unverified = append(unverified, fmt.Sprintf("%s of %d (%s)", r.Entity, d, r.Status))
				}
			}
			if err != nil {
				if errors.Is(err, exact.ErrReauthRequired) {
					err = fmt.Errorf("connection %d: %w", conn.ID, err)
				}
				errs = append(errs, fmt.Errorf("verifying division %d: %w", d, err))
				if errors.Is(err, exact.ErrReauthRequired) || e.ctx.Err() != nil {
					break
				}
			}
		}
	}
	if divs == 0 && len(errs) == 0 {
		return usageError{errors.New("no connection has access to the divisions to verify; see exactsync auth status")}
	}
	if err := joinOneLine(errs); err != nil {
		return err
	}
	if drift > 0 {
		fmt.Fprintf(e.stdout, "drift: %d entities differ from Exact after a fresh sync", drift)
		if !c.Repair {
			fmt.Fprint(e.stdout, "; exactsync verify --repair repairs them")
		}
		fmt.Fprintln(e.stdout)
		return exitCodeError{code: exitError}
	}
	if len(unverified) > 0 {
		fmt.Fprintf(e.stdout, "clean: %d divisions agree with Exact, but not verified: %s\n", divs, strings.Join(unverified, ", "))
		return nil
	}
	fmt.Fprintf(e.stdout, "clean: %d divisions agree with Exact\n", divs)
	return nil
}

// printVerifications prints one division's results, the differences under each entity,
// and returns how many entities end in drift (the last result of each).
func printVerifications(w io.Writer, res []dest.Verification) int {
	drift := 0
	for i, r := range res {
		counts := "no count"
		if r.ExactCount >= 0 {
			counts = fmt.Sprintf("Exact %d, copy %d", r.ExactCount, r.LocalCount)
		}
		var extra []string
		if r.Groups > 0 {
			extra = append(extra, fmt.Sprintf("%d ledger groups", r.Groups))
		}
		if r.Resynced {
			extra = append(extra, "compared again after a sync")
		}
		if r.Note != "" {
			extra = append(extra, r.Note)
		}
		tail := ""
		if len(extra) > 0 {
			tail = " (" + strings.Join(extra, "; ") + ")"
		}
		fmt.Fprintf(w, "  %-20s %-8s %s%s\n", r.Entity, r.Status, counts, tail)
		for _, d := range r.Differences {
			fmt.Fprintf(w, "    %s\n", differenceLine(d))
		}
		if r.Repair != "" {
			fmt.Fprintf(w, "    repaired: %s; verifying again\n", r.Repair)
		}
		last := i == len(res)-1 || res[i+1].Entity != r.Entity
		if last && r.Status == dest.VerifyDrift {
			drift++
		}
	}
	return drift
}

// differenceLine says one difference: Exact's side, the copy's, and by how much.
func differenceLine(d dest.Difference) string {
	if d.Kind == "count" {
		return fmt.Sprintf("count: Exact %d, copy %d (copy %+d)", d.Exact, d.Local, d.Local-d.Exact)
	}
	k := d.LedgerKey
	group := fmt.Sprintf("year %d period %d G/L account %s cost centre %q cost unit %q type %d status %d",
		k.Year, k.Period, k.GLAccount, k.CostCenter, k.CostUnit, k.Type, k.Status)
	switch {
	case d.LocalCount == 0 && d.LocalAmount == "0":
		group += ": only in Exact"
	case d.ExactCount == 0 && d.ExactAmount == "0":
		group += ": only in the copy"
	}
	return fmt.Sprintf("ledger %s: lines Exact %d, copy %d (copy %+d); amount Exact %s, copy %s", group,
		d.ExactCount, d.LocalCount, d.LocalCount-d.ExactCount, d.ExactAmount, d.LocalAmount)
}

// scheduledVerify is the work of run's verification jobs: every enabled entity of the
// division, verified and repaired (exactsync verify --repair), each result told to the
// metrics.
func scheduledVerify(cfg *config.Config, st *sink.Store, runner *sync.Runner, log zerolog.Logger, obs verifyObserver) func(context.Context, *exact.Client, dest.Connection, int) error {
	return func(ctx context.Context, client *exact.Client, conn dest.Connection, division int) error {
		v := verify.New(verify.Options{Logger: log, ConnectionID: conn.ID, Repair: true,
			LastClean: func(ctx context.Context, division int, entity string) (time.Time, error) {
				return st.LastClean(ctx, conn.ID, division, entity)
			}}, client, st, verify.RunnerSyncer{Runner: runner, Source: client, ConnectionID: conn.ID})
		res, err := v.Division(ctx, division, cfg.Entities)
		if obs != nil {
			for _, r := range res {
				obs.Verified(r)
			}
		}
		return err
	}
}

// verifyObserver is told each verification's result (the metrics).
type verifyObserver interface {
	Verified(dest.Verification)
}
