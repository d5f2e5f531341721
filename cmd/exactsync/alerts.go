package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/internal/alert"
	"github.com/exactsync/exactsync/sink"
)

type alertsCmd struct {
	Test alertsTestCmd `cmd:"" help:"Send a sample notification to EXACTSYNC_ALERT_URL, to check the receiver shows it."`
}

type alertsTestCmd struct{}

// Run posts a sample notification, as exactsync run posts its own (package alert).
func (alertsTestCmd) Run(e *env) error {
	cfg, err := loadConfig(e, config.Needs{})
	if err != nil {
		return err
	}
	if cfg.AlertURL == "" {
		return usageError{errors.New(config.EnvAlertURL + " is not set; set it to the address of the receiver, e.g. a Slack or Teams incoming webhook")}
	}
	now := time.Now().UTC()
	sample := dest.AlertNotice{OpenedAt: now, Alert: dest.Alert{
		Condition: "test", Subject: "exactsync alerts test",
		Text:    "exactsync: a test notification from `exactsync alerts test`; the run processes post here when a connection needs re-authorization, a refresh token idles, the day's budget runs out, an entity is refused or a sync lags",
		Details: map[string]any{"test": true},
	}}
	if err := alert.Post(e.ctx, &http.Client{}, cfg.AlertURL, 10*time.Second, alert.Body(sample)); err != nil {
		return fmt.Errorf("sending the test notification: %w; check %s", err, config.EnvAlertURL)
	}
	u, _ := url.Parse(cfg.AlertURL) // checked by the configuration; only its host is shown
	fmt.Fprintf(e.stdout, "sent a test notification to %s: check that the receiver shows it\n", u.Host)
	return nil
}

// alertInputs reads what the notifier judges its conditions from: the connections and the
// latest run of every entity in every division, with the schedule intervals of the
// scheduled entities.
func alertInputs(st *sink.Store, intervals map[string]time.Duration) func(context.Context) (alert.Inputs, error) {
	return func(ctx context.Context) (alert.Inputs, error) {
		conns, err := st.Connections(ctx)
		if err != nil {
			return alert.Inputs{}, err
		}
		states, err := st.SyncStates(ctx)
		if err != nil {
			return alert.Inputs{}, err
		}
		return alert.Inputs{Now: time.Now(), Connections: conns, Intervals: intervals, Entities: alertEntities(states)}, nil
	}
}

func alertEntities(states []sink.SyncState) []alert.Entity {
	var out []alert.Entity
	for _, s := range states {
		if s.LastRun.ID == 0 {
			continue
		}
		out = append(out, alert.Entity{ConnectionID: s.ConnectionID, Division: s.Division, Entity: s.Entity,
			LastStatus: s.LastRun.Result.Status, LastError: s.LastRun.Result.Err, LastSuccess: s.LastSuccess})
	}
	return out
}
