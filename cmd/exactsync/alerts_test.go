package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/exact/exacttest"
)

const alertHookPath = "/services/T0/B0/alertHookSecret0123456789"

// alertReceiver is an incoming webhook that records the bodies posted to alertHookPath.
type alertReceiver struct {
	mu     gosync.Mutex
	bodies []map[string]any
	raw    []string
}

func newAlertReceiver(t *testing.T) (*alertReceiver, string) {
	t.Helper()
	r := &alertReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		var m map[string]any
		if req.URL.Path != alertHookPath || json.Unmarshal(b, &m) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.bodies, r.raw = append(r.bodies, m), append(r.raw, string(b))
		r.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return r, srv.URL + alertHookPath
}

func (r *alertReceiver) received() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]any(nil), r.bodies...)
}

func TestAlertsTestSendsASample(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 1})
	rec, hook := newAlertReceiver(t)
	r := w.run(map[string]string{config.EnvAlertURL: hook}, "alerts", "test")
	if r.code != 0 {
		t.Fatalf("alerts test: %s", r)
	}
	got := rec.received()
	if len(got) != 1 || !strings.Contains(got[0]["text"].(string), "test notification") || got[0]["status"] != "firing" {
		t.Fatalf("receiver got %v, want one sample with a text", got)
	}
	if strings.Contains(r.stdout+r.stderr, "alertHookSecret") {
		t.Errorf("alerts test printed the receiver's secret path: %s", r)
	}

	r = w.run(map[string]string{config.EnvAlertURL: ""}, "alerts", "test")
	if r.code == 0 {
		t.Fatalf("alerts test without %s succeeded: %s", config.EnvAlertURL, r)
	}
	checkErrorLine(t, r, config.EnvAlertURL+" is not set")
}

// TestRunNotifiesAConnectionThatNeedsReauthorization: three run processes with
// EXACTSYNC_ALERT_URL on one database post the condition once, without secrets.
func TestRunNotifiesAConnectionThatNeedsReauthorization(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 10})
	w.importToken()
	if _, err := w.pool.Exec(context.Background(), `
		UPDATE exact_sync.connections SET state = 'reauth_required', state_reason = 'Exact rejected the refresh token as invalid (400 invalid_grant)'`); err != nil {
		t.Fatal(err)
	}
	rec, hook := newAlertReceiver(t)
	type proc struct {
		cmd  *exec.Cmd
		errb *syncBuffer
	}
	var procs []proc
	for range 3 {
		cmd := w.cmd(map[string]string{config.EnvAlertURL: hook, "LOG_LEVEL": "debug"}, "run", "--workers", "1")
		p := proc{cmd, &syncBuffer{}}
		cmd.Stderr = p.errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		procs = append(procs, p)
	}
	// Every process has judged the conditions at least once (its first tick, at start).
	if !poll(2*time.Minute, 50*time.Millisecond, func() bool {
		for _, p := range procs {
			if !strings.Contains(p.errb.String(), "alerts judged") {
				return false
			}
		}
		return len(rec.received()) > 0
	}) {
		t.Fatalf("not every process judged the alerts, or no notification arrived, within 2 minutes; notifications %d", len(rec.received()))
	}
	for _, p := range procs {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		_ = p.cmd.Wait()
		w.mu.Lock()
		w.logs = append(w.logs, p.errb.String())
		w.mu.Unlock()
	}
	got := rec.received()
	if len(got) != 1 || got[0]["condition"] != "reauth_required" || !strings.Contains(got[0]["text"].(string), "needs re-authorization") {
		t.Fatalf("receiver got %v, want one reauth_required notification from the three processes", got)
	}
	bodies := strings.Join(rec.raw, "\n")
	var logs string
	for _, p := range procs {
		logs += p.errb.String()
	}
	for _, s := range append(w.storedSecrets(), testClientSecret, "alertHookSecret") {
		if len(s) >= 8 && (strings.Contains(bodies, s) || strings.Contains(logs, s)) {
			t.Errorf("a notification or the log holds a secret starting %q", s[:4])
		}
	}
}
