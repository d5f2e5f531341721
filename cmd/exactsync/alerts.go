package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/internal/alert"
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
