package exacttest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Drift is what PlantDrift plants in a division: the ways a copy read through the sync
// endpoints and sync/Deleted (§3.10, §3.12) comes to differ from Exact, as §3.16 lists them, for
// a reconciliation to find. None of it is delivered to webhooks: each is a change the client
// is never told about.
type Drift struct {
	// DeleteUnlogged are keys of records to delete with a deletion dated before the deletion
	// log's retention (§3.12, Options.DeletedRetention): the record is gone from every
	// endpoint, and sync/Deleted never serves its deletion, as when a client pauses longer
	// than Exact keeps the log.
	DeleteUnlogged []string
	// SilentChanges are merged over existing records as UpsertRecords merges (the key is
	// required), but the records keep their Timestamp, and their Modified unless given: every
	// endpoint serves the new values, yet an incremental sync (Timestamp gt the cursor) never
	// serves them again. A later ordinary change gives the record a new Timestamp as usual.
	SilentChanges []map[string]any
	// Hidden are created or changed as UpsertRecords does them, and are then never served by
	// the sync endpoint, while the regular and bulk endpoints, /$count, $inlinecount and
	// financial/ReportingBalance include them: a record Exact counts that a sync never brings.
	// A record stays hidden until it is changed or deleted through UpsertRecords or
	// DeleteRecords.
	Hidden []map[string]any
	// Hide are keys of existing records to hide from the sync endpoint, as Hidden does.
	Hide []string
}

// PlantDrift plants d in division's records of entity (the catalogue's name, see Entities)
// and returns the keys of d.Hidden, in order. The parts are applied in the order of Drift's
// fields; what came before a failing part stays planted.
func (s *Simulator) PlantDrift(entity string, division int, d Drift) ([]string, error) {
	e, err := lookupEntity(entity)
	if err != nil {
		return nil, fmt.Errorf("planting drift: %w", err)
	}
	if e == divisionsEntity {
		return nil, errors.New("planting drift: divisions are the connection's divisions")
	}
	toRaw := func(recs []map[string]any) ([]map[string]json.RawMessage, error) {
		out := make([]map[string]json.RawMessage, len(recs))
		for i, rec := range recs {
			out[i] = make(map[string]json.RawMessage, len(rec))
			for name, v := range rec {
				raw, err := rawOf(v)
				if err != nil {
					return nil, fmt.Errorf("record %d: field %s: %w", i, name, err)
				}
				out[i][name] = raw
			}
		}
		return out, nil
	}
	silent, err := toRaw(d.SilentChanges)
	if err != nil {
		return nil, fmt.Errorf("planting drift in %s of division %d: silent change %w", entity, division, err)
	}
	hidden, err := toRaw(d.Hidden)
	if err != nil {
		return nil, fmt.Errorf("planting drift in %s of division %d: hidden %w", entity, division, err)
	}
	now := s.Now()
	s.dataMu.Lock()
	defer s.dataMu.Unlock()
	div := s.data[division]
	if div == nil {
		return nil, fmt.Errorf("planting drift in %s: unknown division %d", entity, division)
	}
	t := div.tables[e]
	fail := func(what string, err error) ([]string, error) {
		return nil, fmt.Errorf("planting drift in %s of division %d: %s: %w", entity, division, what, err)
	}
	// A deletion older than the log: dated a day past the retention, so that sync/Deleted
	// has already dropped it (§3.12).
	var missing []string
	for _, key := range d.DeleteUnlogged {
		id, err := canonicalGUID(key)
		if err != nil || !div.remove(t, id, now.Add(-div.retention-24*time.Hour), s.userID) {
			missing = append(missing, key)
		}
	}
	if len(missing) > 0 {
		return fail("deleting unlogged", fmt.Errorf("no such record: %s", strings.Join(missing, ", ")))
	}
	for i, fields := range silent {
		if err := s.changeSilently(div, t, fields, now); err != nil {
			return fail(fmt.Sprintf("silent change %d", i), err)
		}
	}
	keys := make([]string, 0, len(hidden))
	for i, fields := range hidden {
		key, err := s.mergeRecord(div, t, fields, now)
		if err != nil {
			return fail(fmt.Sprintf("hidden record %d", i), err)
		}
		t.hide(key)
		keys = append(keys, key)
	}
	for _, key := range d.Hide {
		id, err := canonicalGUID(key)
		if err == nil {
			_, _, ok := t.row(id, e.newRecord())
			if !ok {
				err = errors.New("no such record")
			}
		}
		if err != nil {
			return fail("hiding "+key, err)
		}
		t.hide(id)
	}
	return keys, nil
}

func (t *table) hide(id string) {
	if t.hidden == nil {
		t.hidden = map[string]bool{}
	}
	t.hidden[id] = true
}

// changeSilently merges fields over an existing record of t and keeps its Timestamp.
func (s *Simulator) changeSilently(div *divisionData, t *table, fields map[string]json.RawMessage, now time.Time) error {
	e := t.ent
	raw, ok := fields[e.fields[e.idField].name]
	if !ok {
		return fmt.Errorf("the key %s is required", e.fields[e.idField].name)
	}
	key, err := decodeValue(edmGuid, raw)
	if err != nil {
		return fmt.Errorf("field %s: %w", e.fields[e.idField].name, err)
	}
	if _, _, ok := t.row(key.s, e.newRecord()); !ok {
		return fmt.Errorf("no such record: %s", key.s)
	}
	rec, err := s.mergedRecord(div, t, fields, now, true)
	if err != nil {
		return err
	}
	div.version++
	if cur, ok := t.cur[key.s]; ok {
		if e.tsField >= 0 {
			rec[e.tsField] = value{n: cur.ts}
		}
		cur.rec = rec
		return nil
	}
	i := t.gen.index(key.s, t.base)
	if t.silent == nil {
		t.silent = map[int]record{}
	}
	t.silent[i] = rec
	return nil
}
