package exacttest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestMaintenance(t *testing.T) {
	ams := func(month time.Month, day, h, m int) time.Time {
		return time.Date(2026, month, day, h, m, 0, 0, amsterdam)
	}
	tests := []struct {
		name       string
		opts       Options
		now        time.Time
		want503    bool
		wantInBody string
	}{
		{name: "off by default, in the window", now: ams(1, 5, 4, 10)},
		{name: "winter 04:00 CET", opts: Options{Maintenance: true}, now: ams(1, 5, 4, 0), want503: true},
		{name: "winter 04:29:59", opts: Options{Maintenance: true}, now: ams(1, 5, 4, 29).Add(59 * time.Second), want503: true},
		{name: "winter 04:30 is open again", opts: Options{Maintenance: true}, now: ams(1, 5, 4, 30)},
		{name: "winter 03:59", opts: Options{Maintenance: true}, now: ams(1, 5, 3, 59)},
		{name: "03:10 UTC is 04:10 in winter", opts: Options{Maintenance: true}, now: time.Date(2026, 1, 5, 3, 10, 0, 0, time.UTC), want503: true},
		{name: "summer 04:10 CEST", opts: Options{Maintenance: true}, now: ams(7, 1, 4, 10), want503: true},
		{name: "summer 03:10 CEST (04:10 CET) is open", opts: Options{Maintenance: true}, now: ams(7, 1, 3, 10)},
		{name: "custom window", opts: Options{Maintenance: true, MaintenanceStart: 12 * time.Hour, MaintenanceEnd: 13 * time.Hour},
			now: ams(1, 5, 12, 30), want503: true},
		{name: "custom window leaves 04:10 open", opts: Options{Maintenance: true, MaintenanceStart: 12 * time.Hour, MaintenanceEnd: 13 * time.Hour},
			now: ams(1, 5, 4, 10)},
		{name: "window over midnight", opts: Options{Maintenance: true, MaintenanceStart: 23 * time.Hour, MaintenanceEnd: time.Hour},
			now: ams(1, 5, 0, 30), want503: true},
		{name: "window over midnight, after it", opts: Options{Maintenance: true, MaintenanceStart: 23 * time.Hour, MaintenanceEnd: time.Hour},
			now: ams(1, 5, 1, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Accounts, opts.Seed, opts.FreezeClock, opts.MinutelyLimit = 3, 1, true, 60
			opts.Start = tt.now
			srv := newTestServer(t, opts)
			// The window is checked before authentication: inside it even a bad token gets 503.
			tok := "not-a-token"
			if !tt.want503 {
				tok = newAccessTokenFor(t, srv)
			}

			want := http.StatusOK
			if tt.want503 {
				want = http.StatusServiceUnavailable
			}
			calls := []struct{ name, path string }{
				{"REST", "/api/v1/101/sync/CRM/Accounts?$filter=Timestamp%20gt%200L&$select=ID"},
				{"current/Me", "/api/v1/current/Me"},
			}
			for _, c := range calls {
				resp, b := getJSON(t, srv, tok, c.path)
				if resp.StatusCode != want {
					t.Fatalf("%s: got status %d, want %d", c.name, resp.StatusCode, want)
				}
				if !tt.want503 {
					continue
				}
				if got := errorMessage(t, b); got != msgMaintenance {
					t.Errorf("%s: got message %q, want %q", c.name, got, msgMaintenance)
				}
				if h := resp.Header.Get("X-RateLimit-Minutely-Remaining"); h != "" {
					t.Errorf("%s: got X-RateLimit-Minutely-Remaining %q, want none during maintenance", c.name, h)
				}
			}
			resp, _ := tokenCall(t, srv, refreshForm(srv, srv.RefreshToken()))
			wantToken := http.StatusBadRequest // outside the window: the 570-second rule (§1.8)
			if tt.want503 {
				wantToken = http.StatusServiceUnavailable
			}
			if resp.StatusCode != wantToken {
				t.Errorf("token endpoint: got status %d, want %d", resp.StatusCode, wantToken)
			}
			st := srv.Stats()
			wantCount := 0
			if tt.want503 { // REST, current/Me and the token call
				wantCount = 3
				if got := st.TokenCalls["refresh_token/maintenance"]; got != 1 {
					t.Errorf("got %d refresh_token/maintenance token calls, want 1", got)
				}
			}
			if st.Maintenance != wantCount {
				t.Errorf("got Stats.Maintenance %d, want %d", st.Maintenance, wantCount)
			}
			if got := st.Calls(101, "sync/CRM/Accounts"); got != 1 {
				t.Errorf("got %d counted sync calls, want 1 (maintenance answers are counted too)", got)
			}
		})
	}
}

func TestMaintenanceAuthorize(t *testing.T) {
	opts := testOptions(0)
	opts.Maintenance = true
	opts.Start = time.Date(2026, 1, 5, 3, 15, 0, 0, time.UTC) // 04:15 in Amsterdam
	srv := newTestServer(t, opts)
	q := url.Values{"client_id": {srv.opts.ClientID}, "redirect_uri": {srv.opts.RedirectURI}, "response_type": {"code"}}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(srv.URL + "/api/oauth2/auth?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("got status %d, want 503", resp.StatusCode)
	}
	// The control endpoints stay up.
	status, b := post(t, srv, "/_sim/clock", `{"advance":"15m"}`)
	if status != http.StatusOK || !strings.Contains(string(b), "T03:30:00Z") {
		t.Errorf("POST /_sim/clock: got %d %s, want 200 at 03:30Z", status, b)
	}
	resp, err = client.Get(srv.URL + "/api/oauth2/auth?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("after the window: got status %d, want 302", resp.StatusCode)
	}
}
