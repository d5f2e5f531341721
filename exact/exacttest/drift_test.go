package exacttest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exactsync/exactsync/exact"
)

const (
	linesSync = "/api/v1/101/sync/Financial/TransactionLines?$select=ID,AmountDC,Modified,Timestamp&$filter=Timestamp%20gt%20"
	linesReg  = "/api/v1/101/financialtransaction/TransactionLines"
)

var syncNext = regexp.MustCompile(`\$skiptoken=\d+L$`)

// syncSince reads the sync stream of transaction lines after cursor: ID → Timestamp, and the
// highest Timestamp (cursor when none).
func syncSince(t *testing.T, srv *Server, tok string, cursor int64) (map[string]int64, int64) {
	t.Helper()
	recs, _, _ := fetchPages(t, srv, tok, linesSync+strconv.FormatInt(cursor, 10)+"L", 1000, syncNext)
	out := map[string]int64{}
	for _, r := range recs {
		id, _, err := exact.GUID(r.Field("ID"))
		ts, _, err2 := exact.Int64(r.Field("Timestamp"))
		if err != nil || err2 != nil {
			t.Fatalf("record %s: %v %v", r.Raw(), err, err2)
		}
		out[id] = ts
		cursor = max(cursor, ts)
	}
	return out, cursor
}

func deletedKeys(t *testing.T, srv *Server, tok string, cursor int64) map[string]bool {
	t.Helper()
	recs, _, _ := fetchPages(t, srv, tok, "/api/v1/101/sync/Deleted?$select=EntityKey,Timestamp&$filter=Timestamp%20gt%20"+strconv.FormatInt(cursor, 10)+"L", 1000, syncNext)
	out := map[string]bool{}
	for _, r := range recs {
		id, _, _ := exact.GUID(r.Field("EntityKey"))
		out[id] = true
	}
	return out
}

func postControl(t *testing.T, srv *Server, path string, body any) (int, []byte) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(srv.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func countOf(t *testing.T, srv *Server, tok, path string) int {
	t.Helper()
	resp, b := get(t, srv, tok, path, "")
	n, err := strconv.Atoi(string(b))
	if resp.StatusCode != 200 || err != nil {
		t.Fatalf("GET %s: got %d %s", path, resp.StatusCode, b)
	}
	return n
}

func recordByID(t *testing.T, srv *Server, entity, id string) map[string]any {
	t.Helper()
	for _, r := range simRecords(t, srv, entity, 101) {
		if r["ID"] == id {
			return r
		}
	}
	return nil
}

// TestPlantDrift plants each kind of drift through POST /_sim/drift after a client has read
// the sync stream, and checks what each endpoint then shows: what the client's next
// incremental sync (and sync/Deleted) misses, and what the regular endpoint, /$count and the
// truth (/_sim/records) show instead.
func TestPlantDrift(t *testing.T) {
	srv := newTestServer(t, reconcileOptions(100))
	tok := newAccessTokenFor(t, srv)
	seen, cursor := syncSince(t, srv, tok, 0)
	lines := simRecords(t, srv, "transaction_lines", 101)
	if len(seen) != 100 || len(lines) != 100 {
		t.Fatalf("got %d synced and %d lines, want 100", len(seen), len(lines))
	}
	idOf := func(i int) string { return lines[i]["ID"].(string) }
	counted := countOf(t, srv, tok, linesReg+"/$count")

	t.Run("deletion older than the log", func(t *testing.T) {
		status, b := postControl(t, srv, "/_sim/drift", map[string]any{"entity": "transaction_lines", "division": 101, "delete_unlogged": []string{idOf(3)}})
		if status != 200 {
			t.Fatalf("got %d %s", status, b)
		}
		if deletedKeys(t, srv, tok, 0)[idOf(3)] {
			t.Error("sync/Deleted serves the unlogged deletion")
		}
		if got, _ := syncSince(t, srv, tok, cursor); len(got) != 0 {
			t.Errorf("incremental sync: got %v, want nothing", got)
		}
		if recordByID(t, srv, "transaction_lines", idOf(3)) != nil {
			t.Error("/_sim/records still has the deleted line")
		}
		if got := countOf(t, srv, tok, linesReg+"/$count"); got != counted-1 {
			t.Errorf("/$count: got %d, want %d", got, counted-1)
		}
		// An ordinary deletion of another line is logged, at a Timestamp after the cursor.
		if err := srv.DeleteRecords("transaction_lines", 101, idOf(4)); err != nil {
			t.Fatal(err)
		}
		if d := deletedKeys(t, srv, tok, cursor); !d[idOf(4)] || d[idOf(3)] {
			t.Errorf("sync/Deleted after the cursor: got %v, want only %s", d, idOf(4))
		}
	})
	_, cursor = syncSince(t, srv, tok, 0)
	cursor = max(cursor, srv.data[101].nextTS-1)

	t.Run("change without a new Timestamp", func(t *testing.T) {
		before := recordByID(t, srv, "transaction_lines", idOf(5))
		status, b := postControl(t, srv, "/_sim/drift", map[string]any{"entity": "transaction_lines", "division": 101,
			"silent_changes": []map[string]any{{"ID": idOf(5), "AmountDC": json.Number("7.77")}}})
		if status != 200 {
			t.Fatalf("got %d %s", status, b)
		}
		after := recordByID(t, srv, "transaction_lines", idOf(5))
		if after["AmountDC"] != json.Number("7.77") || after["Timestamp"] != before["Timestamp"] || after["Modified"] != before["Modified"] {
			t.Errorf("got AmountDC %v Timestamp %v Modified %v, want 7.77 and the old %v, %v", after["AmountDC"], after["Timestamp"],
				after["Modified"], before["Timestamp"], before["Modified"])
		}
		if got, _ := syncSince(t, srv, tok, cursor); len(got) != 0 {
			t.Errorf("incremental sync: got %v, want nothing", got)
		}
		_, b = getJSON(t, srv, tok, linesReg+"(guid'"+idOf(5)+"')?$select=AmountDC")
		if !bytes.Contains(b, []byte(`"AmountDC":7.77`)) {
			t.Errorf("regular endpoint by key: got %s, want AmountDC 7.77", b)
		}
		// A changed line (in memory, not generated) changed silently too keeps its Timestamp.
		if _, err := srv.UpsertRecords("transaction_lines", 101, map[string]any{"ID": idOf(6), "AmountDC": 1}); err != nil {
			t.Fatal(err)
		}
		_, cursor = syncSince(t, srv, tok, cursor)
		if _, err := srv.PlantDrift("transaction_lines", 101, Drift{SilentChanges: []map[string]any{{"ID": idOf(6), "AmountDC": 2}}}); err != nil {
			t.Fatal(err)
		}
		if got, _ := syncSince(t, srv, tok, cursor); len(got) != 0 {
			t.Errorf("incremental sync after the second silent change: got %v, want nothing", got)
		}
		if got := recordByID(t, srv, "transaction_lines", idOf(6)); got["AmountDC"] != json.Number("2") {
			t.Errorf("got AmountDC %v, want 2", got["AmountDC"])
		}
	})

	t.Run("record counted but never synced", func(t *testing.T) {
		n := countOf(t, srv, tok, linesReg+"/$count")
		status, b := postControl(t, srv, "/_sim/drift", map[string]any{"entity": "transaction_lines", "division": 101,
			"hidden": []map[string]any{{"AmountDC": 5, "FinancialYear": 2025}}, "hide": []string{idOf(7)}})
		if status != 200 {
			t.Fatalf("got %d %s", status, b)
		}
		var res struct {
			HiddenKeys []string `json:"hidden_keys"`
		}
		if err := json.Unmarshal(b, &res); err != nil || len(res.HiddenKeys) != 1 {
			t.Fatalf("got %s, want one hidden key", b)
		}
		hidden := res.HiddenKeys[0]
		if got := countOf(t, srv, tok, linesReg+"/$count"); got != n+1 {
			t.Errorf("/$count: got %d, want %d", got, n+1)
		}
		if got, _ := syncSince(t, srv, tok, cursor); len(got) != 0 {
			t.Errorf("incremental sync: got %v, want nothing", got)
		}
		full, _ := syncSince(t, srv, tok, 0)
		if _, ok := full[hidden]; ok {
			t.Error("a full sync serves the hidden record")
		}
		if _, ok := full[idOf(7)]; ok {
			t.Error("a full sync serves the hidden existing record")
		}
		if got := len(full); got != n-1 {
			t.Errorf("full sync: got %d lines, want %d (count %d minus the hidden existing one)", got, n-1, n+1)
		}
		_, b = getJSON(t, srv, tok, linesReg+"?$select=ID&$filter=ID%20eq%20guid'"+hidden+"'")
		if !strings.Contains(string(b), hidden) {
			t.Errorf("regular endpoint: got %s, want the hidden record", b)
		}
		ts := strconv.FormatInt(srv.data[101].tables[linesEntity].cur[hidden].ts, 10)
		if resp, b := getJSON(t, srv, tok, "/api/v1/101/sync/Financial/TransactionLines("+ts+"L)?$select=ID"); resp.StatusCode != 404 {
			t.Errorf("sync by key: got %d %s, want 404", resp.StatusCode, b)
		}
		// Changed again the ordinary way, it is served.
		if _, err := srv.UpsertRecords("transaction_lines", 101, map[string]any{"ID": hidden, "AmountDC": 6}); err != nil {
			t.Fatal(err)
		}
		if got, _ := syncSince(t, srv, tok, cursor); len(got) != 1 || got[hidden] == 0 {
			t.Errorf("incremental sync after an ordinary change: got %v, want the record", got)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			body map[string]any
			want string
		}{
			{"unknown key", map[string]any{"entity": "transaction_lines", "division": 101, "delete_unlogged": []string{"00000000-0000-0000-0000-000000000001"}}, "no such record"},
			{"silent change without key", map[string]any{"entity": "transaction_lines", "division": 101, "silent_changes": []map[string]any{{"AmountDC": 1}}}, "the key ID is required"},
			{"silent change of no record", map[string]any{"entity": "transaction_lines", "division": 101, "silent_changes": []map[string]any{{"ID": "00000000-0000-0000-0000-000000000001"}}}, "no such record"},
			{"hide no record", map[string]any{"entity": "transaction_lines", "division": 101, "hide": []string{"00000000-0000-0000-0000-000000000001"}}, "no such record"},
			{"unknown entity", map[string]any{"entity": "nope", "division": 101}, `unknown entity`},
			{"unknown division", map[string]any{"entity": "transaction_lines", "division": 999}, "unknown division 999"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				status, b := postControl(t, srv, "/_sim/drift", tt.body)
				if status != 400 || !strings.Contains(string(b), tt.want) {
					t.Errorf("got %d %s, want 400 containing %q", status, b, tt.want)
				}
			})
		}
	})
}

// TestDeletionLogKeepsTwoMonths: sync/Deleted serves a deletion for two months (60 days) and
// then no more (§3.12); Options.DeletedRetention shortens the log.
func TestDeletionLogKeepsTwoMonths(t *testing.T) {
	for _, tt := range []struct {
		name      string
		retention time.Duration
		kept      time.Duration // still served after this
		gone      time.Duration // no longer served after this (more)
	}{
		{"two months", 0, 59 * 24 * time.Hour, 2 * 24 * time.Hour},
		{"a day", 24 * time.Hour, 23 * time.Hour, 2 * time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := reconcileOptions(10)
			opts.DeletedRetention = tt.retention
			srv := newTestServer(t, opts)
			lines := simRecords(t, srv, "transaction_lines", 101)
			id := lines[0]["ID"].(string)
			if err := srv.DeleteRecords("transaction_lines", 101, id); err != nil {
				t.Fatal(err)
			}
			advance := func(d time.Duration) (tok string) {
				for d > 0 { // refresh within the 30-day idle expiry
					step := min(d, 20*24*time.Hour)
					srv.Advance(step)
					d -= step
					tok = newAccessTokenFor(t, srv)
				}
				return tok
			}
			tok := advance(tt.kept)
			if !deletedKeys(t, srv, tok, 0)[id] {
				t.Errorf("after %v: the deletion is gone, want it kept", tt.kept)
			}
			tok = advance(tt.gone)
			if deletedKeys(t, srv, tok, 0)[id] {
				t.Errorf("after %v: the deletion is served, want it gone", tt.kept+tt.gone)
			}
		})
	}
}

// TestSyncTimestamp: read/sync/Sync/SyncTimestamp answers the Timestamp of the first record
// modified on or after the date (§3.10, §3.16), read with exactsync's decoder, and a sync
// from one below it serves every record modified since.
func TestSyncTimestamp(t *testing.T) {
	srv := newTestServer(t, reconcileOptions(300))
	tok := newAccessTokenFor(t, srv)
	type line struct {
		id  string
		mod time.Time
		ts  int64
	}
	var lines []line
	for _, r := range simRecords(t, srv, "transaction_lines", 101) {
		mod, ok, err := exact.Date([]byte(`"` + r["Modified"].(string) + `"`))
		ts, _ := r["Timestamp"].(json.Number).Int64()
		if err != nil || !ok {
			t.Fatalf("Modified %v: %v", r["Modified"], err)
		}
		lines = append(lines, line{r["ID"].(string), mod, ts})
	}
	firstSince := func(at time.Time) int64 {
		best := int64(-1)
		for _, l := range lines {
			if !l.mod.Before(at) && (best < 0 || l.ts < best) {
				best = l.ts
			}
		}
		return best
	}
	literal := func(at time.Time) string {
		return "datetime'" + at.In(amsterdam).Format("2006-01-02T15:04:05.000") + "'"
	}
	path := func(modified, endpoint string) string {
		return "/api/v1/101/read/sync/Sync/SyncTimestamp?modified=" + url.QueryEscape(modified) + "&endPoint=" + url.QueryEscape(endpoint)
	}
	mid := lines[len(lines)/2].mod
	type want struct {
		status int
		ts     int64 // -1: no record
		msg    string
	}
	tests := []struct {
		name string
		path string
		want want
	}{
		{"a date before every record", path("datetime'2000-01-01'", "'TransactionLines'"), want{200, firstSince(time.Time{}), ""}},
		{"a record's Modified, inclusive", path(literal(mid), "'TransactionLines'"), want{200, firstSince(mid), ""}},
		{"a millisecond later", path(literal(mid.Add(time.Millisecond)), "'TransactionLines'"), want{200, firstSince(mid.Add(time.Millisecond)), ""}},
		{"after every record", path("datetime'2030-01-01T00:00:00'", "'TransactionLines'"), want{200, -1, ""}},
		{"endpoint name in any case", path(literal(mid), "'transactionlines'"), want{200, firstSince(mid), ""}},
		{"Accounts not supported", path(literal(mid), "'Accounts'"), want{400, 0, "The endPoint 'Accounts' is not supported by SyncTimestamp."}},
		{"modified missing", "/api/v1/101/read/sync/Sync/SyncTimestamp?endPoint='TransactionLines'", want{400, 0, "Mandatory parameter 'modified' is missing or not a datetime'…' literal."}},
		{"modified not a datetime", path("'2024-01-01'", "'TransactionLines'"), want{400, 0, "Mandatory parameter 'modified' is missing or not a datetime'…' literal."}},
		{"endPoint missing", "/api/v1/101/read/sync/Sync/SyncTimestamp?modified=datetime'2024-01-01'", want{400, 0, "Mandatory parameter 'endPoint' is missing or not a quoted endpoint name such as 'TransactionLines'."}},
	}
	if tests[1].want.ts == tests[2].want.ts && tests[1].want.ts == tests[0].want.ts {
		t.Fatal("the data cannot tell the dates apart")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := getJSON(t, srv, tok, tt.path)
			if resp.StatusCode != tt.want.status {
				t.Fatalf("got %d %s, want %d", resp.StatusCode, b, tt.want.status)
			}
			if tt.want.msg != "" {
				if got := errorMessage(t, b); got != tt.want.msg {
					t.Errorf("got message %q, want %q", got, tt.want.msg)
				}
				return
			}
			p, err := exact.DecodePage("read/sync/Sync/SyncTimestamp", b)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want.ts < 0 {
				if len(p.Records) != 0 {
					t.Errorf("got %d records, want none", len(p.Records))
				}
				return
			}
			if len(p.Records) != 1 {
				t.Fatalf("got %d records, want 1: %s", len(p.Records), b)
			}
			r := p.Records[0]
			ts, _, err := exact.Int64(r.Field("TimeStampAsBigInt"))
			api, _, _ := exact.String(r.Field("API"))
			if err != nil || ts != tt.want.ts || api != "TransactionLines" {
				t.Errorf("got TimeStampAsBigInt %s API %q (%v), want %d TransactionLines", r.Field("TimeStampAsBigInt"), api, err, tt.want.ts)
			}
			// Re-read from it: every record modified since comes.
			since, _, _ := exact.Date(r.Field("Modified"))
			got, _ := syncSince(t, srv, tok, ts-1)
			for _, l := range lines {
				if _, ok := got[l.id]; !l.mod.Before(since) && !ok {
					t.Errorf("record %s modified %v not re-read from %d", l.id, l.mod, ts-1)
				}
			}
		})
	}
	// A record changed now is the first modified since now; re-read from it, it comes.
	keys, err := srv.UpsertRecords("transaction_lines", 101, map[string]any{"ID": lines[0].id, "AmountDC": 3})
	if err != nil {
		t.Fatal(err)
	}
	_, b := getJSON(t, srv, tok, path(literal(srv.Now()), "'TransactionLines'"))
	p, err := exact.DecodePage("read/sync/Sync/SyncTimestamp", b)
	if err != nil || len(p.Records) != 1 {
		t.Fatalf("got %s (%v), want one record", b, err)
	}
	ts, _, _ := exact.Int64(p.Records[0].Field("TimeStampAsBigInt"))
	if got, _ := syncSince(t, srv, tok, ts-1); len(got) != 1 || got[keys[0]] != ts {
		t.Errorf("re-read from %d: got %v, want only %s", ts-1, got, keys[0])
	}
	// Options.SyncTimestampEndpoints replaces the list.
	opts := reconcileOptions(0)
	opts.SyncTimestampEndpoints = []string{"Accounts"}
	srv2 := newTestServer(t, opts)
	tok2 := newAccessTokenFor(t, srv2)
	if resp, b := getJSON(t, srv2, tok2, path("datetime'2000-01-01'", "'Accounts'")); resp.StatusCode != 200 || !strings.Contains(string(b), `"API":"Accounts"`) {
		t.Errorf("Accounts allowed: got %d %s", resp.StatusCode, b)
	}
	if resp, _ := getJSON(t, srv2, tok2, path("datetime'2000-01-01'", "'TransactionLines'")); resp.StatusCode != 400 {
		t.Errorf("TransactionLines not in the list: got %d, want 400", resp.StatusCode)
	}
}

// TestBulkEndpointsServeTheIDSet: the bulk endpoints of §3.13 the catalogue's entities have
// serve 1,000 records a page with $select required, and their ID set is the truth's: a
// record hidden from the sync endpoint is in it, one deleted beyond the deletion log is not,
// which is how a client finds deletions older than the log (§3.16).
func TestBulkEndpointsServeTheIDSet(t *testing.T) {
	opts := reconcileOptions(1500)
	opts.Records["items"] = 5
	srv := newTestServer(t, opts)
	tok := newAccessTokenFor(t, srv)
	lines := simRecords(t, srv, "transaction_lines", 101)
	keys, err := srv.PlantDrift("transaction_lines", 101, Drift{DeleteUnlogged: []string{lines[9]["ID"].(string)}, Hidden: []map[string]any{{"AmountDC": 1, "FinancialYear": 2025}}})
	if err != nil {
		t.Fatal(err)
	}
	const bulk = "/api/v1/101/bulk/Financial/TransactionLines"
	for _, tt := range []struct {
		name, path string
		status     int
		message    string
	}{
		{"select required", bulk, 400, msgSelectRequired},
		{"no $skip", bulk + "?$select=ID&$skip=10", 400, msgSkipRefused},
		{"mandatory filtering on items", "/api/v1/101/bulk/Logistics/Items?$select=ID", 400, msgMandatory + entitiesByName["items"].filterFields() + "."},
		{"items with a filter", "/api/v1/101/bulk/Logistics/Items?$select=ID&$filter=Code%20ne%20''", 200, ""},
		{"an endpoint §3.13 does not list", "/api/v1/101/bulk/HRM/Schedules?$select=ID", 404, "Resource not found for the segment 'Schedules'."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := getJSON(t, srv, tok, tt.path)
			if resp.StatusCode != tt.status {
				t.Fatalf("got %d %.300s, want %d", resp.StatusCode, b, tt.status)
			}
			if tt.message != "" {
				if got := errorMessage(t, b); got != tt.message {
					t.Errorf("got message %q, want %q", got, tt.message)
				}
			}
		})
	}
	recs, _, calls := fetchPages(t, srv, tok, bulk+"?$select=ID&$filter=FinancialYear%20ge%200", 1000, regexp.MustCompile(`\$skiptoken=guid'[0-9a-f-]{36}'$`))
	got := map[string]bool{}
	for _, r := range recs {
		id, _, _ := exact.GUID(r.Field("ID"))
		got[id] = true
	}
	want := map[string]bool{}
	for _, l := range simRecords(t, srv, "transaction_lines", 101) {
		if keyPart(l["FinancialYear"]) != "null" {
			want[l["ID"].(string)] = true
		}
	}
	if len(got) != len(want) || calls != 2 {
		t.Errorf("got %d IDs in %d calls, want %d in 2", len(got), calls, len(want))
	}
	for id := range want {
		if !got[id] {
			t.Errorf("ID %s of the truth not served", id)
		}
	}
	if got[lines[9]["ID"].(string)] || !got[keys[0]] {
		t.Errorf("the line deleted beyond the log served %v, the hidden one %v; want false, true", got[lines[9]["ID"].(string)], got[keys[0]])
	}
}

// TestHiddenFromSyncOption: Options.HiddenFromSync hides generated records from the sync
// endpoint from the start, in every division, while /$count counts them.
func TestHiddenFromSyncOption(t *testing.T) {
	opts := reconcileOptions(50)
	opts.HiddenFromSync = map[string]int{"transaction_lines": 3, "accounts": 2}
	srv := newTestServer(t, opts)
	tok := newAccessTokenFor(t, srv)
	for _, tt := range []struct {
		sync, count string
		total       int
	}{
		{"/sync/Financial/TransactionLines?$select=ID&$filter=Timestamp%20gt%200L", "/financialtransaction/TransactionLines/$count", 50},
		{"/sync/CRM/Accounts?$select=ID&$filter=Timestamp%20gt%200L", "/crm/Accounts/$count?$filter=Type%20eq%20'A'%20or%20Type%20ne%20'A'", 150},
	} {
		for _, div := range []string{"101", "102"} {
			recs, _, _ := fetchPages(t, srv, tok, "/api/v1/"+div+tt.sync, 1000, syncNext)
			n := countOf(t, srv, tok, "/api/v1/"+div+tt.count)
			hidden := opts.HiddenFromSync["transaction_lines"]
			if strings.Contains(tt.sync, "Accounts") {
				hidden = opts.HiddenFromSync["accounts"]
			}
			if n != tt.total || len(recs) != tt.total-hidden {
				t.Errorf("division %s %s: got %d synced and a count of %d, want %d and %d", div, tt.sync, len(recs), n, tt.total-hidden, tt.total)
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("HiddenFromSync of an entity without a sync endpoint: want a panic")
		}
	}()
	New(Options{HiddenFromSync: map[string]int{"journals": 1}})
}
