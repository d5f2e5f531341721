package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/catalogue"
	"github.com/exactsync/exactsync/exact/exacttest"
)

// TestEveryCatalogueEntity syncs every entity of the catalogue from the simulator into
// PostgreSQL and compares every table row for row, column for column, with the
// simulator's truth; then changes and deletes records of several entities and compares
// again (the deletions of sync entities come through the division's one sync/Deleted
// stream, routed by EntityType).
func TestEveryCatalogueEntity(t *testing.T) {
	if testing.Short() {
		t.Skip("syncs every entity with the real binary")
	}
	t.Parallel()
	divs := []int{101, 102}
	// 70 records: regular endpoints serve 60 a page, so each reference entity has two.
	w := newWorld(t, exacttest.Options{Divisions: divs, Accounts: 120, Records: map[string]int{"*": 70, "transaction_lines": 1200}})
	w.env["EXACTSYNC_ENTITIES"] = "all"
	w.plain = true // a hundred syncs in a row: about data, not concurrency (see plainBinary)
	w.importToken()
	var names []string
	for _, e := range catalogue.All() {
		if !e.Deprecated {
			names = append(names, e.Name)
		}
	}
	syncAll := func(full map[string]bool) {
		t.Helper()
		for _, name := range names {
			args := []string{"sync", "--entity", name}
			if full[name] {
				args = append(args, "--full")
			}
			w.mustRun(args...)
		}
	}
	syncAll(nil)
	for _, name := range names {
		w.compareEntity(name, divs)
	}
	if t.Failed() {
		return
	}

	// Changes and deletions in entities of every kind of read.
	ctx := context.Background()
	changed := map[string]bool{}
	for _, c := range []struct {
		entity string
		change map[string]any
	}{
		{"transaction_lines", map[string]any{"AmountDC": json.RawMessage(`-1.5E-3`), "Description": "changed"}},
		{"gl_accounts", map[string]any{"Description": "Kas (changed)"}},
		{"goods_deliveries", map[string]any{"Description": "changed"}},
		{"journals", map[string]any{"Description": "changed"}},
		{"units", map[string]any{"Description": "changed"}},
	} {
		recs, err := w.sim.Records(c.entity, 101)
		if err != nil || len(recs) < 3 {
			t.Fatalf("%s: %d records, %v", c.entity, len(recs), err)
		}
		e, _ := catalogue.Lookup(c.entity)
		keys := make([]string, 3)
		for i := range keys {
			var m map[string]any
			if err := json.Unmarshal(recs[i], &m); err != nil {
				t.Fatal(err)
			}
			keys[i] = fmt.Sprint(m[e.Key])
		}
		upd := map[string]any{e.Key: keys[0]}
		for k, v := range c.change {
			upd[k] = v
		}
		if _, err := w.sim.UpsertRecords(c.entity, 101, upd); err != nil {
			t.Fatalf("%s: %v", c.entity, err)
		}
		if err := w.sim.DeleteRecords(c.entity, 101, keys[1], keys[2]); err != nil {
			t.Fatalf("%s: %v", c.entity, err)
		}
		changed[c.entity] = true
	}
	// A reference entity read by Modified learns of deletions from a full read.
	syncAll(map[string]bool{"journals": true})
	for name := range changed {
		w.compareEntity(name, divs)
	}
	var deleted int64
	if err := w.pool.QueryRow(ctx, `SELECT cursor_timestamp FROM exact_sync.cursors WHERE division = 101 AND entity = 'deletions'`).Scan(&deleted); err != nil || deleted == 0 {
		t.Errorf("the shared deletions cursor of division 101 is %d, %v; want it moved", deleted, err)
	}
}

// compareEntity compares the table of entity with the simulator's records, row for row
// and column for column.
func (w *world) compareEntity(name string, divs []int) {
	t := w.t
	t.Helper()
	e, ok := catalogue.Lookup(name)
	if !ok {
		t.Fatalf("unknown entity %s", name)
	}
	for _, d := range divs {
		truth := map[string]map[string]json.RawMessage{}
		source := name
		if name == "suppliers" {
			source = "accounts"
		}
		recs, err := w.sim.Records(source, d)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, r := range recs {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(r, &m); err != nil {
				t.Fatal(err)
			}
			if e.Keep != nil && string(m[e.Keep.Field]) != fmt.Sprint(e.Keep.Equals) {
				continue
			}
			var key any
			json.Unmarshal(m[e.Key], &key)
			truth[strings.ToLower(fmt.Sprint(key))] = m
		}
		rows, err := w.pool.Query(context.Background(), `SELECT `+e.KeyColumn+`::text, to_jsonb(t) FROM `+e.Table+` t WHERE division = $1`, d)
		if err != nil {
			t.Fatalf("%s: %v", e.Table, err)
		}
		stored := map[string]map[string]json.RawMessage{}
		for rows.Next() {
			var key string
			var row map[string]json.RawMessage
			if err := rows.Scan(&key, &row); err != nil {
				t.Fatal(err)
			}
			stored[key] = row
		}
		rows.Close()
		if len(stored) != len(truth) {
			t.Errorf("%s division %d: %d rows, the simulator has %d", e.Table, d, len(stored), len(truth))
		}
		bad := 0
		for key, m := range truth {
			row, ok := stored[key]
			if !ok {
				t.Errorf("%s division %d: row %s missing", e.Table, d, key)
				continue
			}
			for _, c := range e.Columns {
				if msg := sameValue(c, m[c.Field], row[c.Name]); msg != "" && bad < 5 {
					bad++
					t.Errorf("%s division %d row %s column %s: %s", e.Table, d, key, c.Name, msg)
				}
			}
		}
	}
}

// sameValue compares the value Exact served for a column's field with the one stored,
// as a downstream application reads it (to_jsonb of the row), and says how they differ.
func sameValue(c catalogue.Column, served, stored json.RawMessage) string {
	null := func(v json.RawMessage) bool { return len(v) == 0 || string(v) == "null" }
	if null(served) || null(stored) {
		if null(served) != null(stored) {
			return fmt.Sprintf("served %s, stored %s", served, stored)
		}
		return ""
	}
	var s, g any
	json.Unmarshal(served, &s)
	json.Unmarshal(stored, &g)
	switch c.Type {
	case catalogue.EdmDouble, catalogue.EdmDecimal:
		// Exact digits: the stored numeric equals the served JSON number's text.
		a, ok1 := new(big.Rat).SetString(strings.Trim(string(served), `"`))
		b, ok2 := new(big.Rat).SetString(string(stored))
		if !ok1 || !ok2 || a.Cmp(b) != 0 {
			return fmt.Sprintf("served %s, stored %s", served, stored)
		}
	case catalogue.EdmDateTime:
		want, _, err := exact.Date(served)
		got, err2 := time.Parse(time.RFC3339Nano, fmt.Sprint(g))
		if err != nil || err2 != nil || !want.Equal(got) {
			return fmt.Sprintf("served %s (%v), stored %s", served, want, stored)
		}
	case catalogue.EdmBinary:
		want, err := base64.StdEncoding.DecodeString(fmt.Sprint(s))
		got, err2 := hex.DecodeString(strings.TrimPrefix(fmt.Sprint(g), `\x`))
		if err != nil || err2 != nil || string(want) != string(got) {
			return fmt.Sprintf("served %s, stored %s", served, stored)
		}
	case catalogue.EdmGUID:
		if !strings.EqualFold(fmt.Sprint(s), fmt.Sprint(g)) {
			return fmt.Sprintf("served %s, stored %s", served, stored)
		}
	case catalogue.EdmString:
		want := fmt.Sprint(s)
		if c.Trim {
			want = strings.TrimSpace(want)
		}
		if want != fmt.Sprint(g) {
			return fmt.Sprintf("served %s, stored %s", served, stored)
		}
	default: // integers (Int64 may be served as a string, §3.8) and booleans
		if strings.Trim(string(served), `"`) != string(stored) {
			return fmt.Sprintf("served %s, stored %s", served, stored)
		}
	}
	return ""
}
