package exacttest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// UpsertAccounts creates or replaces accounts in a division; each one takes the division's next
// Timestamp, so it appears in sync/CRM/Accounts again. An empty ID creates a new account; an
// empty Code gets one; zero Created and Modified become the current simulated time (Created is
// kept for an existing account).
func (s *Simulator) UpsertAccounts(division int, accounts ...Account) error {
	now := s.Now()
	s.dataMu.Lock()
	defer s.dataMu.Unlock()
	div := s.data[division]
	if div == nil {
		return fmt.Errorf("upserting accounts: unknown division %d", division)
	}
	t := div.tables[accountsEntity]
	var updated, created []string
	defer func() {
		s.changed(accountsEntity.name, division, "Update", updated)
		s.changed(accountsEntity.name, division, "Create", created)
	}()
	for _, a := range accounts {
		if a.ID != "" {
			id, err := canonicalGUID(a.ID)
			if err != nil {
				return fmt.Errorf("upserting accounts in division %d: %w", division, err)
			}
			a.ID = id
		}
		rec := recordFromAccount(a)
		var old record
		if a.ID != "" {
			old, _, _ = t.row(a.ID, accountsEntity.newRecord())
		}
		if _, _, hostile := hostileOf(accountsEntity, old); hostile {
			old = nil // replaced, not merged
		}
		if old != nil {
			copy(rec[accountFields:], old[accountFields:]) // the fields Account does not carry
			if a.Created.IsZero() {
				rec[accCreated] = old[accCreated]
			}
		}
		s.completeAccount(div, t, rec, now, a.Modified.IsZero())
		div.upsert(t, rec)
		if old != nil {
			updated = append(updated, rec[accID].s)
		} else {
			created = append(created, rec[accID].s)
		}
	}
	return nil
}

// completeAccount fills what the simulator owns: a new ID and Code, the division, Created and Modified.
func (s *Simulator) completeAccount(div *divisionData, t *table, rec record, now time.Time, touch bool) {
	if rec[accID].s == "" {
		rec[accID] = value{s: t.gen.guid(int(div.nextTS) + 1<<41)}
	}
	if strings.TrimSpace(rec[accCode].s) == "" {
		rec[accCode] = value{s: padInt(int(div.nextTS))}
	}
	rec[accCode].s = PadCode(rec[accCode].s)
	for _, f := range []int{accStatus, accType} {
		if rec[f].s == "" {
			rec[f] = value{s: "A"}
		}
	}
	rec[accDivision] = value{n: int64(div.code)}
	if rec[accCreated].null || rec[accCreated].n == 0 {
		rec[accCreated] = value{n: now.UnixMilli()}
	}
	if touch || rec[accModified].null || rec[accModified].n == 0 {
		rec[accModified] = value{n: now.UnixMilli()}
	}
}

// DeleteAccounts deletes accounts; each deletion takes the division's next Timestamp and appears
// in sync/Deleted with EntityType 2 (§3.12). Unknown IDs are an error; the others are still deleted.
func (s *Simulator) DeleteAccounts(division int, ids ...string) error {
	now := s.Now()
	s.dataMu.Lock()
	defer s.dataMu.Unlock()
	div := s.data[division]
	if div == nil {
		return fmt.Errorf("deleting accounts: unknown division %d", division)
	}
	var missing, deleted []string
	defer func() { s.changed(accountsEntity.name, division, "Delete", deleted) }()
	for _, id := range ids {
		cid, err := canonicalGUID(id)
		if err != nil || !div.remove(div.tables[accountsEntity], cid, now, s.userID) {
			missing = append(missing, id)
			continue
		}
		deleted = append(deleted, cid)
	}
	if len(missing) > 0 {
		return fmt.Errorf("deleting accounts in division %d: no such account: %s", division, strings.Join(missing, ", "))
	}
	return nil
}

// Accounts returns the current accounts of a division, ordered by ID; hostile accounts
// (UpsertRawAccounts) are not among them.
func (s *Simulator) Accounts(division int) []Account {
	s.dataMu.RLock()
	defer s.dataMu.RUnlock()
	div := s.data[division]
	if div == nil {
		return nil
	}
	t := div.tables[accountsEntity]
	out := make([]Account, 0, t.base+len(t.cur))
	t.scan(0, accountsEntity.newRecord(), func(_ int64, r record) bool {
		if _, _, hostile := hostileOf(accountsEntity, r); !hostile {
			out = append(out, accountFromRecord(r))
		}
		return true
	})
	slices.SortFunc(out, func(a, b Account) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Account returns one current account of a division.
func (s *Simulator) Account(division int, id string) (Account, bool) {
	cid, err := canonicalGUID(id)
	if err != nil {
		return Account{}, false
	}
	s.dataMu.RLock()
	defer s.dataMu.RUnlock()
	div := s.data[division]
	if div == nil {
		return Account{}, false
	}
	r, _, ok := div.tables[accountsEntity].row(cid, accountsEntity.newRecord())
	if _, _, hostile := hostileOf(accountsEntity, r); !ok || hostile {
		return Account{}, false
	}
	return accountFromRecord(r), true
}

// mergeAccount applies Exact-field JSON over an account (new or existing) for POST /_sim/accounts.
func (s *Simulator) mergeAccount(division int, fields map[string]json.RawMessage) error {
	now := s.Now()
	s.dataMu.Lock()
	defer s.dataMu.Unlock()
	div := s.data[division]
	if div == nil {
		return fmt.Errorf("unknown division %d", division)
	}
	key, err := s.mergeRecord(div, div.tables[accountsEntity], fields, now)
	if err == nil {
		s.changed(accountsEntity.name, division, "Update", []string{key})
	}
	return err
}

// rawRecords reads the members of "raw_upsert": a JSON object is taken byte for byte, a JSON
// string is the text of a record that is not valid JSON itself ("{\"Name\":[1 2 x]}").
func rawRecords(list []json.RawMessage) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, len(list))
	for i, m := range list {
		if len(m) > 0 && m[0] == '"' {
			var text string
			if err := json.Unmarshal(m, &text); err != nil {
				return nil, fmt.Errorf("raw_upsert %d: %w", i, err)
			}
			m = json.RawMessage(text)
		}
		out[i] = m
	}
	return out, nil
}

// serveControl serves the /_sim/ endpoints (JSON, no auth) for black-box tests and demos.
func (s *Simulator) serveControl(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, err error) {
		writeJSON(w, status, map[string]string{"error": err.Error()})
	}
	switch path := strings.TrimPrefix(r.URL.Path, "/_sim/"); {
	case path == "clock" && r.Method == http.MethodPost:
		var req struct {
			Advance string `json:"advance"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			fail(http.StatusBadRequest, fmt.Errorf("decoding clock request: %w", err))
			return
		}
		d, err := time.ParseDuration(req.Advance)
		if err != nil || d < 0 {
			fail(http.StatusBadRequest, fmt.Errorf("advance %q: want a non-negative Go duration like \"9m30s\"", req.Advance))
			return
		}
		s.Advance(d)
		fallthrough
	case path == "clock" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]string{"now": s.Now().Format(time.RFC3339Nano)})
	case path == "accounts" && r.Method == http.MethodPost:
		var req struct {
			Division  int                          `json:"division"`
			Upsert    []map[string]json.RawMessage `json:"upsert"`
			RawUpsert []json.RawMessage            `json:"raw_upsert"`
			Delete    []string                     `json:"delete"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			fail(http.StatusBadRequest, fmt.Errorf("decoding accounts request: %w", err))
			return
		}
		for i, fields := range req.Upsert {
			if err := s.mergeAccount(req.Division, fields); err != nil {
				fail(http.StatusBadRequest, fmt.Errorf("upsert %d in division %d: %w", i, req.Division, err))
				return
			}
		}
		raws, err := rawRecords(req.RawUpsert)
		if err == nil {
			err = s.UpsertRawAccounts(req.Division, raws...)
		}
		if err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		if err := s.DeleteAccounts(req.Division, req.Delete...); err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{"upserted": len(req.Upsert), "raw_upserted": len(req.RawUpsert), "deleted": len(req.Delete)})
	case path == "accounts" && r.Method == http.MethodGet:
		div, err := strconv.Atoi(r.URL.Query().Get("division"))
		if err != nil {
			fail(http.StatusBadRequest, fmt.Errorf("division: want a division code"))
			return
		}
		if r.URL.Query().Get("hostile") != "" {
			hostile := s.HostileAccounts(div)
			if hostile == nil {
				fail(http.StatusNotFound, fmt.Errorf("unknown division %d", div))
				return
			}
			writeJSON(w, http.StatusOK, hostile)
			return
		}
		accounts := s.Accounts(div)
		if accounts == nil {
			fail(http.StatusNotFound, fmt.Errorf("unknown division %d", div))
			return
		}
		writeJSON(w, http.StatusOK, accounts)
	case path == "records" && r.Method == http.MethodPost:
		var req struct {
			Entity   string                       `json:"entity"`
			Division int                          `json:"division"`
			Upsert   []map[string]json.RawMessage `json:"upsert"`
			Delete   []string                     `json:"delete"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			fail(http.StatusBadRequest, fmt.Errorf("decoding records request: %w", err))
			return
		}
		recs := make([]map[string]any, len(req.Upsert))
		for i, fields := range req.Upsert {
			recs[i] = make(map[string]any, len(fields))
			for name, raw := range fields {
				recs[i][name] = raw
			}
		}
		keys, err := s.UpsertRecords(req.Entity, req.Division, recs...)
		if err == nil {
			err = s.DeleteRecords(req.Entity, req.Division, req.Delete...)
		}
		if err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"upserted": len(keys), "keys": keys, "deleted": len(req.Delete)})
	case path == "records" && r.Method == http.MethodGet:
		q := r.URL.Query()
		div, err := strconv.Atoi(q.Get("division"))
		if err != nil {
			fail(http.StatusBadRequest, fmt.Errorf("division: want a division code"))
			return
		}
		if _, err := lookupEntity(q.Get("entity")); err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		recs, err := s.Records(q.Get("entity"), div)
		if err != nil {
			fail(http.StatusNotFound, err)
			return
		}
		if recs == nil {
			recs = []json.RawMessage{}
		}
		writeJSON(w, http.StatusOK, recs)
	case path == "drift" && r.Method == http.MethodPost:
		var req struct {
			Entity         string                       `json:"entity"`
			Division       int                          `json:"division"`
			DeleteUnlogged []string                     `json:"delete_unlogged"`
			SilentChanges  []map[string]json.RawMessage `json:"silent_changes"`
			Hidden         []map[string]json.RawMessage `json:"hidden"`
			Hide           []string                     `json:"hide"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			fail(http.StatusBadRequest, fmt.Errorf("decoding drift request: %w", err))
			return
		}
		anys := func(list []map[string]json.RawMessage) []map[string]any {
			out := make([]map[string]any, len(list))
			for i, fields := range list {
				out[i] = make(map[string]any, len(fields))
				for name, raw := range fields {
					out[i][name] = raw
				}
			}
			return out
		}
		keys, err := s.PlantDrift(req.Entity, req.Division, Drift{DeleteUnlogged: req.DeleteUnlogged,
			SilentChanges: anys(req.SilentChanges), Hidden: anys(req.Hidden), Hide: req.Hide})
		if err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"deleted_unlogged": len(req.DeleteUnlogged),
			"silent_changes": len(req.SilentChanges), "hidden_keys": keys, "hidden": len(req.Hide) + len(keys)})
	case path == "stats" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.Stats())
	case path == "faults" && r.Method == http.MethodPost:
		var req struct {
			ErrorRate     float64 `json:"error_rate"`
			Latency       string  `json:"latency"`
			TruncateRate  float64 `json:"truncate_rate"`
			MalformedNext int     `json:"malformed_next"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			fail(http.StatusBadRequest, fmt.Errorf("decoding faults request: %w", err))
			return
		}
		var lat time.Duration
		if req.Latency != "" {
			var err error
			if lat, err = time.ParseDuration(req.Latency); err != nil {
				fail(http.StatusBadRequest, fmt.Errorf("latency: %w", err))
				return
			}
		}
		s.SetFaults(Faults{ErrorRate: req.ErrorRate, Latency: lat, TruncateRate: req.TruncateRate, MalformedNext: req.MalformedNext})
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	case path == "revoke" && r.Method == http.MethodPost:
		var req struct {
			Division int `json:"division"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			fail(http.StatusBadRequest, fmt.Errorf("decoding revoke request: %w", err))
			return
		}
		s.RevokeDivision(req.Division)
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	case path == "divisions/move" && r.Method == http.MethodPost:
		var req struct {
			Division int `json:"division"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			fail(http.StatusBadRequest, fmt.Errorf("decoding move request: %w", err))
			return
		}
		at, err := s.MoveDivision(req.Division)
		if err != nil {
			fail(http.StatusNotFound, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"division": req.Division, "division_move_date": at.Format(time.RFC3339Nano)})
	case path == "licence" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.LicenceUsage())
	case path == "licence" && r.Method == http.MethodPost:
		// Settings given replace the licence's (the others stay); "spend" spends calls of
		// today as another app, in "division" (default the first) when the cap is per division.
		var req struct {
			DailyLimit    *int  `json:"daily_limit"`
			PerDivision   *bool `json:"per_division"`
			OtherAppCalls *int  `json:"other_app_calls"`
			Spend         int   `json:"spend"`
			Division      int   `json:"division"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			fail(http.StatusBadRequest, fmt.Errorf("decoding licence request: %w", err))
			return
		}
		l := s.LicenceUsage().Licence
		if req.DailyLimit != nil {
			l.DailyLimit = *req.DailyLimit
		}
		if req.PerDivision != nil {
			l.PerDivision = *req.PerDivision
		}
		if req.OtherAppCalls != nil {
			l.OtherAppCalls = *req.OtherAppCalls
		}
		if l.DailyLimit < 0 || l.OtherAppCalls < 0 {
			fail(http.StatusBadRequest, fmt.Errorf("daily_limit %d, other_app_calls %d: want 0 or more", l.DailyLimit, l.OtherAppCalls))
			return
		}
		s.SetLicence(l)
		if req.Spend != 0 {
			if err := s.SpendLicence(cmp.Or(req.Division, s.opts.Divisions[0]), req.Spend); err != nil {
				fail(http.StatusBadRequest, err)
				return
			}
		}
		writeJSON(w, http.StatusOK, s.LicenceUsage())
	case path == "refresh-token" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]string{"refresh_token": s.RefreshToken()})
	default:
		fail(http.StatusNotFound, fmt.Errorf("no control endpoint %s %s", r.Method, r.URL.Path))
	}
}
