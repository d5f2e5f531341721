package sync

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/sink"
)

// fakeSource serves pages from memory, keyed by URL.
type fakeSource struct {
	pages map[string]string // URL → page body
	fail  map[string]error  // URL → error
	mu    gosync.Mutex
	asked []string
}

func (f *fakeSource) URL(division int, path string, q url.Values) string {
	return fmt.Sprintf("x:/%d/%s?%s", division, path, q.Encode())
}

func (f *fakeSource) Page(_ context.Context, _ int, u string) (*exact.Page, error) {
	f.mu.Lock()
	f.asked = append(f.asked, u)
	f.mu.Unlock()
	if err := f.fail[u]; err != nil {
		return nil, err
	}
	body, ok := f.pages[u]
	if !ok {
		return nil, fmt.Errorf("no page at %s", u)
	}
	p, err := exact.DecodePage("test", []byte(body))
	if err != nil {
		return nil, err
	}
	p.Calls = 1
	return p, nil
}

// fakeStore is the sink's side: cursors, batches, runs, locks.
type fakeStore struct {
	cursor   sink.Cursor
	batches  []sink.Batch
	started  []sink.Run
	finished []sink.RunResult
	locked   bool
	busy     bool
}

func (f *fakeStore) Cursor(context.Context, int64, int, string) (sink.Cursor, error) {
	return f.cursor, nil
}

func (f *fakeStore) WriteBatch(_ context.Context, b sink.Batch) (sink.BatchResult, error) {
	f.batches = append(f.batches, b)
	f.cursor = b.Cursor
	return sink.BatchResult{Upserted: len(b.Rows), Removed: len(b.Removals)}, nil
}

func (f *fakeStore) StartRun(_ context.Context, r sink.Run) (int64, error) {
	f.started = append(f.started, r)
	return int64(len(f.started)), nil
}

func (f *fakeStore) FinishRun(_ context.Context, _ int64, res sink.RunResult) error {
	f.finished = append(f.finished, res)
	return nil
}

func (f *fakeStore) LockDivision(context.Context, int64, int, bool) (func(), bool, error) {
	if f.busy {
		return nil, false, nil
	}
	f.locked = true
	return func() { f.locked = false }, true, nil
}

const (
	id1 = "00000000-0000-4000-8000-000000000001"
	id2 = "00000000-0000-4000-8000-000000000002"
	id3 = "00000000-0000-4000-8000-000000000003"
)

func account(id string, ts int64, supplier bool) string {
	return fmt.Sprintf(`{"__metadata":{"uri":"u","type":"t"},"ID":"%s","Timestamp":%d,"Code":"          %d","Name":"Naam %d",`+
		`"IsSupplier":%t,"IsSales":true,"Status":"C","Email":null,"City":"Zwolle","Country":"NL","VATNumber":null,`+
		`"Blocked":false,"Created":"/Date(1735689600000)/","Modified":"/Date(1751328000000)/"}`, id, ts, ts, ts, supplier)
}

func page(next string, records ...string) string {
	n := ""
	if next != "" {
		n = fmt.Sprintf(`,"__next":%q`, next)
	}
	return fmt.Sprintf(`{"d":{"results":[%s]%s}}`, strings.Join(records, ","), n)
}

func firstURL(f *fakeSource, e string, division int, from int64) string {
	ent, _ := Lookup(e)
	return f.URL(division, ent.SyncPath, url.Values{
		"$filter": {fmt.Sprintf("Timestamp gt %dL", from)},
		"$select": {ent.Select()},
	})
}

func deletedURL(f *fakeSource, division int, from int64) string {
	return f.URL(division, "sync/Deleted", url.Values{
		"$filter": {fmt.Sprintf("Timestamp gt %dL", from)},
		"$select": {"EntityKey,EntityType,Timestamp"},
	})
}

func newRunner(st *fakeStore) *Runner {
	return NewRunner(Config{Logger: zerolog.Nop()}, st, st, st)
}

func TestRunWritesPagesRemovalsAndCursors(t *testing.T) {
	tests := []struct {
		name         string
		entity       string
		wantRows     []int // rows per batch
		wantRemovals [][]sink.Removal
	}{
		{"accounts keep every record", "accounts", []int{2, 1, 0},
			[][]sink.Removal{nil, nil, {{Division: 101, ID: id2, Version: 12}}}},
		{"suppliers remove accounts that are not suppliers", "suppliers", []int{1, 0, 0},
			[][]sink.Removal{{{Division: 101, ID: id2, Version: 5}}, {{Division: 101, ID: id3, Version: 9}}, {{Division: 101, ID: id2, Version: 12}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &fakeSource{pages: map[string]string{}}
			src.pages[firstURL(src, tt.entity, 101, 0)] = page("x:/next", account(id1, 3, true), account(id2, 5, false))
			src.pages["x:/next"] = page("", account(id3, 9, false))
			src.pages[deletedURL(src, 101, 0)] = page("",
				`{"EntityKey":"`+id2+`","EntityType":2,"Timestamp":12}`,
				`{"EntityKey":"`+id1+`","EntityType":5,"Timestamp":13}`) // a contact: not ours
			st := &fakeStore{}
			res, err := newRunner(st).Run(context.Background(), src, Job{ConnectionID: 1, Division: 101, Entity: tt.entity})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if len(st.batches) != 3 {
				t.Fatalf("got %d batches, want 3", len(st.batches))
			}
			for i, b := range st.batches {
				if len(b.Rows) != tt.wantRows[i] {
					t.Errorf("batch %d: got %d rows, want %d", i, len(b.Rows), tt.wantRows[i])
				}
				if diff := cmp.Diff(tt.wantRemovals[i], b.Removals); diff != "" {
					t.Errorf("batch %d removals (-want +got):\n%s", i, diff)
				}
			}
			wantCursors := []sink.Cursor{{Timestamp: 5}, {Timestamp: 9}, {Timestamp: 9, DeletedTimestamp: 13}}
			for i, b := range st.batches {
				if b.Cursor != wantCursors[i] {
					t.Errorf("batch %d cursor = %+v, want %+v", i, b.Cursor, wantCursors[i])
				}
			}
			if res.Status != StatusOK || res.Pages != 3 || res.Calls != 3 || res.CursorTo != 9 {
				t.Errorf("result = %+v, want ok, 3 pages, 3 calls, cursor to 9", res)
			}
			if len(st.finished) != 1 || st.finished[0].Status != StatusOK {
				t.Errorf("finished runs = %+v, want one ok", st.finished)
			}
			if st.locked {
				t.Errorf("division still locked after the run")
			}
		})
	}
}

func TestRowConversion(t *testing.T) {
	src := &fakeSource{pages: map[string]string{}}
	src.pages[firstURL(src, "accounts", 7, 0)] = page("", account(id1, 3, true))
	src.pages[deletedURL(src, 7, 0)] = page("")
	st := &fakeStore{}
	if _, err := newRunner(st).Run(context.Background(), src, Job{ConnectionID: 1, Division: 7, Entity: "accounts"}); err != nil {
		t.Fatal(err)
	}
	ent, _ := Lookup("accounts")
	b := st.batches[0]
	if diff := cmp.Diff(ent.Columns(), b.Table.Columns); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
	got := map[string]any{}
	for i, c := range b.Table.Columns {
		got[c] = b.Rows[0][i]
	}
	// 2025-01-01T00:00 Amsterdam (CET) is 2024-12-31T23:00Z; 2025-07-01T00:00 (CEST) is 2025-06-30T22:00Z.
	want := map[string]any{
		"division": int32(7), "id": id1, "code": "3", "name": "Naam 3", "is_supplier": true, "is_sales": true,
		"status": "C", "email": nil, "city": "Zwolle", "country": "NL", "vat_number": nil, "blocked": false,
		"created":         time.Date(2024, 12, 31, 23, 0, 0, 0, time.UTC),
		"modified":        time.Date(2025, 6, 30, 22, 0, 0, 0, time.UTC),
		"exact_timestamp": int64(3),
	}
	raw, _ := got["raw"].([]byte)
	delete(got, "raw")
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
	if strings.Contains(string(raw), "__metadata") || !strings.Contains(string(raw), `"Name":"Naam 3"`) {
		t.Errorf("raw = %s, want the record without __metadata", raw)
	}
}

func TestFullRunStartsFromTheBeginning(t *testing.T) {
	src := &fakeSource{pages: map[string]string{}}
	src.pages[firstURL(src, "accounts", 101, 0)] = page("", account(id1, 3, true))
	src.pages[deletedURL(src, 101, 40)] = page("")
	st := &fakeStore{cursor: sink.Cursor{Timestamp: 500, DeletedTimestamp: 40}}
	res, err := newRunner(st).Run(context.Background(), src, Job{ConnectionID: 1, Division: 101, Entity: "accounts", Full: true})
	if err != nil {
		t.Fatalf("Run: %v (asked %v)", err, src.asked)
	}
	if res.CursorFrom != 0 {
		t.Errorf("full run cursor from %d, want 0", res.CursorFrom)
	}
	if got := st.batches[0].Cursor; got.Timestamp != 3 || got.LastFullAt.IsZero() {
		t.Errorf("cursor after the first page of a full pass = %+v, want timestamp 3 and a full-pass time", got)
	}
}

func TestRunFailures(t *testing.T) {
	reset := time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		failSecond error
		busy       bool
		wantStatus string
		wantIn     string
		wantIs     error
	}{
		{"malformed page names endpoint and page", &exact.DecodeError{Endpoint: "sync/CRM/Accounts", Err: errors.New("unexpected end")},
			false, StatusFailed, "fetching sync/CRM/Accounts page 2 for division 101: malformed JSON from sync/CRM/Accounts", nil},
		{"daily limit stops the division", &exact.DailyLimitError{Division: 101, Reset: reset},
			false, StatusDailyLimit, "daily limit reached for division 101, resumes after 2026-01-06T00:00:00Z", nil},
		{"broken token chain", &exact.ReauthError{Reason: "Old refresh token used."},
			false, StatusReauthRequired, "Old refresh token used.", exact.ErrReauthRequired},
		{"division held elsewhere", nil, true, StatusBusy, "being synced by another worker", ErrBusy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &fakeSource{pages: map[string]string{}, fail: map[string]error{}}
			src.pages[firstURL(src, "accounts", 101, 0)] = page("x:/2", account(id1, 3, true))
			src.fail["x:/2"] = tt.failSecond
			st := &fakeStore{busy: tt.busy}
			res, err := newRunner(st).Run(context.Background(), src, Job{ConnectionID: 1, Division: 101, Entity: "accounts"})
			if err == nil {
				t.Fatal("Run succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("error %q does not contain %q", err, tt.wantIn)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
			}
			if res.Status != tt.wantStatus {
				t.Errorf("status %q, want %q", res.Status, tt.wantStatus)
			}
			if tt.busy {
				if len(st.started) != 0 {
					t.Errorf("a busy division recorded %d runs, want 0", len(st.started))
				}
				return
			}
			// The first page stays written with its cursor; the run is recorded.
			if len(st.batches) != 1 || st.cursor.Timestamp != 3 {
				t.Errorf("batches %d, cursor %+v; want the first page kept", len(st.batches), st.cursor)
			}
			if len(st.finished) != 1 || st.finished[0].Status != tt.wantStatus || st.finished[0].Err == "" {
				t.Errorf("recorded %+v, want status %q with the error", st.finished, tt.wantStatus)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	if _, err := Lookup("accounts"); err != nil {
		t.Errorf("Lookup(accounts): %v", err)
	}
	_, err := Lookup("invoices")
	if err == nil || !strings.Contains(err.Error(), "accounts, suppliers") {
		t.Errorf("Lookup(invoices) = %v, want an error listing the valid entities", err)
	}
}

func TestSelectCoversEveryField(t *testing.T) {
	for _, e := range Catalogue {
		sel := strings.Split(e.Select(), ",")
		for _, f := range e.Fields {
			if !contains(sel, f.Source) {
				t.Errorf("%s: $select %v lacks %s", e.Name, sel, f.Source)
			}
		}
		for _, need := range []string{e.Key, "Timestamp"} {
			if !contains(sel, need) {
				t.Errorf("%s: $select lacks %s", e.Name, need)
			}
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
