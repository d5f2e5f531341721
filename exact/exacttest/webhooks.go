package exacttest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/exactsync/exactsync/exact/catalogue"
)

// Webhooks (§3.14): the webhooks/WebhookSubscriptions collection of every division, the
// validation call after a subscription, and deliveries when records change.

// WebhookOptions configure the simulator's webhooks. The zero value delivers every change
// at once, signed with the default secret.
type WebhookOptions struct {
	// Secret is the app's webhook secret, which signs deliveries (default
	// "exactsim-webhook-secret").
	Secret string
	// ValidationDelay is the wait between a new subscription and its validation call
	// (default 1s: "about a second after subscribing", §3.14).
	ValidationDelay time.Duration
	// Delay holds back every delivery this long (deliveries can take minutes, §3.14).
	Delay time.Duration
	// LossRate is the probability that a delivery is never sent (deliveries may be lost).
	LossRate float64
	// Duplicates sends each delivery this many extra times.
	Duplicates int
	// WrongSignature signs deliveries with another secret.
	WrongSignature bool
	// Timeout bounds one call to a callback (default 10s).
	Timeout time.Duration
}

// DefaultWebhookSecret signs deliveries when WebhookOptions.Secret is empty.
const DefaultWebhookSecret = "exactsim-webhook-secret"

const webhooksPath = "webhooks/WebhookSubscriptions"

// WebhookSubscription is one subscription the simulator holds.
type WebhookSubscription struct {
	ID          string    `json:"id"`
	Division    int       `json:"division"`
	Topic       string    `json:"topic"`
	CallbackURL string    `json:"callback_url"`
	Created     time.Time `json:"created"`
	Validated   bool      `json:"validated"`
	// App is the client id of the app the subscription belongs to: an app sees, deletes
	// and is called for its own subscriptions only (§3.14).
	App string `json:"app"`
}

// WebhookDelivery is one call the simulator made, or would have made, to a callback.
type WebhookDelivery struct {
	Validation   bool          `json:"validation,omitempty"` // the empty POST after a subscription
	Topic        string        `json:"topic,omitempty"`
	Division     int           `json:"division"`
	Action       string        `json:"action,omitempty"`
	Key          string        `json:"key,omitempty"`
	CallbackURL  string        `json:"callback_url"`
	Lost         bool          `json:"lost,omitempty"` // dropped on purpose (WebhookOptions.LossRate)
	Duplicate    bool          `json:"duplicate,omitempty"`
	BadSignature bool          `json:"bad_signature,omitempty"`
	Status       int           `json:"status"` // 0 when lost or unanswered
	Error        string        `json:"error,omitempty"`
	Duration     time.Duration `json:"duration"`
	Sent         time.Time     `json:"sent"` // real time
}

// webhooks is the simulator's webhook state; its mutex is its own.
type webhooks struct {
	mu         gosync.Mutex
	opts       WebhookOptions
	subs       []WebhookSubscription
	log        []WebhookDelivery
	base       string // the simulator's own URL, for ExactOnlineEndpoint
	seq        int
	ctx        context.Context
	cancel     context.CancelFunc
	wg         gosync.WaitGroup
	httpClient *http.Client
}

func (h *webhooks) init(opts WebhookOptions) {
	h.opts = opts
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.httpClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
}

// SetWebhookOptions replaces the webhook knobs (delay, loss, duplicates, signature).
func (s *Simulator) SetWebhookOptions(o WebhookOptions) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	s.hooks.opts = o
}

// WebhookOptions returns the webhook knobs in force.
func (s *Simulator) WebhookOptions() WebhookOptions {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	return s.hooks.opts
}

// WebhookSubscriptions returns every subscription of every division, in creation order.
func (s *Simulator) WebhookSubscriptions() []WebhookSubscription {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	return slices.Clone(s.hooks.subs)
}

// AddWebhookSubscription adds a subscription of the simulator's app directly, as a person
// or an earlier process would have made it (no validation call), and returns its ID.
func (s *Simulator) AddWebhookSubscription(division int, topic, callbackURL string) string {
	return s.AddOtherAppWebhookSubscription(s.opts.ClientID, division, topic, callbackURL)
}

// AddOtherAppWebhookSubscription adds a subscription that belongs to the app clientID.
// Unless that is the simulator's app, the simulator's clients neither see nor delete it,
// and no delivery of the simulator's goes to it (§3.14: an app cannot see another app's
// subscriptions).
func (s *Simulator) AddOtherAppWebhookSubscription(clientID string, division int, topic, callbackURL string) string {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	sub := WebhookSubscription{ID: s.newSubscriptionID(), Division: division, Topic: topic, CallbackURL: callbackURL,
		Created: s.Now(), Validated: true, App: clientID}
	s.hooks.subs = append(s.hooks.subs, sub)
	return sub.ID
}

// WebhookDeliveries returns the calls made to callbacks so far, lost ones included.
func (s *Simulator) WebhookDeliveries() []WebhookDelivery {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	return slices.Clone(s.hooks.log)
}

// WaitWebhooks waits until no delivery or validation call is pending or in flight.
func (s *Simulator) WaitWebhooks() { s.hooks.wg.Wait() }

// stopWebhooks cancels the pending calls and waits for them.
func (s *Simulator) stopWebhooks() {
	s.hooks.cancel()
	s.hooks.wg.Wait()
}

// newSubscriptionID makes a GUID; the caller holds hooks.mu.
func (s *Simulator) newSubscriptionID() string {
	s.hooks.seq++
	return newGenerator(s.opts.Seed, 0, s.start, 0).guid(1<<45 + s.hooks.seq)
}

// webhookRoute reports whether endpoint is webhooks/WebhookSubscriptions, with the key of
// one subscription when it is addressed as (guid'…') (§3.1).
func webhookRoute(endpoint string) (key string, ok bool) {
	if len(endpoint) < len(webhooksPath) || !strings.EqualFold(endpoint[:len(webhooksPath)], webhooksPath) {
		return "", false
	}
	rest := endpoint[len(webhooksPath):]
	if rest == "" {
		return "", true
	}
	if k, ok := strings.CutPrefix(rest, "(guid'"); ok {
		if k, ok := strings.CutSuffix(k, "')"); ok {
			return k, true
		}
	}
	return "", false
}

// webhookTopics are the topics the simulator accepts: the list of docs/exact-online.md §3.14.
var webhookTopics = []string{"Accounts", "Contacts", "Items", "StockPositions", "FinancialTransactions", "SalesOrders",
	"SalesInvoices", "PurchaseOrders", "GoodsDeliveries", "CostTransactions", "TimeTransactions", "Documents", "Quotations",
	"BankAccounts", "BankEntries", "CashEntries", "GeneralJournalEntries", "PurchaseEntries", "SalesEntries", "Subscriptions"}

// serveWebhookSubscriptions serves GET (list), POST (subscribe) and DELETE (by key) on a
// division's webhooks/WebhookSubscriptions, after auth and rate limits.
func (s *Simulator) serveWebhookSubscriptions(w http.ResponseWriter, r *http.Request, division int, key string) {
	switch {
	case r.Method == http.MethodGet && key == "":
		s.hooks.mu.Lock()
		var list []map[string]any
		for _, sub := range s.hooks.subs {
			if sub.Division == division && sub.App == s.opts.ClientID {
				list = append(list, s.subscriptionJSON(r, sub))
			}
		}
		s.hooks.mu.Unlock()
		if list == nil {
			list = []map[string]any{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"d": map[string]any{"results": list}})
	case r.Method == http.MethodPost && key == "":
		var req struct {
			CallbackURL string
			Topic       string
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			writeError(w, r, http.StatusBadRequest, "Error reading the request: "+err.Error())
			return
		}
		if msg := s.checkCallback(req.CallbackURL); msg != "" {
			writeError(w, r, http.StatusBadRequest, msg)
			return
		}
		if !slices.Contains(webhookTopics, req.Topic) {
			writeError(w, r, http.StatusBadRequest, "Invalid topic: "+req.Topic)
			return
		}
		s.hooks.mu.Lock()
		sub := WebhookSubscription{ID: s.newSubscriptionID(), Division: division, Topic: req.Topic, CallbackURL: req.CallbackURL, Created: s.Now(),
			App: s.opts.ClientID}
		s.hooks.subs = append(s.hooks.subs, sub)
		delay := cmp.Or(s.hooks.opts.ValidationDelay, time.Second)
		s.hooks.mu.Unlock()
		s.validateLater(sub, delay)
		writeJSON(w, http.StatusCreated, map[string]any{"d": s.subscriptionJSON(r, sub)})
	case r.Method == http.MethodDelete && key != "":
		id, err := canonicalGUID(key)
		s.hooks.mu.Lock()
		i := slices.IndexFunc(s.hooks.subs, func(sub WebhookSubscription) bool {
			return sub.ID == id && sub.Division == division && sub.App == s.opts.ClientID
		})
		if err == nil && i >= 0 {
			s.hooks.subs = slices.Delete(s.hooks.subs, i, i+1)
		}
		s.hooks.mu.Unlock()
		if err != nil || i < 0 {
			writeError(w, r, http.StatusNotFound, "Not found: webhook subscription "+key)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, r, http.StatusMethodNotAllowed, "Method not allowed on "+webhooksPath)
	}
}

func (s *Simulator) subscriptionJSON(r *http.Request, sub WebhookSubscription) map[string]any {
	return map[string]any{
		"__metadata": map[string]string{
			"uri":  baseURL(r) + fmt.Sprintf("/api/v1/%d/%s(guid'%s')", sub.Division, webhooksPath, sub.ID),
			"type": "Exact.Web.Api.Models.Webhooks.WebhookSubscription",
		},
		"ID": sub.ID, "CallbackURL": sub.CallbackURL, "Topic": sub.Topic, "ClientID": s.opts.ClientID,
		"Division": sub.Division, "Created": fmt.Sprintf("/Date(%d)/", amsterdamWallClockMillis(sub.Created)),
		"IsInstant": false, "UserID": s.userID,
	}
}

// checkCallback applies §3.14's rules: https, on the domain of the app's redirect URI.
// A callback on a loopback host is accepted over http and on any port, for local tests.
func (s *Simulator) checkCallback(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "Invalid CallbackURL: " + raw
	}
	if isLoopback(u.Hostname()) {
		return ""
	}
	if u.Scheme != "https" {
		return "CallbackURL must use https"
	}
	redirect, err := url.Parse(s.opts.RedirectURI)
	if err != nil || !strings.EqualFold(redirect.Hostname(), u.Hostname()) {
		return "CallbackURL must be on the domain of the app's redirect URI"
	}
	return ""
}

func isLoopback(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost") || strings.HasPrefix(h, "127.") || h == "::1"
}

// validateLater makes the validation call of a new subscription after delay: an empty
// POST that must be answered 200 (§3.14). A subscription whose callback fails it is
// removed (what Exact then does is not known; it stops the deliveries here).
func (s *Simulator) validateLater(sub WebhookSubscription, delay time.Duration) {
	s.hooks.wg.Add(1)
	go func() {
		defer s.hooks.wg.Done()
		if !sleepCtx(s.hooks.ctx, delay) {
			return
		}
		d := WebhookDelivery{Validation: true, Division: sub.Division, CallbackURL: sub.CallbackURL}
		s.post(&d, nil)
		s.hooks.mu.Lock()
		defer s.hooks.mu.Unlock()
		s.hooks.log = append(s.hooks.log, d)
		i := slices.IndexFunc(s.hooks.subs, func(x WebhookSubscription) bool { return x.ID == sub.ID })
		switch {
		case i < 0:
		case d.Status == http.StatusOK:
			s.hooks.subs[i].Validated = true
		default:
			s.hooks.subs = slices.Delete(s.hooks.subs, i, i+1)
		}
	}()
}

// changed is told of records that changed: each validated subscription of the division
// to a topic of entity gets a delivery per key (§3.14).
func (s *Simulator) changed(entity string, division int, action string, keys []string) {
	if entity == "" || len(keys) == 0 {
		return
	}
	ent, ok := catalogue.Lookup(entity)
	if !ok || len(ent.WebhookTopics) == 0 {
		return
	}
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	o := s.hooks.opts
	for _, sub := range s.hooks.subs {
		if sub.Division != division || !sub.Validated || sub.App != s.opts.ClientID || !slices.Contains(ent.WebhookTopics, sub.Topic) {
			continue
		}
		for _, key := range keys {
			body, bad := s.deliveryBody(sub, ent, action, key)
			for n := 0; n <= o.Duplicates; n++ {
				d := WebhookDelivery{Topic: sub.Topic, Division: division, Action: action, Key: key, CallbackURL: sub.CallbackURL,
					Duplicate: n > 0, BadSignature: bad}
				s.mu.Lock()
				d.Lost = o.LossRate > 0 && s.rng.Float64() < o.LossRate
				s.mu.Unlock()
				if d.Lost {
					s.hooks.log = append(s.hooks.log, d)
					continue
				}
				s.hooks.wg.Add(1)
				go func() {
					defer s.hooks.wg.Done()
					if !sleepCtx(s.hooks.ctx, o.Delay) {
						return
					}
					s.post(&d, body)
					s.hooks.mu.Lock()
					s.hooks.log = append(s.hooks.log, d)
					s.hooks.mu.Unlock()
				}()
			}
		}
	}
}

// deliveryBody is the body of one delivery: {"Content":{…},"HashCode":"<HEX>"}, the
// HashCode being the upper-case hex HMAC-SHA256 of the Content text as sent (§3.14). The
// caller holds hooks.mu.
func (s *Simulator) deliveryBody(sub WebhookSubscription, ent catalogue.Entity, action, key string) ([]byte, bool) {
	base := cmp.Or(s.hooks.base, "https://start.exactonline.nl")
	endpoint := strings.TrimPrefix(ent.Path, "sync/")
	content, _ := json.Marshal(struct {
		Topic               string
		ClientID            string `json:"ClientId"`
		Division            int
		Action              string
		Key                 string
		ExactOnlineEndpoint string
		EventCreatedOn      string
	}{sub.Topic, s.opts.ClientID, sub.Division, action, key,
		fmt.Sprintf("%s/api/v1/%d/%s(guid'%s')", base, sub.Division, endpoint, key),
		s.Now().In(amsterdam).Format("2006-01-02T15:04:05.000")})
	secret := cmp.Or(s.hooks.opts.Secret, DefaultWebhookSecret)
	if s.hooks.opts.WrongSignature {
		secret = "not-" + secret
	}
	var b bytes.Buffer
	b.WriteString(`{"Content":`)
	b.Write(content)
	b.WriteString(`,"HashCode":"`)
	b.WriteString(WebhookSignature(secret, content))
	b.WriteString(`"}`)
	return b.Bytes(), s.hooks.opts.WrongSignature
}

// WebhookSignature is the HashCode of a Content text: the upper-case hex HMAC-SHA256 keyed
// with the webhook secret (§3.14).
func WebhookSignature(secret string, content []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(content)
	return strings.ToUpper(hex.EncodeToString(m.Sum(nil)))
}

// post makes one call to a callback and records its outcome in d.
func (s *Simulator) post(d *WebhookDelivery, body []byte) {
	ctx, cancel := context.WithTimeout(s.hooks.ctx, cmp.Or(s.WebhookOptions().Timeout, 10*time.Second))
	defer cancel()
	d.Sent = time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.CallbackURL, bytes.NewReader(body))
	if err == nil {
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		var resp *http.Response
		if resp, err = s.hooks.httpClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			d.Status = resp.StatusCode
		}
	}
	d.Duration = time.Since(d.Sent)
	if err != nil {
		d.Error = err.Error()
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// amsterdamWallClockMillis is t as Exact serves dates: Amsterdam wall-clock time as if UTC (§3.8).
func amsterdamWallClockMillis(t time.Time) int64 {
	l := t.In(amsterdam)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC).UnixMilli()
}

// serveWebhookControl serves /_sim/webhooks: GET the subscriptions and the deliveries,
// POST the knobs.
func (s *Simulator) serveWebhookControl(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"subscriptions": s.WebhookSubscriptions(), "deliveries": s.WebhookDeliveries()})
	case http.MethodPost:
		var req struct {
			Delay           *string  `json:"delay"`
			ValidationDelay *string  `json:"validation_delay"`
			LossRate        *float64 `json:"loss_rate"`
			Duplicates      *int     `json:"duplicates"`
			WrongSignature  *bool    `json:"wrong_signature"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "decoding webhooks request: " + err.Error()})
			return
		}
		o := s.WebhookOptions()
		for _, v := range []struct {
			in  *string
			out *time.Duration
		}{{req.Delay, &o.Delay}, {req.ValidationDelay, &o.ValidationDelay}} {
			if v.in == nil {
				continue
			}
			d, err := time.ParseDuration(*v.in)
			if err != nil || d < 0 {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("%q: want a non-negative Go duration like \"2s\"", *v.in)})
				return
			}
			*v.out = d
		}
		if req.LossRate != nil {
			o.LossRate = *req.LossRate
		}
		if req.Duplicates != nil {
			o.Duplicates = max(*req.Duplicates, 0)
		}
		if req.WrongSignature != nil {
			o.WrongSignature = *req.WrongSignature
		}
		s.SetWebhookOptions(o)
		writeJSON(w, http.StatusOK, map[string]any{"delay": o.Delay.String(), "validation_delay": cmp.Or(o.ValidationDelay, time.Second).String(),
			"loss_rate": o.LossRate, "duplicates": o.Duplicates, "wrong_signature": o.WrongSignature})
	default:
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "GET or POST /_sim/webhooks"})
	}
}
