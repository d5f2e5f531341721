package metrics

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
)

// TestConnectionMetrics: each connection's state and the age of its refresh token, read at
// the scrape; a connection never refreshed has no age.
func TestConnectionMetrics(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	m := New(Config{Now: func() time.Time { return now }, Connections: &fakeConnections{conns: []dest.Connection{
		{ID: 1, State: dest.StateOK, RefreshTokenIssuedAt: now.Add(-24 * 24 * time.Hour)},
		{ID: 2, State: dest.StateReauthRequired, RefreshTokenIssuedAt: now.Add(-time.Hour)},
		{ID: 3, State: dest.StateOK},
	}}})
	want := `
# HELP exactsync_connection_reauth_required 1 while a connection waits for re-authorization (someone must run exactsync auth login), else 0; from the database.
# TYPE exactsync_connection_reauth_required gauge
exactsync_connection_reauth_required{connection="1"} 0
exactsync_connection_reauth_required{connection="2"} 1
exactsync_connection_reauth_required{connection="3"} 0
# HELP exactsync_refresh_token_age_seconds Seconds since a connection's refresh token was issued, that is since the chain was last refreshed (or imported); Exact expires a refresh token unused for 30 days. From the database.
# TYPE exactsync_refresh_token_age_seconds gauge
exactsync_refresh_token_age_seconds{connection="1"} 2.0736e+06
exactsync_refresh_token_age_seconds{connection="2"} 3600
`
	if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(want),
		"exactsync_connection_reauth_required", "exactsync_refresh_token_age_seconds"); err != nil {
		t.Error(err)
	}
}

// TestConnectionMetricsWhenTheDatabaseFails: the scrape serves the rest.
func TestConnectionMetricsWhenTheDatabaseFails(t *testing.T) {
	m := New(Config{Logger: zerolog.Nop(), Connections: &fakeConnections{err: errors.New("cannot reach PostgreSQL")}})
	m.SetSchedule("accounts", 15*time.Minute)
	body := scrape(t, m)
	if !strings.Contains(body, `exactsync_schedule_interval_seconds{entity="accounts"} 900`) || strings.Contains(body, "exactsync_connection_reauth_required{") {
		t.Errorf("want the schedule and no connection state:\n%s", body)
	}
}

// TestWebhookTopicsStartAtZero: with webhooks on, each topic's deliveries are served from
// zero, before the first delivery, so that the alert on silent webhooks sees them.
func TestWebhookTopicsStartAtZero(t *testing.T) {
	m := New(Config{})
	if n := testutil.CollectAndCount(m.webhookDeliveries); n != 0 {
		t.Fatalf("%d delivery series before any, want 0", n)
	}
	m.WebhookTopics([]string{"Accounts", "FinancialTransactions"})
	m.Delivered("Accounts", "ok")
	for topic, want := range map[string]float64{"Accounts": 1, "FinancialTransactions": 0} {
		if got := testutil.ToFloat64(m.webhookDeliveries.WithLabelValues(topic, "ok")); got != want {
			t.Errorf("%s: got %v, want %v", topic, got, want)
		}
	}
	if n := testutil.CollectAndCount(m.webhookDeliveries); n != 2 {
		t.Errorf("%d delivery series, want 2", n)
	}
}
