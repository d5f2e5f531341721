package alert_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/internal/alert"
)

func TestEvaluate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	ok := func(id int64, tokenAge time.Duration) dest.Connection {
		return dest.Connection{ID: id, BaseURL: "https://start.exactonline.nl", State: dest.StateOK, RefreshTokenIssuedAt: now.Add(-tokenAge)}
	}
	ent := func(conn int64, div int, entity, status string, sinceSuccess time.Duration) alert.Entity {
		return alert.Entity{ConnectionID: conn, Division: div, Entity: entity, LastStatus: status, LastSuccess: now.Add(-sinceSuccess)}
	}
	hourly := map[string]time.Duration{"accounts": time.Hour, "items": time.Hour}
	tests := []struct {
		name string
		in   alert.Inputs
		want []string // condition subject
	}{
		{"all well", alert.Inputs{Connections: []dest.Connection{ok(1, 22*24*time.Hour)},
			Entities: []alert.Entity{ent(1, 101, "accounts", dest.RunOK, 3*time.Hour)}}, nil},
		{"token idle past 23 days", alert.Inputs{Connections: []dest.Connection{ok(1, 23*24*time.Hour+time.Minute)}},
			[]string{"refresh_token_idle connection 1"}},
		{"lag past three intervals, per division", alert.Inputs{Connections: []dest.Connection{ok(1, time.Hour)},
			Entities: []alert.Entity{
				ent(1, 101, "accounts", dest.RunFailed, 3*time.Hour+time.Second),
				ent(1, 101, "items", dest.RunFailed, 4*time.Hour),
				ent(1, 102, "accounts", dest.RunOK, 3*time.Hour),
				ent(1, 103, "unscheduled", dest.RunOK, 300*time.Hour),
			}},
			[]string{"sync_lag connection 1 division 101"}},
		{"budget per division, refused per entity", alert.Inputs{Connections: []dest.Connection{ok(1, time.Hour)},
			Entities: []alert.Entity{
				ent(1, 101, "accounts", dest.RunDailyLimit, time.Minute),
				ent(1, 101, "items", "budget_reserve", time.Minute),
				ent(1, 102, "items", dest.RunRefused, time.Minute),
			}},
			[]string{"entity_refused connection 1 division 102 entity items", "day_budget_spent connection 1 division 101"}},
		{"re-authorization hides its divisions' conditions", alert.Inputs{
			Connections: []dest.Connection{{ID: 1, State: dest.StateReauthRequired, StateReason: "expired", RefreshTokenIssuedAt: now.Add(-40 * 24 * time.Hour)}},
			Entities:    []alert.Entity{ent(1, 101, "accounts", dest.RunReauthRequired, 10*time.Hour)}},
			[]string{"reauth_required connection 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.in.Now, tt.in.Intervals = now, hourly
			var got []string
			for _, a := range alert.Evaluate(tt.in) {
				if a.Text == "" {
					t.Errorf("%s of %s has no text", a.Condition, a.Subject)
				}
				got = append(got, a.Condition+" "+a.Subject)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBody(t *testing.T) {
	t.Parallel()
	opened := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	n := dest.AlertNotice{OpenedAt: opened, Alert: dest.Alert{Condition: alert.SyncLag, Subject: "connection 1 division 101",
		Text: "lagging", Details: map[string]any{"division": 101}}}
	got := alert.Body(n)
	want := map[string]any{"source": "exactsync", "condition": "sync_lag", "subject": "connection 1 division 101",
		"since": "2026-12-07T12:00:00Z", "status": "firing", "text": "lagging", "division": 101}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("firing body (-want +got):\n%s", diff)
	}
	n.Resolved, n.ResolvedAt = true, opened.Add(time.Hour)
	got = alert.Body(n)
	if got["status"] != "resolved" || got["text"] != "Resolved: lagging" || got["resolved_at"] != "2026-12-07T13:00:00Z" {
		t.Errorf("resolved body %v", got)
	}
	if _, ok := n.Details["status"]; ok {
		t.Error("Body changed the notice's details")
	}
}
