package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/google/go-cmp/cmp"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		check   func(t *testing.T, addr string, opts exacttest.Options)
	}{
		{name: "defaults", check: func(t *testing.T, addr string, opts exacttest.Options) {
			if addr != "127.0.0.1:0" || !cmp.Equal(opts.Divisions, []int{101, 102}) || opts.Accounts != 500 || opts.NoMandatoryFilter {
				t.Errorf("got addr %q divisions %v accounts %d no mandatory filter %v", addr, opts.Divisions, opts.Accounts, opts.NoMandatoryFilter)
			}
			if opts.Maintenance || opts.MaintenanceStart != 4*time.Hour || opts.MaintenanceEnd != 4*time.Hour+30*time.Minute ||
				opts.EmptyUnauthorizedBody || opts.NoBareEnvelope {
				t.Errorf("got maintenance %v %v-%v, empty 401 %v, no bare envelope %v; want off 4h0m0s-4h30m0s false false",
					opts.Maintenance, opts.MaintenanceStart, opts.MaintenanceEnd, opts.EmptyUnauthorizedBody, opts.NoBareEnvelope)
			}
		}},
		{name: "webhook knobs", args: []string{"--webhook-secret", "s", "--webhook-delay", "2s", "--webhook-loss", "0.5", "--webhook-duplicates", "2", "--webhook-wrong-signature"},
			check: func(t *testing.T, _ string, opts exacttest.Options) {
				want := exacttest.WebhookOptions{Secret: "s", ValidationDelay: time.Second, Delay: 2 * time.Second, LossRate: 0.5, Duplicates: 2, WrongSignature: true}
				if opts.Webhooks != want {
					t.Errorf("got webhooks %+v, want %+v", opts.Webhooks, want)
				}
			}},
		{name: "webhook loss over 1", args: []string{"--webhook-loss", "2"}, wantErr: true},
		{name: "double-dash with =", args: []string{"--divisions=7,8,9", "--accounts", "3", "--mandatory-filter=false"},
			check: func(t *testing.T, _ string, opts exacttest.Options) {
				if !cmp.Equal(opts.Divisions, []int{7, 8, 9}) || opts.Accounts != 3 || !opts.NoMandatoryFilter {
					t.Errorf("got divisions %v accounts %d no mandatory filter %v", opts.Divisions, opts.Accounts, opts.NoMandatoryFilter)
				}
			}},
		{name: "maintenance, empty 401, no bare envelope",
			args: []string{"--maintenance", "--maintenance-window", "23:30-00:15", "--unauthorized-body=empty", "--bare-envelope=false"},
			check: func(t *testing.T, _ string, opts exacttest.Options) {
				if !opts.Maintenance || opts.MaintenanceStart != 23*time.Hour+30*time.Minute || opts.MaintenanceEnd != 15*time.Minute ||
					!opts.EmptyUnauthorizedBody || !opts.NoBareEnvelope {
					t.Errorf("got maintenance %v %v-%v, empty 401 %v, no bare envelope %v; want on 23h30m0s-15m0s true true",
						opts.Maintenance, opts.MaintenanceStart, opts.MaintenanceEnd, opts.EmptyUnauthorizedBody, opts.NoBareEnvelope)
				}
			}},
		{name: "records", args: []string{"--records", "transaction_lines=200000, items=5000,*=0"},
			check: func(t *testing.T, _ string, opts exacttest.Options) {
				if want := map[string]int{"transaction_lines": 200000, "items": 5000, "*": 0}; !cmp.Equal(opts.Records, want) {
					t.Errorf("got records %v, want %v", opts.Records, want)
				}
			}},
		{name: "records of an unknown entity", args: []string{"--records", "nope=1"}, wantErr: true},
		{name: "records of suppliers", args: []string{"--records", "suppliers=1"}, wantErr: true},
		{name: "records of accounts", args: []string{"--records", "accounts=1"}, wantErr: true},
		{name: "records without a count", args: []string{"--records", "items"}, wantErr: true},
		{name: "negative records", args: []string{"--records", "items=-1"}, wantErr: true},
		{name: "state file", args: []string{"--state", "/var/lib/exactsim/auth.json"},
			check: func(t *testing.T, _ string, opts exacttest.Options) {
				if opts.AuthStateFile != "/var/lib/exactsim/auth.json" {
					t.Errorf("AuthStateFile = %q, want the --state path", opts.AuthStateFile)
				}
			}},
		{name: "licence cap", args: []string{"--licence-daily-limit", "20000", "--licence-per-division", "--other-app-calls=18000"},
			check: func(t *testing.T, _ string, opts exacttest.Options) {
				if want := (exacttest.Licence{DailyLimit: 20000, PerDivision: true, OtherAppCalls: 18000}); opts.Licence != want {
					t.Errorf("got licence %+v, want %+v", opts.Licence, want)
				}
			}},
		{name: "negative licence cap", args: []string{"--licence-daily-limit", "-1"}, wantErr: true},
		{name: "negative other app calls", args: []string{"--other-app-calls", "-5"}, wantErr: true},
		{name: "reconciliation knobs", args: []string{"--deleted-retention", "24h", "--sync-timestamp-endpoints", "TransactionLines, Accounts"},
			check: func(t *testing.T, _ string, opts exacttest.Options) {
				if opts.DeletedRetention != 24*time.Hour || !cmp.Equal(opts.SyncTimestampEndpoints, []string{"TransactionLines", "Accounts"}) {
					t.Errorf("got retention %v, SyncTimestamp endpoints %q", opts.DeletedRetention, opts.SyncTimestampEndpoints)
				}
			}},
		{name: "no SyncTimestamp endpoint", args: []string{"--sync-timestamp-endpoints="},
			check: func(t *testing.T, _ string, opts exacttest.Options) {
				if opts.SyncTimestampEndpoints == nil || len(opts.SyncTimestampEndpoints) != 0 {
					t.Errorf("got SyncTimestamp endpoints %#v, want none (not nil, the default)", opts.SyncTimestampEndpoints)
				}
			}},
		{name: "zero retention", args: []string{"--deleted-retention", "0s"}, wantErr: true},
		{name: "hidden from sync", args: []string{"--hidden-from-sync", "transaction_lines=2, accounts=1"},
			check: func(t *testing.T, _ string, opts exacttest.Options) {
				if want := map[string]int{"transaction_lines": 2, "accounts": 1}; !cmp.Equal(opts.HiddenFromSync, want) {
					t.Errorf("got hidden %v, want %v", opts.HiddenFromSync, want)
				}
			}},
		{name: "hidden from sync without a sync endpoint", args: []string{"--hidden-from-sync", "journals=1"}, wantErr: true},
		{name: "hidden from sync without a count", args: []string{"--hidden-from-sync", "accounts"}, wantErr: true},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: true},
		{name: "bad divisions", args: []string{"--divisions", "a,b"}, wantErr: true},
		{name: "bad rate", args: []string{"--fault-rate", "2"}, wantErr: true},
		{name: "bad maintenance window", args: []string{"--maintenance-window", "4-5"}, wantErr: true},
		{name: "empty maintenance window", args: []string{"--maintenance-window", "04:00-04:00"}, wantErr: true},
		{name: "bad 401 body", args: []string{"--unauthorized-body", "json"}, wantErr: true},
		{name: "stray argument", args: []string{"serve"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, opts, _, err := parseFlags(tt.args)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got err %v, want error %v", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, addr, opts)
			}
		})
	}
}

// TestExactsim builds the command, starts it, reads its first line and calls it.
func TestExactsim(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "exactsim")
	build := []string{"build", "-o", bin, "."}
	if raceEnabled { // the tests run with -race: so does the command they start
		build = append(build[:1], append([]string{"-race"}, build[1:]...)...)
	}
	if out, err := exec.Command("go", build...).CombinedOutput(); err != nil {
		t.Fatalf("go %v: %v\n%s", build, err, out)
	}
	cmd := exec.Command(bin, "--accounts", "1000", "--divisions", "101")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	var got []string
	for range 3 {
		if !lines.Scan() {
			t.Fatalf("got output %q, want 3 lines", got)
		}
		got = append(got, lines.Text())
	}
	base, ok := strings.CutPrefix(got[0], "exactsim listening on http://127.0.0.1:")
	if !ok || base == "" {
		t.Fatalf("got first line %q, want \"exactsim listening on http://127.0.0.1:PORT\"", got[0])
	}
	baseURL := strings.TrimPrefix(got[0], "exactsim listening on ")
	rt, ok := strings.CutPrefix(got[2], "refresh_token: ")
	if got[1] != "client_id: exactsim-client" || !ok || !strings.Contains(rt, "!") {
		t.Fatalf("got lines %q, want client_id and a generated refresh_token", got[1:])
	}
	resp, err := http.PostForm(baseURL+"/api/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {"exactsim-client"}, "client_secret": {"exactsim-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("token: got %d %v", resp.StatusCode, err)
	}
	req, _ := http.NewRequest(http.MethodGet, baseURL+"/api/v1/101/sync/CRM/Accounts?$filter=Timestamp%20gt%200L&$select=ID", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Count(string(b), `"__metadata"`) != 1000 {
		t.Errorf("sync page: got %d with %d rows, want 200 with 1000", resp.StatusCode, strings.Count(string(b), `"__metadata"`))
	}
	if resp.Header.Get("X-RateLimit-Minutely-Limit") != "60" {
		t.Errorf("got X-RateLimit-Minutely-Limit %q, want the default 60", resp.Header.Get("X-RateLimit-Minutely-Limit"))
	}
	// The control endpoints are served: a division move.
	resp, err = http.Post(baseURL+"/_sim/divisions/move", "application/json", strings.NewReader(`{"division":101}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"division":101`) {
		t.Errorf("POST /_sim/divisions/move: got %d %s, want 200 naming division 101", resp.StatusCode, b)
	}
	// SIGTERM shuts it down cleanly.
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("no exit within 10s of SIGTERM")
	}
}

func TestBadFlagExitsTwo(t *testing.T) {
	if os.Getenv("EXACTSIM_MAIN") == "1" {
		os.Args = []string{"exactsim", "--nope"}
		main()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBadFlagExitsTwo$")
	cmd.Env = append(os.Environ(), "EXACTSIM_MAIN=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("got %v, want exit status 2", err)
	}
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "-nope") {
		t.Errorf("got output %q, want one line naming the flag", out)
	}
}

func TestHelpDescribesEveryFlag(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		var out strings.Builder
		if err := run([]string{arg}, nil, &out); err != nil {
			t.Fatalf("run %s: %v", arg, err)
		}
		for _, flag := range []string{"-addr", "-divisions", "-accounts", "-records", "-fault-rate", "-truncate-rate", "-maintenance-window", "-bare-envelope"} {
			if !strings.Contains(out.String(), "  "+flag+" ") && !strings.Contains(out.String(), "  "+flag+"\n") {
				t.Errorf("%s: help lacks %s:\n%s", arg, flag, out.String())
			}
		}
		if !strings.Contains(out.String(), "listen address") {
			t.Errorf("%s: help does not describe the flags:\n%s", arg, out.String())
		}
	}
}

// TestUnreadableStateIsOneLine: a --state file that holds no saved chain stops the start
// with one line naming it, before anything listens.
func TestUnreadableStateIsOneLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.json")
	if err := os.WriteFile(path, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err := run([]string{"--state", path}, nil, &out)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "remove it") {
		t.Errorf("run with an unreadable --state: %v, want one line naming the file and the fix", err)
	}
	if out.Len() != 0 {
		t.Errorf("run printed %q before failing, want nothing", out.String())
	}
}
