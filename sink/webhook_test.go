package sink_test

import (
	"context"
	"testing"
	"time"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink/sinktest"
)

func TestWebhookDeliveriesKeepTheLastAndCount(t *testing.T) {
	st := sinktest.NewStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	if err := st.RecordWebhookDeliveries(ctx, []dest.WebhookDelivery{
		{ClientID: "app", Division: 101, Topic: "Accounts", Action: "Update", Outcome: "ok", At: t0, Deliveries: 3},
		{ClientID: "app", Division: 101, Topic: "Items", Action: "Create", Outcome: "unknown_topic", At: t0},
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordWebhookDeliveries(ctx, []dest.WebhookDelivery{
		{ClientID: "app", Division: 101, Topic: "Accounts", Action: "Delete", Outcome: "debounced", At: t0.Add(time.Minute), Deliveries: 2},
		{ClientID: "app", Division: 101, Topic: "Items", Action: "Delete", Outcome: "ok", At: t0.Add(-time.Minute)}, // older: counted only
	}); err != nil {
		t.Fatal(err)
	}
	got, err := st.WebhookDeliveries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []dest.WebhookDelivery{
		{ClientID: "app", Division: 101, Topic: "Accounts", Action: "Delete", Outcome: "debounced", At: t0.Add(time.Minute), Deliveries: 5},
		{ClientID: "app", Division: 101, Topic: "Items", Action: "Create", Outcome: "unknown_topic", At: t0, Deliveries: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestClaimWebhookRunOnceAMinute(t *testing.T) {
	st, pool := sinktest.NewStorePool(t)
	ctx := context.Background()
	var conn int64
	if err := pool.QueryRow(ctx, `INSERT INTO exact_sync.connections (base_url, client_id) VALUES ('https://x', 'app') RETURNING id`).Scan(&conn); err != nil {
		t.Fatal(err)
	}
	ok, _, err := st.ClaimWebhookRun(ctx, conn, 101, "accounts", time.Minute)
	if err != nil || !ok {
		t.Fatalf("first claim: %t, %v", ok, err)
	}
	ok, next, err := st.ClaimWebhookRun(ctx, conn, 101, "accounts", time.Minute)
	if err != nil || ok || time.Until(next) < 50*time.Second || time.Until(next) > 61*time.Second {
		t.Fatalf("second claim: %t next in %v, %v; want refused for about a minute", ok, time.Until(next), err)
	}
	if ok, _, err := st.ClaimWebhookRun(ctx, conn, 102, "accounts", time.Minute); err != nil || !ok {
		t.Errorf("another division: %t, %v", ok, err)
	}
	if _, err := pool.Exec(ctx, `UPDATE exact_sync.webhook_runs SET queued_at = queued_at - interval '61 seconds'`); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := st.ClaimWebhookRun(ctx, conn, 101, "accounts", time.Minute); err != nil || !ok {
		t.Errorf("a minute later: %t, %v", ok, err)
	}
}
