package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/webhook"
)

type webhooksCmd struct {
	Sync   webhooksSyncCmd   `cmd:"" help:"Subscribe each division to the webhook topics of the enabled entities and delete exactsync's unwanted subscriptions; other callbacks are left alone."`
	Status webhooksStatusCmd `cmd:"" help:"Show each division's webhook subscriptions (one call per division) and the last delivery seen per topic."`
}

// errNoWebhooks is the one line for a webhooks command without the configuration.
var errNoWebhooks = usageError{fmt.Errorf("webhooks are not configured: set %s (the app's webhook secret) and %s (the public https address Exact calls)",
	config.EnvWebhookSecret, config.EnvWebhookURL)}

type webhooksSyncCmd struct{}

// Run reconciles the subscriptions of every division of every connection.
func (webhooksSyncCmd) Run(e *env) error {
	cfg, log, st, err := setup(e, config.Needs{Database: true})
	if err != nil {
		return err
	}
	defer st.Close()
	if cfg.WebhookURL == "" {
		return errNoWebhooks
	}
	return reconcileAll(e.ctx, cfg, st, log, func(r webhook.Reconciled, conn int64) {
		fmt.Fprintf(e.stdout, "connection %d division %d: %s\n", conn, r.Division, describeReconciled(r))
	})
}

// describeReconciled says what Reconcile did in one line.
func describeReconciled(r webhook.Reconciled) string {
	topics := func(subs []exact.WebhookSubscription) string {
		var t []string
		for _, s := range subs {
			t = append(t, s.Topic)
		}
		return strings.Join(t, ", ")
	}
	var parts []string
	for _, p := range []struct {
		what string
		subs []exact.WebhookSubscription
	}{{"kept", r.Kept}, {"created", r.Created}, {"deleted", r.Deleted}} {
		if len(p.subs) > 0 {
			parts = append(parts, p.what+" "+topics(p.subs))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "no topic wanted")
	}
	return fmt.Sprintf("%s; %d other callbacks left alone", strings.Join(parts, "; "), len(r.Others))
}

// reconcileAll reconciles every division of every connection that does not need
// re-authorization, going on after a failure; done is told of each division.
func reconcileAll(ctx context.Context, cfg *config.Config, st *sink.Store, log zerolog.Logger, done func(webhook.Reconciled, int64)) error {
	conns, err := connections(ctx, cfg, st)
	if err != nil {
		return err
	}
	topics := webhook.Topics(cfg.Entities)
	var errs []error
	for _, conn := range conns {
		if conn.State == dest.StateReauthRequired {
			errs = append(errs, errors.New(reauthMessage(conn)))
			continue
		}
		client, err := newClientContext(ctx, cfg, st, conn, log)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		divs, err := connectionDivisions(ctx, cfg, st, conn, client, nil, log)
		if err != nil {
			errs = append(errs, fmt.Errorf("connection %d: %w", conn.ID, err))
			continue
		}
		for _, d := range divs {
			r, err := reconcileLocked(ctx, st, client, conn.ID, d, cfg.WebhookURL, topics)
			if err != nil {
				errs = append(errs, fmt.Errorf("connection %d division %d: %w", conn.ID, d, err))
			}
			if err == nil || len(r.Kept)+len(r.Created)+len(r.Deleted) > 0 {
				done(r, conn.ID)
			}
		}
	}
	return errors.Join(errs...)
}

// reconcileLocked reconciles the subscriptions of one division under their lock, so that
// processes starting at once do not both create what is missing.
func reconcileLocked(ctx context.Context, st *sink.Store, api webhook.SubscriptionAPI, connID int64, division int, callbackURL string, topics []string) (webhook.Reconciled, error) {
	unlock, err := st.LockWebhooks(ctx, connID, division)
	if err != nil {
		return webhook.Reconciled{}, err
	}
	defer unlock()
	return webhook.Reconcile(ctx, api, division, callbackURL, topics)
}

type webhooksStatusCmd struct{}

// Run prints every subscription with the last delivery of its division and topic, and
// the deliveries of topics without a subscription.
func (webhooksStatusCmd) Run(e *env) error {
	cfg, log, st, err := setup(e, config.Needs{Database: true})
	if err != nil {
		return err
	}
	defer st.Close()
	seen, err := st.WebhookDeliveries(e.ctx)
	if err != nil {
		return err
	}
	conns, err := connections(e.ctx, cfg, st)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONNECTION\tDIVISION\tTOPIC\tCALLBACK\tLAST DELIVERY\tACTION\tOUTCOME\tDELIVERIES")
	shown := map[string]bool{}
	now := time.Now()
	line := func(conn string, div int, topic, callback string, clientID string) {
		key := fmt.Sprintf("%s/%d/%s", strings.ToLower(strings.Trim(clientID, "{}")), div, topic)
		last, action, outcome, n := "never", "-", "-", 0
		for _, s := range seen {
			if fmt.Sprintf("%s/%d/%s", strings.ToLower(strings.Trim(s.ClientID, "{}")), s.Division, s.Topic) == key {
				last, action, outcome, n = since(now, s.At), s.Action, s.Outcome, s.Deliveries
			}
		}
		shown[key] = true
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\n", conn, div, topic, callback, last, action, outcome, n)
	}
	var errs []error
	for _, conn := range conns {
		if conn.State == dest.StateReauthRequired {
			errs = append(errs, errors.New(reauthMessage(conn)))
			continue
		}
		client, err := newClientContext(e.ctx, cfg, st, conn, log)
		if err == nil {
			var divs []int
			if divs, err = connectionDivisions(e.ctx, cfg, st, conn, client, nil, log); err == nil {
				for _, d := range divs {
					subs, err := client.WebhookSubscriptions(e.ctx, d)
					if err != nil {
						errs = append(errs, fmt.Errorf("connection %d division %d: %w", conn.ID, d, err))
						continue
					}
					for _, s := range subs {
						callback := s.CallbackURL
						if cfg.WebhookURL != "" && webhook.SameCallback(callback, cfg.WebhookURL) {
							callback += " (exactsync)"
						}
						line(fmt.Sprint(conn.ID), d, s.Topic, callback, conn.ClientID)
					}
				}
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("connection %d: %w", conn.ID, err))
		}
	}
	for _, s := range seen {
		if !shown[fmt.Sprintf("%s/%d/%s", strings.ToLower(strings.Trim(s.ClientID, "{}")), s.Division, s.Topic)] {
			line("-", s.Division, s.Topic, "(no subscription)", s.ClientID)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return errors.Join(errs...)
}
