package worker_test

import (
	"context"
	"errors"
	gosync "sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/webhook"
	"github.com/exactsync/exactsync/worker"
)

// TestWebhookTriggerQueuesARunOnceAMinute queues a webhook-triggered run, which the worker
// runs and reports with its latency; a second trigger within the minute is told when to
// ask again, another app's or a division not synced is refused, a spent budget too.
func TestWebhookTriggerQueuesARunOnceAMinute(t *testing.T) {
	w := newWorld(t, exacttest.Options{Divisions: []int{101, 102}, Accounts: 5, Start: time.Now()})
	ctx := context.Background()
	if _, err := w.st.SaveDivisionsResettingMoved(ctx, w.conn.ID, []dest.Division{{Code: 101}, {Code: 102}}); err != nil {
		t.Fatal(err)
	}
	trig, err := worker.NewWebhookTrigger(worker.WebhookConfig{Pool: w.pool, Store: w.st, Divisions: []int{101, 102}, ForecastPerDay: 1140})
	if err != nil {
		t.Fatal(err)
	}
	first := time.Now().Add(-3 * time.Second)
	target := webhook.Target{ClientID: testClientID, Division: 101, Entity: "accounts", Topics: []string{"Accounts"}, First: first}
	if err := trig.Trigger(ctx, target); err != nil {
		t.Fatal(err)
	}
	if n := w.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = 'exactsync_sync' AND args->>'entity' = 'accounts' AND args ? 'webhook'`); n != 1 {
		t.Fatalf("%d webhook jobs queued, want 1", n)
	}
	var later *webhook.LaterError
	if err := trig.Trigger(ctx, target); !errors.As(err, &later) || time.Until(later.At) < 50*time.Second {
		t.Errorf("second trigger: %v, want a LaterError about a minute away", err)
	}
	other := target
	other.ClientID = "another-app"
	if err := trig.Trigger(ctx, other); err == nil {
		t.Errorf("another app's delivery queued a run")
	}
	other = target
	other.Division = 103
	if err := trig.Trigger(ctx, other); err == nil {
		t.Errorf("a division not synced queued a run")
	}
	// Division 102 has 400 calls left with the reset 12 hours away: the schedules need
	// 570 of them, so the reserve would be touched.
	if err := w.st.SaveRateLimit(ctx, w.conn.ID, 102, dest.RateLimit{DailyLimit: 5000, DailyRemaining: 400, DailyReset: time.Now().Add(12 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	other = target
	other.Division = 102
	if err := trig.Trigger(ctx, other); !errors.Is(err, worker.ErrBudgetReserve) {
		t.Errorf("trigger with the reserve at stake: %v, want ErrBudgetReserve", err)
	}

	var mu gosync.Mutex
	var latencies []time.Duration
	w.start(worker.Config{Logger: zerolog.Nop(), WebhookCommitted: func(entity string, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		latencies = append(latencies, d)
	}})
	w.waitFor("the webhook-triggered run committed", 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(latencies) == 1
	})
	if n := w.count(`SELECT count(*) FROM exact.accounts WHERE division = 101`); n != 5 {
		t.Errorf("%d accounts stored, want 5", n)
	}
	t.Logf("delivery-to-commit latency %v (the delivery was dated 3 s back)", latencies[0])
}
