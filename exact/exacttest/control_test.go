package exacttest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func post(t *testing.T, srv *Server, path, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestControlClock(t *testing.T) {
	srv := newTestServer(t, testOptions(0))
	status, b := post(t, srv, "/_sim/clock", `{"advance":"9m30s"}`)
	if status != 200 || !strings.Contains(string(b), "2026-01-05T09:09:30Z") {
		t.Errorf("got %d %s, want now 09:09:30", status, b)
	}
	if got, want := srv.Now(), time.Date(2026, 1, 5, 9, 9, 30, 0, time.UTC); !got.Equal(want) {
		t.Errorf("got Now %v, want %v", got, want)
	}
	if status, _ := post(t, srv, "/_sim/clock", `{"advance":"soon"}`); status != 400 {
		t.Errorf("bad duration: got %d, want 400", status)
	}
}

func TestClockFollowsRealTime(t *testing.T) {
	srv := New(Options{})
	a := srv.Now()
	time.Sleep(5 * time.Millisecond)
	if b := srv.Now(); !b.After(a) {
		t.Errorf("got %v then %v, want a running clock", a, b)
	}
}

func TestControlAccounts(t *testing.T) {
	srv := newTestServer(t, testOptions(3))
	base := srv.Accounts(101)
	body := `{"division":101,"upsert":[
		{"ID":"` + strings.ToUpper(base[0].ID) + `","Name":"Gewijzigd","IsSupplier":true,"Email":null},
		{"ID":"11111111-2222-4333-8444-555555555555","Name":"Nieuwe Leverancier","Code":"77","IsSupplier":true,"City":"Zürich"}
	],"delete":["` + base[1].ID + `"]}`
	if status, b := post(t, srv, "/_sim/accounts", body); status != 200 {
		t.Fatalf("POST /_sim/accounts: got %d %s", status, b)
	}
	// Upsert merges over the current record.
	got, ok := srv.Account(101, base[0].ID)
	want := base[0]
	want.Name, want.IsSupplier, want.Email = "Gewijzigd", true, nil
	want.Modified, want.Timestamp = srv.Now(), 4
	if !ok {
		t.Fatal("changed account missing")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("merged account (-want +got):\n%s", diff)
	}
	created, _ := srv.Account(101, "11111111-2222-4333-8444-555555555555")
	if created.Code != "                77" || created.Timestamp != 5 || *created.City != "Zürich" || created.Division != 101 {
		t.Errorf("created account: got %+v", created)
	}
	if _, ok := srv.Account(101, base[1].ID); ok {
		t.Errorf("deleted account still present")
	}
	resp, err := http.Get(srv.URL + "/_sim/accounts?division=101")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var truth []Account
	if err := json.NewDecoder(resp.Body).Decode(&truth); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(srv.Accounts(101), truth); diff != "" || len(truth) != 3 {
		t.Errorf("GET /_sim/accounts (-Accounts +GET), %d rows:\n%s", len(truth), diff)
	}
	bad := []struct{ name, body string }{
		{"unknown field", `{"division":101,"upsert":[{"Nope":1}]}`},
		{"unknown division", `{"division":9,"upsert":[{"Name":"x"}]}`},
		{"delete unknown", `{"division":101,"delete":["11111111-2222-4333-8444-000000000000"]}`},
	}
	for _, tt := range bad {
		if status, _ := post(t, srv, "/_sim/accounts", tt.body); status != 400 {
			t.Errorf("%s: got %d, want 400", tt.name, status)
		}
	}
}

func TestControlStats(t *testing.T) {
	srv := newTestServer(t, testOptions(3))
	tok := newAccessTokenFor(t, srv)
	getJSON(t, srv, tok, "/api/v1/101/sync/CRM/Accounts?$select=ID")
	getJSON(t, srv, "", "/api/v1/current/Me")
	resp, err := http.Get(srv.URL + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	want := Stats{
		TokenCalls:        map[string]int{"refresh_token/ok": 1},
		APICalls:          map[string]int{"101 sync/CRM/Accounts": 1, "current/Me": 1},
		TooManyByDivision: map[string]int{},
		Unauthorized:      1,
		MaxConcurrent:     map[string]int{"101": 1},
	}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	if st.TotalTokenCalls() != 1 || st.Calls(101, "sync/CRM/Accounts") != 1 {
		t.Errorf("got TotalTokenCalls %d, Calls %d, want 1 and 1", st.TotalTokenCalls(), st.Calls(101, "sync/CRM/Accounts"))
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name       string
		faults     Faults
		wantStatus []int
		check      func(t *testing.T, b []byte, d time.Duration)
	}{
		{name: "error rate", faults: Faults{ErrorRate: 1}, wantStatus: []int{500, 503}},
		{name: "truncated body", faults: Faults{TruncateRate: 1}, wantStatus: []int{200},
			check: func(t *testing.T, b []byte, _ time.Duration) {
				if json.Valid(b) {
					t.Errorf("got valid JSON %s, want a truncated body", b)
				}
			}},
		{name: "latency", faults: Faults{Latency: 30 * time.Millisecond}, wantStatus: []int{200},
			check: func(t *testing.T, _ []byte, d time.Duration) {
				if d < 30*time.Millisecond {
					t.Errorf("took %v, want >= 30ms", d)
				}
			}},
		{name: "malformed next", faults: Faults{MalformedNext: 1}, wantStatus: []int{200},
			check: func(t *testing.T, b []byte, _ time.Duration) {
				var p page
				_ = json.Unmarshal(b, &p)
				if !strings.HasPrefix(p.D.Next, "/api/v1/") {
					t.Errorf("got __next %q, want it without scheme and host", p.D.Next)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t, testOptions(1200))
			tok := newAccessTokenFor(t, srv)
			srv.SetFaults(tt.faults)
			start := time.Now()
			resp, b := getJSON(t, srv, tok, "/api/v1/101/sync/CRM/Accounts?$select=ID")
			if !containsInt(tt.wantStatus, resp.StatusCode) {
				t.Fatalf("got status %d, want one of %v", resp.StatusCode, tt.wantStatus)
			}
			if tt.check != nil {
				tt.check(t, b, time.Since(start))
			}
			if tt.faults.Latency == 0 && srv.Stats().FaultsInjected != 1 {
				t.Errorf("got %d faults injected, want 1", srv.Stats().FaultsInjected)
			}
		})
	}
}

func containsInt(list []int, n int) bool {
	for _, v := range list {
		if v == n {
			return true
		}
	}
	return false
}

// Two calls of one division at once show as max_concurrent 2; calls of two divisions at
// once leave each at 1.
func TestStatsMaxConcurrent(t *testing.T) {
	srv := newTestServer(t, Options{Accounts: 3, Seed: 1, Divisions: []int{101, 102}, FreezeClock: true, Faults: Faults{Latency: 200 * time.Millisecond}})
	tok := newAccessTokenFor(t, srv)
	var wg gosync.WaitGroup
	for _, div := range []int{101, 101, 102} {
		wg.Go(func() { getJSON(t, srv, tok, fmt.Sprintf("/api/v1/%d/sync/CRM/Accounts?$select=ID", div)) })
	}
	wg.Wait()
	st := srv.Stats()
	if got := st.MaxConcurrent; got["101"] != 2 || got["102"] != 1 {
		t.Errorf("max_concurrent %v, want 101: 2, 102: 1", got)
	}
}
