package sync

import (
	"context"
	"fmt"
	"strings"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
)

// Written counts what [Runner.WriteRecords] wrote.
type Written struct {
	Upserted    int // rows inserted or changed
	Quarantined int // records quarantined
}

// KeyedSelect is the $select list for reading entity's records by key from its bulk or
// regular endpoint: [Entity.Select] without Timestamp, which only the sync endpoints
// serve (§3.10, §3.13).
func KeyedSelect(entity string) (string, error) {
	e, ok := lookup(entity)
	if !ok {
		_, err := Lookup(entity)
		return "", err
	}
	var out []string
	for f := range strings.SplitSeq(e.Select(), ",") {
		if f != "Timestamp" {
			out = append(out, f)
		}
	}
	return strings.Join(out, ","), nil
}

// WriteRecords writes records of entity of a division that an endpoint without Timestamp
// served (its bulk or regular endpoint, read by key: the repair of records the sync
// endpoint never serves, package verify). They are converted as a run converts them and
// written at version 0, the lowest, so that any version the sync endpoint serves later
// replaces them, and a row already stored is left as it is. A record that cannot be
// converted, or that PostgreSQL refuses, is quarantined (dest.Reject) under entity. It
// writes under the division's lock and leaves the entity's cursor alone; a record that does
// not belong to the entity (its Keep) is left out.
func (r *Runner) WriteRecords(ctx context.Context, connID int64, division int, entity string, recs []exact.Record) (Written, error) {
	e, ok := lookup(entity)
	if !ok {
		_, err := Lookup(entity)
		return Written{}, err
	}
	if len(recs) == 0 {
		return Written{}, nil
	}
	lock, ok, err := r.locker.LockDivision(ctx, connID, division, true)
	if err != nil {
		return Written{}, fmt.Errorf("locking division %d of connection %d: %w", division, connID, err)
	}
	if !ok {
		return Written{}, fmt.Errorf("division %d of connection %d: %w", division, connID, ErrBusy)
	}
	defer lock.Unlock()

	// Read as an entity without Timestamp; the version is then set to 0.
	byKey := e.clone()
	byKey.Read = ReadModified
	t := e.Target()
	m := &member{e: e, name: e.Name, table: t, same: -1}
	s := &stream{r: r, job: Job{ConnectionID: connID, Division: division, Entity: entity}, log: r.cfg.Logger, members: []*member{m}}
	b := dest.Batch{Table: t, ConnectionID: connID, Division: division, Entity: entity, NoCursor: true, Fence: lock.Fence}
	quarantined, err := r.writer.Quarantined(ctx, connID, division, entity)
	if err != nil {
		return Written{}, err
	}
	inQuarantine := make(map[string]bool, len(quarantined))
	for _, ref := range quarantined {
		inQuarantine[ref] = true
	}
	for i, rec := range recs {
		vals := make([]any, len(t.Columns))
		key, _, _, err := byKey.row(division, rec, nil, vals)
		if err == nil {
			err = rec.Err()
		}
		var keep bool
		if err == nil {
			keep, err = e.keep(rec)
		}
		if err != nil {
			b.Rejects = append(b.Rejects, dest.Reject{Key: key, Reason: fmt.Sprintf("%s read by key, record %d: %v", e.Name, i, err), Record: rec.Bytes()})
			continue
		}
		if !keep {
			continue
		}
		vals[len(vals)-2] = int64(0)
		if r.cfg.OmitRaw {
			vals[len(vals)-1] = omittedRaw
		} else if r.cfg.RawExtra {
			vals[len(vals)-1] = byKey.rawExtra(rec, nil, vals)
		}
		b.Rows = append(b.Rows, vals)
		if inQuarantine[key] {
			b.Released = append(b.Released, dest.Release{Ref: key})
		}
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.WriteTimeout)
	defer cancel()
	out, rejects, err := s.store(wctx, m, b, dest.Cursor{})
	if err != nil {
		return Written{}, fmt.Errorf("storing %d records of %s read by key in division %d: %w", len(recs), e.Name, division, err)
	}
	return Written{Upserted: out.Upserted, Quarantined: len(rejects)}, nil
}
