package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
)

// fakeSource serves pages from memory, keyed by URL.
type fakeSource struct {
	pages map[string]string // URL → page body
	fail  map[string]error  // URL → error
	// hold, when set, is called with a URL before it is served, and may block.
	hold func(u string)
	// def, when set, is the page of every URL not in pages.
	def string
	// limit, when set, is what RateLimit answers.
	limit *exact.RateLimit
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
	if f.hold != nil {
		f.hold(u)
	}
	if err := f.fail[u]; err != nil {
		return nil, err
	}
	body, ok := f.pages[u]
	if !ok && f.def != "" {
		body, ok = f.def, true
	}
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

func (f *fakeSource) RateLimit(int) exact.RateLimit {
	if f.limit == nil {
		return exact.RateLimit{}
	}
	return *f.limit
}

// fakeStore is the sink's side: cursors, batches, runs, locks.
type fakeStore struct {
	// hold, when set, is called before batch n (from 0) is stored, and may block.
	hold func(n int)
	// cursor is every entity's cursor until a write stores one in cursors.
	cursor   dest.Cursor
	cursors  map[string]dest.Cursor
	batches  []dest.Batch
	writes   [][]dest.Batch // the batches of each transaction
	started  []dest.Run
	finished []dest.RunResult
	ended    map[int64]dest.RunResult // FinishRun's results by run id
	locked   bool
	busy     bool
	// quarantined is what Quarantined answers; a row with the key refuse fails
	// its write as PostgreSQL refusing a value would.
	quarantined []string
	refuse      string
	lockLost    bool // WriteBatch fails with dest.ErrLockLost

	lastSuccess time.Time     // LastSuccess answers it
	hasRows     bool          // StartSweep answers it
	sweepsStart int           // StartSweep calls
	sweepsDone  []dest.Cursor // FinishSweep's cursors
}

func (f *fakeStore) StartSweep(context.Context, dest.Table, int64, int, string) (bool, error) {
	f.sweepsStart++
	return f.hasRows, nil
}

func (f *fakeStore) FinishSweep(_ context.Context, _ dest.Table, _ int64, _ int, entity string, c dest.Cursor, _ int64) (int, error) {
	c.Sweep = false
	f.sweepsDone = append(f.sweepsDone, c)
	if f.cursors == nil {
		f.cursors = map[string]dest.Cursor{}
	}
	f.cursors[entity] = c
	return 2, nil
}

func (f *fakeStore) LastSuccess(context.Context, int64, int, string) (time.Time, error) {
	return f.lastSuccess, nil
}

func (f *fakeStore) Cursor(_ context.Context, _ int64, _ int, entity string) (dest.Cursor, error) {
	if c, ok := f.cursors[entity]; ok {
		return c, nil
	}
	return f.cursor, nil
}

func (f *fakeStore) Cursors(context.Context, int64, int) (map[string]dest.Cursor, error) {
	return maps.Clone(f.cursors), nil
}

// cur is the stored cursor of entity.
func (f *fakeStore) cur(entity string) dest.Cursor {
	c, _ := f.Cursor(context.Background(), 0, 0, entity)
	return c
}

func (f *fakeStore) WriteBatch(ctx context.Context, b dest.Batch) (dest.BatchResult, error) {
	res, err := f.WriteBatches(ctx, []dest.Batch{b})
	if err != nil {
		return dest.BatchResult{}, err
	}
	return res[0], nil
}

func (f *fakeStore) WriteBatches(_ context.Context, bs []dest.Batch) ([]dest.BatchResult, error) {
	if f.hold != nil {
		f.hold(len(f.writes))
	}
	if f.lockLost {
		return nil, fmt.Errorf("writing a page of exact.accounts: %w", dest.ErrLockLost)
	}
	for _, b := range bs {
		for _, r := range b.Rows {
			if f.refuse != "" && slices.Contains(r, any(f.refuse)) {
				// As the PostgreSQL store reports a data exception.
				return nil, &dest.DataError{Reason: "unsupported Unicode escape sequence (SQLSTATE 22P05)",
					Err: errors.New("writing a page of exact.accounts: copying: ERROR: unsupported Unicode escape sequence (SQLSTATE 22P05)")}
			}
		}
	}
	var out []dest.BatchResult
	for _, b := range bs {
		f.batches = append(f.batches, b)
		if b.Entity != "" && !b.NoCursor {
			if f.cursors == nil {
				f.cursors = map[string]dest.Cursor{}
			}
			f.cursors[b.Entity] = b.Cursor
		}
		out = append(out, dest.BatchResult{Upserted: len(b.Rows), Removed: len(b.Removals)})
	}
	f.writes = append(f.writes, bs)
	return out, nil
}

func (f *fakeStore) StartRun(_ context.Context, r dest.Run) (int64, error) {
	f.started = append(f.started, r)
	return int64(len(f.started)), nil
}

func (f *fakeStore) FinishRun(_ context.Context, id int64, res dest.RunResult) error {
	f.finished = append(f.finished, res)
	if f.ended == nil {
		f.ended = map[int64]dest.RunResult{}
	}
	f.ended[id] = res
	return nil
}

func (f *fakeStore) JobRuns(_ context.Context, jobID int64) ([]dest.RunRecord, error) {
	var out []dest.RunRecord
	for i, r := range f.started {
		if r.QueueJob != jobID {
			continue
		}
		r.ID = int64(i + 1)
		rr := dest.RunRecord{Run: r, Result: dest.RunResult{Status: dest.RunRunning}}
		if res, ok := f.ended[r.ID]; ok {
			rr.Result = res
		}
		out = append(out, rr)
	}
	return out, nil
}

func (f *fakeStore) LockDivision(context.Context, int64, int, bool) (*dest.DivisionLock, bool, error) {
	if f.busy {
		return nil, false, nil
	}
	f.locked = true
	return dest.NewDivisionLock(1, func() { f.locked = false }), true, nil
}

func (f *fakeStore) Quarantined(context.Context, int64, int, string) ([]string, error) {
	return f.quarantined, nil
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
	return f.URL(division, ent.Path, url.Values{
		"$filter": {fmt.Sprintf("Timestamp gt %dL", from)},
		"$select": {ent.Select()},
	})
}

func deletedURL(f *fakeSource, division int, from int64) string {
	return f.URL(division, "sync/Deleted", url.Values{
		"$filter": {fmt.Sprintf("Timestamp gt %dL", from)},
		"$select": {"DeletedBy,DeletedDate,EntityKey,EntityType,Timestamp"},
	})
}

// newRunner runs the job's entity alone: no other entity is enabled.
func newRunner(st *fakeStore) *Runner {
	return NewRunner(Config{Logger: zerolog.Nop(), Enabled: []string{}}, st, st, st)
}

// newPageRunner writes every page on its own, for tests of what each page writes.
func newPageRunner(st *fakeStore) *Runner {
	return NewRunner(Config{Logger: zerolog.Nop(), BatchPages: 1, Enabled: []string{}}, st, st, st)
}

func TestRunWritesPagesRemovalsAndCursors(t *testing.T) {
	tests := []struct {
		name         string
		entity       string
		wantRows     []int // rows per batch
		wantRemovals [][]dest.Removal
	}{
		{"accounts keep every record", "accounts", []int{2, 1},
			[][]dest.Removal{nil, nil}},
		{"suppliers remove accounts that are not suppliers", "suppliers", []int{1, 0},
			[][]dest.Removal{{{Division: 101, ID: id2, Version: 5, Cause: "no longer a supplier"}}, {{Division: 101, ID: id3, Version: 9, Cause: "no longer a supplier"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &fakeSource{pages: map[string]string{}}
			src.pages[firstURL(src, tt.entity, 101, 0)] = page("x:/next", account(id1, 3, true), account(id2, 5, false))
			src.pages["x:/next"] = page("", account(id3, 9, false))
			st := &fakeStore{}
			res, err := newPageRunner(st).Run(context.Background(), src, Job{ConnectionID: 1, Division: 101, Entity: tt.entity})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if len(st.batches) != 2 {
				t.Fatalf("got %d batches, want 2", len(st.batches))
			}
			for i, b := range st.batches {
				if len(b.Rows) != tt.wantRows[i] {
					t.Errorf("batch %d: got %d rows, want %d", i, len(b.Rows), tt.wantRows[i])
				}
				if diff := cmp.Diff(tt.wantRemovals[i], b.Removals); diff != "" {
					t.Errorf("batch %d removals (-want +got):\n%s", i, diff)
				}
			}
			wantCursors := []dest.Cursor{{Timestamp: 5}, {Timestamp: 9}}
			for i, b := range st.batches {
				if b.Cursor != wantCursors[i] {
					t.Errorf("batch %d cursor = %+v, want %+v", i, b.Cursor, wantCursors[i])
				}
			}
			if res.Status != StatusOK || res.Pages != 2 || res.Calls != 2 || res.CursorTo != 9 {
				t.Errorf("result = %+v, want ok, 2 pages, 2 calls, cursor to 9", res)
			}
			if contains(src.asked, deletedURL(src, 101, 0)) {
				t.Error("an entity job read sync/Deleted, want only the deletions job to")
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

// pagedSource serves n pages of one account each, at Timestamps 10, 20, …;
// page k (from 1) is at URL "x:/k", the first at the entity's first URL.
func pagedSource(n int) (*fakeSource, []string) {
	src := &fakeSource{pages: map[string]string{}, fail: map[string]error{}}
	urls := []string{firstURL(src, "accounts", 101, 0)}
	for k := 2; k <= n; k++ {
		urls = append(urls, fmt.Sprintf("x:/%d", k))
	}
	for k := 1; k <= n; k++ {
		next := ""
		if k < n {
			next = urls[k]
		}
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", k)
		src.pages[urls[k-1]] = page(next, account(id, int64(10*k), true))
	}
	src.pages[deletedURL(src, 101, 0)] = page("")
	return src, urls
}

// holdPages makes the pages of src wait so that pages 2 to last-1 are queued
// behind the first write, and the last page is not: page 2 is served once the
// first write has begun, which is held until the source is asked for the last
// page. The returned function is the store's hold; the last page's answer is
// held until the second write begins unless failLast.
func holdPages(src *fakeSource, urls []string, last int, extra time.Duration) func(n int) {
	writing, asked, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	src.hold = func(u string) {
		switch u {
		case urls[1]:
			<-writing
		case urls[last-1]:
			close(asked)
			if src.fail[u] == nil {
				<-release
			}
		}
	}
	return func(n int) {
		switch n {
		case 0:
			close(writing)
			<-asked
			time.Sleep(extra)
		case 1:
			close(release)
		}
	}
}

func TestWriteTakesTheWaitingPagesTogether(t *testing.T) {
	tests := []struct {
		name       string
		batchPages int
		pages      int
		wantPages  [][]int64 // Timestamps of the rows of each write
	}{
		{"all waiting pages", 8, 5, [][]int64{{10}, {20, 30, 40}, {50}}},
		{"at most BatchPages", 2, 4, [][]int64{{10}, {20, 30}, {40}}},
		{"one page at a time", 1, 3, [][]int64{{10}, {20}, {30}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, urls := pagedSource(tt.pages)
			st := &fakeStore{}
			st.hold = holdPages(src, urls, tt.pages, 0)
			r := NewRunner(Config{Logger: zerolog.Nop(), BatchPages: tt.batchPages, Enabled: []string{}}, st, st, st)
			res, err := r.Run(context.Background(), src, Job{ConnectionID: 1, Division: 101, Entity: "accounts"})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			writes, got := rowWrites(st)
			for i, b := range writes {
				ts := got[i]
				if want := ts[len(ts)-1]; b.Cursor.Timestamp != want {
					t.Errorf("write of %v stores cursor %d, want %d (its last page's)", ts, b.Cursor.Timestamp, want)
				}
			}
			if diff := cmp.Diff(tt.wantPages, got); diff != "" {
				t.Errorf("rows per write (-want +got):\n%s", diff)
			}
			if res.Pages != tt.pages || res.Calls != tt.pages || res.Upserted != tt.pages {
				t.Errorf("result = %+v, want %d pages and calls, %d upserted", res, tt.pages, tt.pages)
			}
		})
	}
}

func TestBatchBytesBoundsWritesAndPagesAhead(t *testing.T) {
	// With BatchBytes below one page's records, every write takes one page, and
	// while a write is held only one more page is fetched: pages ahead of the
	// writer are bounded by their bytes, not only by BatchPages. The run goes in a
	// synctest bubble: once the first write is held, synctest.Wait returns when every
	// goroutine of the run is blocked, so the fetcher has fetched all it ever will
	// while the write waits.
	synctest.Test(t, func(t *testing.T) {
		src, _ := pagedSource(6)
		st := &fakeStore{}
		held, release := make(chan struct{}), make(chan struct{})
		st.hold = func(n int) {
			if n == 0 {
				close(held)
				<-release
			}
		}
		r := NewRunner(Config{Logger: zerolog.Nop(), BatchPages: 8, BatchBytes: 1, Enabled: []string{}}, st, st, st)
		done := make(chan error)
		go func() {
			_, err := r.Run(context.Background(), src, Job{ConnectionID: 1, Division: 101, Entity: "accounts"})
			done <- err
		}()
		<-held
		synctest.Wait()
		src.mu.Lock()
		asked := len(src.asked)
		src.mu.Unlock()
		close(release)
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if asked != 2 {
			t.Errorf("pages fetched while the first write was held: %d, want 2 (the page written and one waiting)", asked)
		}
		if diff := cmp.Diff([][]int64{{10}, {20}, {30}, {40}, {50}, {60}}, timestamps(st)); diff != "" {
			t.Errorf("rows per write (-want +got):\n%s", diff)
		}
	})
}

func TestFetchErrorAfterWaitingPagesKeepsThem(t *testing.T) {
	// Pages 2 and 3 wait behind the first write and page 4 fails: the pages
	// before the failure are stored with their cursor, and the run reports
	// the page that failed. The pause usually lets the failure reach the
	// queue before the first write returns, so that it arrives within the
	// second write's pages; the outcome checked is the same either way.
	src, urls := pagedSource(5)
	src.fail[urls[3]] = &exact.DecodeError{Endpoint: "sync/CRM/Accounts", Record: -1, Err: errors.New("unexpected end")}
	st := &fakeStore{}
	st.hold = holdPages(src, urls, 4, 20*time.Millisecond)
	_, err := newRunner(st).Run(context.Background(), src, Job{ConnectionID: 1, Division: 101, Entity: "accounts"})
	if err == nil || !strings.Contains(err.Error(), "fetching sync/CRM/Accounts page 4 for division 101") {
		t.Fatalf("Run error = %v, want the failure of page 4", err)
	}
	var rows []int
	for _, b := range st.batches {
		rows = append(rows, len(b.Rows))
	}
	if diff := cmp.Diff([]int{1, 2}, rows); diff != "" || st.cur("accounts").Timestamp != 30 {
		t.Errorf("rows per write (-want +got):\n%s\ncursor %d, want 30", diff, st.cur("accounts").Timestamp)
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
	for c, v := range got {
		if _, ok := want[c]; !ok && v == nil {
			delete(got, c) // a field the record does not have
		}
	}
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
	st := &fakeStore{cursor: dest.Cursor{Timestamp: 500, DeletedTimestamp: 40}}
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

// A run whose turn has ended (WithTurn) stops after its next committed write: the
// page's rows and cursor are stored, the rest is left to the next run of the job, and
// the run is recorded canceled with ErrTurnEnded.
func TestRunStopsAfterAWriteWhenItsTurnEnds(t *testing.T) {
	src := &fakeSource{pages: map[string]string{}}
	second := "https://start.exactonline.nl/api/v1/101/sync/CRM/Accounts?$skiptoken=2"
	src.pages[firstURL(src, "accounts", 101, 0)] = page(second, account(id1, 3, true))
	src.pages[second] = page("", account(id2, 4, true))
	st := &fakeStore{}
	end := make(chan struct{})
	close(end)
	ctx := WithTurn(context.Background(), end)
	res, err := newPageRunner(st).Run(ctx, src, Job{ConnectionID: 1, Division: 101, Entity: "accounts"})
	if !errors.Is(err, ErrTurnEnded) {
		t.Fatalf("Run: %v, want ErrTurnEnded", err)
	}
	if res.Status != StatusCanceled || res.Committed != 1 {
		t.Errorf("status %s, %d pages committed; want canceled after 1", res.Status, res.Committed)
	}
	if got := st.cur("accounts").Timestamp; got != 3 {
		t.Errorf("cursor %d after the turn, want 3 (the first page's)", got)
	}
	if slices.Contains(src.asked, second) && len(st.batches) != 1 {
		t.Errorf("%d batches written, want the first page's alone", len(st.batches))
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
		{"malformed page names endpoint and page", &exact.DecodeError{Endpoint: "sync/CRM/Accounts", Record: -1, Err: errors.New("unexpected end")},
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
			if len(st.batches) != 1 || st.cur("accounts").Timestamp != 3 {
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
	if err == nil || !strings.Contains(err.Error(), `unknown entity "invoices"`) || !strings.Contains(err.Error(), "exactsync entities") {
		t.Errorf("Lookup(invoices) = %v, want an error naming it and where the valid entities are listed", err)
	}
}

func TestSelectCoversEveryField(t *testing.T) {
	for _, e := range Catalogue() {
		sel := strings.Split(e.Select(), ",")
		for _, f := range e.Fields {
			if !contains(sel, f.Source) {
				t.Errorf("%s: $select %v lacks %s", e.Name, sel, f.Source)
			}
		}
		for _, need := range []string{e.Key, "Timestamp"} {
			if need == "Timestamp" && e.Read != ReadSync {
				if contains(sel, need) {
					t.Errorf("%s: $select asks for Timestamp, which only sync endpoints have", e.Name)
				}
				continue
			}
			if !contains(sel, need) {
				t.Errorf("%s: $select lacks %s", e.Name, need)
			}
		}
	}
}

// accountID is the position of the id column in a row of accounts.
func accountID() int {
	e, _ := Lookup("accounts")
	return slices.Index(e.Columns(), "id")
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestSweep(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		job         Job
		cursor      dest.Cursor
		lastSuccess time.Time
		hasRows     bool
		wantFrom    int64
		wantFull    bool
		wantSweep   bool // pages recorded for a sweep, and the sweep finished
		// earlier: an earlier attempt of the job (queue job 7) started a full pass two
		// minutes ago and was cut short.
		earlier bool
	}{
		{"full pass over stored rows sweeps", Job{Full: true}, dest.Cursor{Timestamp: 500, DeletedTimestamp: 40},
			now.Add(-time.Hour), true, 0, true, true, false},
		{"full pass of an empty division records nothing", Job{Full: true}, dest.Cursor{},
			time.Time{}, false, 0, true, false, false},
		{"incremental run within the deletion log's reach", Job{}, dest.Cursor{Timestamp: 500, DeletedTimestamp: 40},
			now.Add(-54 * 24 * time.Hour), true, 500, false, false, false},
		{"incremental run past the deletion log's reach becomes a sweeping full pass", Job{}, dest.Cursor{Timestamp: 500, DeletedTimestamp: 40},
			now.Add(-56 * 24 * time.Hour), true, 0, true, true, false},
		{"a sweeping pass cut short goes on sweeping", Job{}, dest.Cursor{Timestamp: 3, DeletedTimestamp: 40, Sweep: true},
			now.Add(-time.Hour), true, 3, false, true, false},
		{"a full pass an earlier attempt of the job started goes on from its cursor", Job{Full: true, QueueJob: 7},
			dest.Cursor{Timestamp: 3, DeletedTimestamp: 40, Sweep: true, LastFullAt: now.Add(-time.Minute)},
			now.Add(-time.Hour), true, 3, false, true, true},
		{"a full pass cut before it wrote a page starts over", Job{Full: true, QueueJob: 7},
			dest.Cursor{Timestamp: 500, DeletedTimestamp: 40, LastFullAt: now.Add(-48 * time.Hour)},
			now.Add(-time.Hour), true, 0, true, true, true},
		{"a pass past the deletion log's reach an earlier attempt started goes on", Job{QueueJob: 7},
			dest.Cursor{Timestamp: 3, DeletedTimestamp: 40, Sweep: true, LastFullAt: now.Add(-time.Minute)},
			now.Add(-56 * 24 * time.Hour), true, 3, false, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &fakeSource{pages: map[string]string{}}
			src.pages[firstURL(src, "accounts", 101, tt.wantFrom)] = page("", account(id1, 600, true))
			src.pages[deletedURL(src, 101, tt.cursor.DeletedTimestamp)] = page("")
			st := &fakeStore{cursor: tt.cursor, lastSuccess: tt.lastSuccess, hasRows: tt.hasRows}
			if tt.earlier {
				st.started = []dest.Run{{ConnectionID: 1, Division: 101, Entity: "accounts", Full: true, QueueJob: 7, StartedAt: now.Add(-2 * time.Minute)}}
				st.ended = map[int64]dest.RunResult{1: {Status: dest.RunCanceled}}
			}
			r := NewRunner(Config{Logger: zerolog.Nop(), Now: func() time.Time { return now }, Enabled: []string{}}, st, st, st)
			job := tt.job
			job.ConnectionID, job.Division, job.Entity = 1, 101, "accounts"
			res, err := r.Run(context.Background(), src, job)
			if err != nil {
				t.Fatalf("Run: %v (asked %v)", err, src.asked)
			}
			if last := st.started[len(st.started)-1]; res.Job.Full != tt.wantFull || last.Full != tt.wantFull {
				t.Errorf("full: result %v, recorded %v; want %v", res.Job.Full, last.Full, tt.wantFull)
			}
			if len(st.batches) != 1 || st.batches[0].Cursor.Sweep != tt.wantSweep {
				t.Fatalf("batches %+v, want one with Sweep %v", st.batches, tt.wantSweep)
			}
			if !tt.wantSweep {
				if len(st.sweepsDone) != 0 || res.Removed != 0 {
					t.Errorf("sweeps finished %v, removed %d; want none", st.sweepsDone, res.Removed)
				}
				return
			}
			if len(st.sweepsDone) != 1 || st.sweepsDone[0].Timestamp != 600 {
				t.Fatalf("sweeps finished %+v, want one with cursor 600", st.sweepsDone)
			}
			if res.Removed != 2 {
				t.Errorf("removed %d, want the sweep's 2", res.Removed)
			}
			if st.cur("accounts").Sweep {
				t.Errorf("cursor after the run %+v still sweeps", st.cursor)
			}
		})
	}
}

func TestBadRecordAmongWaitingPagesIsQuarantined(t *testing.T) {
	// Pages 2 and 3 wait behind the first write, and page 3 holds a record
	// without a valid ID: it is quarantined in the write of its page, and the
	// paging goes on to page 4.
	src, urls := pagedSource(4)
	src.pages[urls[2]] = page(urls[3], account("not-a-guid", 30, true))
	st := &fakeStore{}
	st.hold = holdPages(src, urls, 4, 0)
	res, err := newRunner(st).Run(context.Background(), src, Job{ConnectionID: 1, Division: 101, Entity: "accounts"})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var rows, rejects int
	for _, b := range st.batches {
		rows += len(b.Rows)
		rejects += len(b.Rejects)
	}
	if rows != 3 || rejects != 1 || res.Quarantined != 1 || st.cur("accounts").Timestamp != 40 {
		t.Errorf("rows %d, rejects %d, quarantined %d, cursor %d; want 3, 1, 1, 40", rows, rejects, res.Quarantined, st.cur("accounts").Timestamp)
	}
	if len(st.finished) != 1 || st.finished[0].Quarantined != 1 {
		t.Errorf("recorded %+v, want the run with 1 quarantined", st.finished)
	}
}

// hostile are records that exact's parsers refuse, each with what the reason
// must name and whether the key and Timestamp stay readable.
var hostile = []struct {
	name, record, reason string
	key                  string
	ts                   int64 // 0: unreadable
}{
	{"ID not a GUID", `{"ID":"not-a-guid","Timestamp":31,"Name":"x"}`, "field ID", "", 31},
	{"null Timestamp", `{"ID":"` + idQ1 + `","Timestamp":null,"Name":"x"}`, "field Timestamp: missing or null", idQ1, 0},
	{"string for a boolean", `{"ID":"` + idQ2 + `","Timestamp":32,"IsSupplier":"yes"}`, "field IsSupplier", idQ2, 32},
	{"garbage date", `{"ID":"` + idQ3 + `","Timestamp":33,"Created":"/Date(garbage)/"}`, "field Created", idQ3, 33},
	{"no ID", `{"Timestamp":34,"Name":"x"}`, "field ID: missing or null", "", 34},
	{"NUL in a string", `{"ID":"` + idQ4 + `","Timestamp":35,"Name":"a\u0000b"}`, "NUL character", idQ4, 35},
	{"invalid JSON inside", `{"ID":"` + idQ5 + `","Timestamp":36,"Name":[1 2 x]}`, "malformed JSON", idQ5, 36},
}

const (
	idQ1 = "00000000-0000-4000-8000-0000000000a1"
	idQ2 = "00000000-0000-4000-8000-0000000000a2"
	idQ3 = "00000000-0000-4000-8000-0000000000a3"
	idQ4 = "00000000-0000-4000-8000-0000000000a4"
	idQ5 = "00000000-0000-4000-8000-0000000000a5"
)

func TestHostileRecordsAreQuarantinedAndTheDivisionMovesOn(t *testing.T) {
	src := &fakeSource{pages: map[string]string{}, fail: map[string]error{}}
	recs := []string{account(id1, 10, true)}
	for _, h := range hostile {
		recs = append(recs, h.record)
	}
	recs = append(recs, account(id2, 50, false))
	src.pages[firstURL(src, "accounts", 101, 0)] = page("", recs...)
	src.pages[deletedURL(src, 101, 0)] = page("",
		`{"EntityKey":"`+id3+`","EntityType":2,"Timestamp":60}`,
		`{"EntityKey":"bad","EntityType":2,"Timestamp":61}`,
		`{"EntityKey":"`+id3+`","EntityType":2,"Timestamp":null}`)
	st := &fakeStore{}
	r := NewRunner(Config{Logger: zerolog.Nop(), Enabled: []string{"accounts"}}, st, st, st)
	res, err := r.Run(context.Background(), src, Job{ConnectionID: 1, Division: 101, Entity: "accounts"})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	dres, err := r.Run(context.Background(), src, Job{ConnectionID: 1, Division: 101, Entity: DeletionsJob})
	if err != nil {
		t.Fatalf("Run of the deletions: %v", err)
	}
	if len(st.writes) != 2 || len(st.batches) != 3 {
		t.Fatalf("%d writes of %d batches, want 2 (records; deletions with their cursor)", len(st.writes), len(st.batches))
	}
	b := st.batches[0]
	if len(b.Rows) != 2 || b.Cursor.Timestamp != 50 {
		t.Errorf("records write: %d rows, cursor %d; want 2 rows, cursor 50", len(b.Rows), b.Cursor.Timestamp)
	}
	if len(b.Rejects) != len(hostile) {
		t.Fatalf("records write quarantines %d records, want %d", len(b.Rejects), len(hostile))
	}
	for i, h := range hostile {
		r := b.Rejects[i]
		if !strings.Contains(r.Reason, h.reason) || !strings.Contains(r.Reason, "sync/CRM/Accounts page 1 record") {
			t.Errorf("%s: reason %q, want it to name the page and %q", h.name, r.Reason, h.reason)
		}
		if r.Key != h.key || r.HasTimestamp != (h.ts != 0) || r.Timestamp != h.ts {
			t.Errorf("%s: key %q, timestamp %d (%t); want %q, %d", h.name, r.Key, r.Timestamp, r.HasTimestamp, h.key, h.ts)
		}
		if string(r.Record) != h.record {
			t.Errorf("%s: record bytes %q, want the record as received", h.name, r.Record)
		}
	}
	d, own := st.batches[1], st.batches[2]
	if d.Entity != "accounts" || !d.NoCursor || len(d.Removals) != 1 || d.Removals[0].ID != id3 {
		t.Errorf("deletions write into accounts: %s, no cursor %t, removals %+v; want %s removed, accounts' cursor left alone",
			d.Entity, d.NoCursor, d.Removals, id3)
	}
	if own.Entity != DeletionsJob || len(own.Rejects) != 2 || own.Cursor.Timestamp != 61 {
		t.Errorf("deletions cursor write: %s, rejects %d, cursor %d; want %s, 2 quarantined, cursor 61",
			own.Entity, len(own.Rejects), own.Cursor.Timestamp, DeletionsJob)
	}
	if res.Quarantined != len(hostile) || res.Status != StatusOK {
		t.Errorf("result %+v, want ok with %d quarantined", res, len(hostile))
	}
	if dres.Quarantined != 2 || dres.Removed != 1 || dres.Status != StatusOK || dres.CursorTo != 61 {
		t.Errorf("deletions result %+v, want ok with 1 removed, 2 quarantined, cursor 61", dres)
	}
}

func TestGoodVersionReleasesAQuarantinedRecord(t *testing.T) {
	src := &fakeSource{pages: map[string]string{}, fail: map[string]error{}}
	src.pages[firstURL(src, "accounts", 101, 0)] = page("", account(idQ2, 70, true), account(id1, 71, true))
	src.pages[deletedURL(src, 101, 0)] = page("", `{"EntityKey":"`+idQ3+`","EntityType":2,"Timestamp":72}`)
	st := &fakeStore{quarantined: []string{idQ2, idQ3, "sha256:00"}}
	r := NewRunner(Config{Logger: zerolog.Nop(), Enabled: []string{"accounts"}}, st, st, st)
	for _, entity := range []string{"accounts", DeletionsJob} {
		if _, err := r.Run(context.Background(), src, Job{ConnectionID: 1, Division: 101, Entity: entity}); err != nil {
			t.Fatalf("Run %s: %v", entity, err)
		}
	}
	var got []dest.Release
	for _, b := range st.batches {
		got = append(got, b.Released...)
	}
	want := []dest.Release{{Ref: idQ2, Version: 70}, {Ref: idQ3, Version: 72}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("released (-want +got):\n%s", diff)
	}
}

func TestPanicInARunIsAFailedRun(t *testing.T) {
	tests := []struct {
		name string
		set  func(src *fakeSource, st *fakeStore)
	}{
		{"while fetching a page", func(src *fakeSource, _ *fakeStore) {
			src.hold = func(string) { panic("decoder bug") }
		}},
		{"while writing", func(_ *fakeSource, st *fakeStore) {
			st.hold = func(int) { panic("writer bug") }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &fakeSource{pages: map[string]string{}, fail: map[string]error{}}
			src.pages[firstURL(src, "accounts", 101, 0)] = page("", account(id1, 3, true))
			st := &fakeStore{}
			tt.set(src, st)
			var logs strings.Builder
			r := NewRunner(Config{Logger: zerolog.New(&logs), Enabled: []string{}}, st, st, st)
			res, err := r.Run(context.Background(), src, Job{ConnectionID: 1, Division: 101, Entity: "accounts"})
			if !strings.Contains(logs.String(), "recovered from a panic") || !strings.Contains(logs.String(), "goroutine") {
				t.Errorf("log lacks the panic and its stack:\n%s", logs.String())
			}
			var pe *PanicError
			if !errors.As(err, &pe) || len(pe.Stack) == 0 {
				t.Fatalf("Run error = %v, want a *PanicError with its stack", err)
			}
			if res.Status != StatusFailed || len(st.finished) != 1 || st.finished[0].Status != dest.RunFailed {
				t.Errorf("status %q, recorded %+v; want the run recorded as failed", res.Status, st.finished)
			}
			if st.locked {
				t.Error("the division is still locked after the panic")
			}
		})
	}
}

func TestRowsPostgreSQLRefusesAreQuarantined(t *testing.T) {
	// PostgreSQL refuses the row of idQ1 (a data exception): the batch is split
	// until that row alone fails; it is quarantined, every other row stored, and
	// the cursor moves past the page.
	src := &fakeSource{pages: map[string]string{}, fail: map[string]error{}}
	var recs []string
	for i := 1; i <= 9; i++ {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		if i == 6 {
			id = idQ1
		}
		recs = append(recs, account(id, int64(100+i), true))
	}
	src.pages[firstURL(src, "accounts", 101, 0)] = page("", recs...)
	src.pages[deletedURL(src, 101, 0)] = page("")
	st := &fakeStore{refuse: idQ1}
	res, err := newRunner(st).Run(context.Background(), src, Job{ConnectionID: 1, Division: 101, Entity: "accounts"})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	stored := map[string]bool{}
	var rejects []dest.Reject
	for _, b := range st.batches {
		for _, r := range b.Rows {
			stored[r[accountID()].(string)] = true
		}
		rejects = append(rejects, b.Rejects...)
	}
	if len(stored) != 8 || stored[idQ1] {
		t.Errorf("stored %d rows (%v), want the 8 others", len(stored), stored)
	}
	const reason = "PostgreSQL refused the record: unsupported Unicode escape sequence (SQLSTATE 22P05)"
	if len(rejects) != 1 || rejects[0].Key != idQ1 || rejects[0].Timestamp != 106 || rejects[0].Reason != reason {
		t.Errorf("rejects %+v, want %s refused with the reason %q (the store's words, without its wrapping)", rejects, idQ1, reason)
	}
	if res.Quarantined != 1 || st.cur("accounts").Timestamp != 109 {
		t.Errorf("quarantined %d, cursor %d; want 1, 109", res.Quarantined, st.cur("accounts").Timestamp)
	}
}

func TestRefusedRowWithRawOmittedKeepsItsTypedValues(t *testing.T) {
	// With OmitRaw the row's raw is '{}': the quarantined record is its typed
	// values as a JSON object.
	src := &fakeSource{pages: map[string]string{}, fail: map[string]error{}}
	src.pages[firstURL(src, "accounts", 101, 0)] = page("", account(idQ1, 106, true))
	src.pages[deletedURL(src, 101, 0)] = page("")
	st := &fakeStore{refuse: idQ1}
	r := NewRunner(Config{Logger: zerolog.Nop(), OmitRaw: true, Enabled: []string{}}, st, st, st)
	if _, err := r.Run(context.Background(), src, Job{ConnectionID: 1, Division: 101, Entity: "accounts"}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	var rejects []dest.Reject
	for _, b := range st.batches {
		rejects = append(rejects, b.Rejects...)
	}
	if len(rejects) != 1 {
		t.Fatalf("got %d rejects, want 1", len(rejects))
	}
	var got map[string]any
	if err := json.Unmarshal(rejects[0].Record, &got); err != nil {
		t.Fatalf("quarantined record %s is not a JSON object: %v", rejects[0].Record, err)
	}
	if got["id"] != idQ1 || got["exact_timestamp"] != float64(106) || got["division"] != float64(101) {
		t.Errorf("quarantined record %s, want the typed values of %s at version 106", rejects[0].Record, idQ1)
	}
	if _, ok := got["raw"]; ok {
		t.Errorf("quarantined record %s holds the omitted raw column", rejects[0].Record)
	}
}

func TestLostLockStopsTheRunAndSaysSo(t *testing.T) {
	src, _ := pagedSource(3)
	st := &fakeStore{lockLost: true}
	res, err := newRunner(st).Run(context.Background(), src, Job{ConnectionID: 1, Division: 101, Entity: "accounts"})
	if !errors.Is(err, dest.ErrLockLost) || !strings.Contains(err.Error(), "lock was lost") {
		t.Fatalf("Run error = %v, want ErrLockLost", err)
	}
	if res.Status != StatusLockLost || len(st.finished) != 1 || st.finished[0].Status != dest.RunLockLost {
		t.Errorf("status %q, recorded %+v; want lock_lost", res.Status, st.finished)
	}
	// The write failed on the first batch: nothing after it was stored.
	if len(st.batches) != 0 {
		t.Errorf("%d batches stored after the lock was lost, want none", len(st.batches))
	}
}

// rowWrites returns the batches st wrote with rows (not the sync/Deleted page's) and the
// Timestamp of each of their rows.
func rowWrites(st *fakeStore) (writes []dest.Batch, timestamps [][]int64) {
	for _, b := range st.batches {
		if len(b.Rows) == 0 {
			continue
		}
		var ts []int64
		for _, r := range b.Rows {
			ts = append(ts, r[len(r)-2].(int64))
		}
		writes, timestamps = append(writes, b), append(timestamps, ts)
	}
	return writes, timestamps
}

// timestamps returns the Timestamps of the rows of each write of st with rows.
func timestamps(st *fakeStore) [][]int64 {
	_, ts := rowWrites(st)
	return ts
}

// dayLimitedSource is a fakeSource that can be told a division's day is spent, as the
// exact client can: it then answers every page with the *exact.DailyLimitError of no call.
type dayLimitedSource struct {
	*fakeSource
	events []string // "spent 101" and "page"
	spent  map[int]time.Time
}

func (s *dayLimitedSource) SpentDay(division int, reset time.Time) {
	s.events = append(s.events, fmt.Sprintf("spent %d", division))
	s.spent[division] = reset
}

// RateLimit is what the exact client knows of a day it was only told is spent: no limits.
func (s *dayLimitedSource) RateLimit(division int) exact.RateLimit {
	if reset, ok := s.spent[division]; ok {
		return exact.RateLimit{Known: true, DailyReset: reset}
	}
	return s.fakeSource.RateLimit(division)
}

func (s *dayLimitedSource) Page(ctx context.Context, division int, u string) (*exact.Page, error) {
	s.events = append(s.events, "page")
	if reset, ok := s.spent[division]; ok {
		return nil, &exact.DailyLimitError{Division: division, Reset: reset}
	}
	return s.fakeSource.Page(ctx, division, u)
}

// limitStore is a fakeStore that keeps rate limits as the PostgreSQL store does.
type limitStore struct {
	*fakeStore
	limits map[int]dest.RateLimit
	saved  int
}

func (s *limitStore) DivisionRateLimit(_ context.Context, _ int64, division int) (dest.RateLimit, bool, error) {
	rl, ok := s.limits[division]
	return rl, ok, nil
}

func (s *limitStore) SaveRateLimit(_ context.Context, _ int64, division int, rl dest.RateLimit) error {
	s.saved++
	s.limits[division] = rl
	return nil
}

// TestRunReadsAndStoresSpentDays: a run that holds its division's lock first tells the
// source a day another process stored as spent, before any page, so that no job of the
// division meets a second 429 (§2.4, §2.7); it stores the rate limits the source learnt
// from Exact, and nothing when the source knows only what it was told.
func TestRunReadsAndStoresSpentDays(t *testing.T) {
	reset := time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC)
	src := &dayLimitedSource{fakeSource: &fakeSource{pages: map[string]string{}, def: page(""),
		limit: &exact.RateLimit{Known: true, DailyLimit: 5000, DailyRemaining: 4000}}, spent: map[int]time.Time{}}
	st := &limitStore{fakeStore: &fakeStore{}, limits: map[int]dest.RateLimit{
		102: {DailyLimit: 5000, DailyRemaining: 0, DailyReset: reset},
	}}
	r := NewRunner(Config{Logger: zerolog.Nop(), Enabled: []string{"accounts"}}, st, st, st)
	for _, job := range []Job{{Entity: "accounts"}, {Entity: DeletionsJob}} {
		job.ConnectionID, job.Division = 1, 101
		if res, err := r.Run(context.Background(), src, job); err != nil || res.Status != StatusOK {
			t.Fatalf("%s of division 101: %s, %v; want ok", job.Entity, res.Status, err)
		}
	}
	if st.saved != 2 || st.limits[101].DailyRemaining != 4000 {
		t.Errorf("%d saves, division 101 stored %+v; want one save a run, with the source's 4000 left", st.saved, st.limits[101])
	}
	src.events = nil
	for _, entity := range []string{"accounts", DeletionsJob} {
		res, err := r.Run(context.Background(), src, Job{ConnectionID: 1, Division: 102, Entity: entity})
		var daily *exact.DailyLimitError
		if !errors.As(err, &daily) || res.Status != StatusDailyLimit || !daily.Reset.Equal(reset) {
			t.Errorf("%s of division 102: %s, %v; want daily_limit until %s", entity, res.Status, err, reset)
		}
	}
	if want := []string{"spent 102", "page", "spent 102", "page"}; !slices.Equal(src.events, want) {
		t.Errorf("events %v, want the stored spent day told before each run's first page: %v", src.events, want)
	}
	if st.saved != 2 || st.limits[102].DailyLimit != 5000 {
		t.Errorf("%d saves more, division 102 stored %+v; want none, the stored row kept", st.saved-2, st.limits[102])
	}
}
