package alert

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	gosync "sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
)

// Store keeps the open alerts shared by every run process (package sink implements it).
type Store interface {
	// SyncAlerts records the conditions that hold now, opening the new ones and resolving
	// those that cleared.
	SyncAlerts(ctx context.Context, open []dest.Alert) (opened, resolved int, err error)
	// DeliverAlert hands one due notification to send, locked against other processes;
	// ok is false when none is due.
	DeliverAlert(ctx context.Context, send func(context.Context, dest.AlertNotice) error, backoff func(attempts int) time.Duration) (ok bool, err error)
}

// Config is what a Notifier needs.
type Config struct {
	// URL receives the notifications; required. It is never logged.
	URL string
	// Store keeps the alerts; required.
	Store Store
	// Inputs reads what the conditions are judged from; required.
	Inputs func(ctx context.Context) (Inputs, error)
	// Interval is how often the conditions are judged and due notifications sent
	// (default 1 minute).
	Interval time.Duration
	// Backoff is the pause after the first failed delivery; it doubles with each further
	// failure up to MaxBackoff (defaults 30 s and 1 hour).
	Backoff, MaxBackoff time.Duration
	// Timeout bounds one POST (default 10 s).
	Timeout time.Duration
	// Client posts the notifications (default: a client of its own).
	Client *http.Client
	Logger zerolog.Logger
}

// Notifier judges the conditions every Config.Interval and sends the notifications due.
type Notifier struct {
	cfg    Config
	cancel context.CancelFunc
	wg     gosync.WaitGroup
}

// New returns a Notifier; Start runs it.
func New(cfg Config) *Notifier {
	if cfg.URL == "" || cfg.Store == nil || cfg.Inputs == nil {
		panic("alert: Config.URL, Store and Inputs are required")
	}
	cfg.Interval = cmp.Or(cfg.Interval, time.Minute)
	cfg.Backoff = cmp.Or(cfg.Backoff, 30*time.Second)
	cfg.MaxBackoff = cmp.Or(cfg.MaxBackoff, time.Hour)
	cfg.Timeout = cmp.Or(cfg.Timeout, 10*time.Second)
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	return &Notifier{cfg: cfg}
}

// Start judges the conditions at once and then every Config.Interval, until Stop or ctx
// ends. A nil Notifier (no receiver configured) does nothing.
func (n *Notifier) Start(ctx context.Context) {
	if n == nil {
		return
	}
	ctx, n.cancel = context.WithCancel(ctx)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		t := time.NewTicker(n.cfg.Interval)
		defer t.Stop()
		for {
			if err := n.Tick(ctx); err != nil && ctx.Err() == nil {
				n.cfg.Logger.Warn().Str("error", err.Error()).Msg("alerts: judging or sending failed; trying again at the next tick")
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Stop ends the loop and waits for it (a POST under way is cancelled), or for ctx.
func (n *Notifier) Stop(ctx context.Context) error {
	if n == nil || n.cancel == nil {
		return nil
	}
	n.cancel()
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Tick judges the conditions once, records them and sends every notification due.
func (n *Notifier) Tick(ctx context.Context) error {
	in, err := n.cfg.Inputs(ctx)
	if err != nil {
		return fmt.Errorf("reading the state: %w", err)
	}
	conds := Evaluate(in)
	opened, resolved, err := n.cfg.Store.SyncAlerts(ctx, conds)
	if err != nil {
		return err
	}
	ev := n.cfg.Logger.Debug()
	if opened+resolved > 0 {
		ev = n.cfg.Logger.Info()
	}
	ev.Int("holding", len(conds)).Int("opened", opened).Int("resolved", resolved).Msg("alerts judged")
	// Until none is due, or one fails: the receiver is not tried again before the next tick.
	failed := false
	send := func(ctx context.Context, a dest.AlertNotice) error {
		err := n.send(ctx, a)
		failed = err != nil
		return err
	}
	for ctx.Err() == nil && !failed {
		ok, err := n.cfg.Store.DeliverAlert(ctx, send, n.backoff)
		if err != nil || !ok {
			return err
		}
	}
	return nil
}

func (n *Notifier) backoff(attempts int) time.Duration {
	d := n.cfg.Backoff
	for i := 1; i < attempts && d < n.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, n.cfg.MaxBackoff)
}

func (n *Notifier) send(ctx context.Context, a dest.AlertNotice) error {
	err := Post(ctx, n.cfg.Client, n.cfg.URL, n.cfg.Timeout, Body(a))
	ev := n.cfg.Logger.Info()
	if err != nil {
		ev = n.cfg.Logger.Warn().Str("error", err.Error()).Int("attempt", a.Attempts+1).Dur("retry_in_ms", n.backoff(a.Attempts+1))
	}
	ev.Str("condition", a.Condition).Str("subject", a.Subject).Bool("resolved", a.Resolved).Msg("alert notification")
	return err
}

// Body is the JSON object posted for a notice: text (what Slack and Teams incoming webhooks
// display), status (firing or resolved), condition, subject, since, resolved_at, and the
// alert's details (connection, division, entity, …).
func Body(a dest.AlertNotice) map[string]any {
	b := maps.Clone(a.Details)
	if b == nil {
		b = map[string]any{}
	}
	b["source"] = "exactsync"
	b["condition"] = a.Condition
	b["subject"] = a.Subject
	b["since"] = a.OpenedAt.UTC().Format(time.RFC3339)
	b["status"] = "firing"
	b["text"] = a.Text
	if a.Resolved {
		b["status"] = "resolved"
		b["resolved_at"] = a.ResolvedAt.UTC().Format(time.RFC3339)
		b["text"] = "Resolved: " + a.Text
	}
	return b
}

// Post sends body as JSON to address and reports a status other than 2xx as an error.
// Errors never hold the address: an incoming webhook's address is its secret.
func Post(ctx context.Context, client *http.Client, address string, timeout time.Duration, body map[string]any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, address, bytes.NewReader(raw))
	if err != nil {
		return errors.New("the alert URL cannot be used for a request; check EXACTSYNC_ALERT_URL")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("the alert receiver did not answer within %s", timeout)
		}
		return fmt.Errorf("posting to the alert receiver: %v", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the alert receiver answered %s", resp.Status)
	}
	return nil
}
