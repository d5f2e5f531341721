package exact

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// WebhookSubscriptionsPath is the collection of a division's webhook subscriptions
// (docs/exact-online.md §3.14).
const WebhookSubscriptionsPath = "webhooks/WebhookSubscriptions"

// WebhookSubscription is one webhook subscription of a division: Exact POSTs a delivery to
// CallbackURL whenever a record of Topic changes (§3.14). A subscription belongs to the app
// and user of the connection; other apps' subscriptions are not listed.
type WebhookSubscription struct {
	ID          string // the subscription's GUID, canonical
	Topic       string // e.g. Accounts, FinancialTransactions
	CallbackURL string
}

// WebhookSubscriptions lists the webhook subscriptions of division (§3.14). Like every
// call with a division it counts against the division's budgets (§2.1).
func (c *Client) WebhookSubscriptions(ctx context.Context, division int) ([]WebhookSubscription, error) {
	next := c.URL(division, WebhookSubscriptionsPath, url.Values{"$select": {"ID,CallbackURL,Topic"}})
	var out []WebhookSubscription
	for page := 1; next != ""; page++ {
		p, err := c.Page(ctx, division, next)
		if err != nil {
			return nil, fmt.Errorf("listing the webhook subscriptions of division %d, page %d: %w", division, page, err)
		}
		for _, r := range p.Records {
			s, err := webhookSubscription(r)
			if err != nil {
				return nil, fmt.Errorf("listing the webhook subscriptions of division %d, page %d: %w", division, page, err)
			}
			out = append(out, s)
		}
		next = p.Next
	}
	return out, nil
}

// CreateWebhookSubscription subscribes callbackURL to topic in division (§3.14) and returns
// the new subscription. Exact validates the callback about a second later with an empty
// POST that must be answered 200. The call is not repeated after a failure that may have
// come after Exact created it: a duplicate would be found by the next listing.
func (c *Client) CreateWebhookSubscription(ctx context.Context, division int, topic, callbackURL string) (WebhookSubscription, error) {
	body, err := json.Marshal(struct {
		CallbackURL string `json:"CallbackURL"`
		Topic       string `json:"Topic"`
	}{callbackURL, topic})
	if err != nil {
		return WebhookSubscription{}, err
	}
	answer, _, err := c.send(ctx, http.MethodPost, division, c.URL(division, WebhookSubscriptionsPath, nil), WebhookSubscriptionsPath, body, callTrace{})
	if err != nil {
		return WebhookSubscription{}, fmt.Errorf("subscribing to webhook topic %s in division %d: %w", topic, division, err)
	}
	pb, err := decodePage(WebhookSubscriptionsPath, answer)
	if err == nil && len(pb.records) != 1 {
		err = fmt.Errorf("%d subscriptions in the answer, want 1", len(pb.records))
	}
	if err != nil {
		return WebhookSubscription{}, fmt.Errorf("subscribing to webhook topic %s in division %d: reading the answer: %w", topic, division, err)
	}
	s, err := webhookSubscription(pb.records[0])
	if err != nil {
		return WebhookSubscription{}, fmt.Errorf("subscribing to webhook topic %s in division %d: %w", topic, division, err)
	}
	return s, nil
}

// DeleteWebhookSubscription deletes the subscription id of division (§3.14, by key as
// §3.1 addresses one entity).
func (c *Client) DeleteWebhookSubscription(ctx context.Context, division int, id string) error {
	guid, ok, err := GUID([]byte(strconv.Quote(id)))
	if err != nil || !ok {
		return fmt.Errorf("deleting webhook subscription %q of division %d: not a GUID", id, division)
	}
	path := WebhookSubscriptionsPath + "(guid'" + guid + "')"
	if _, _, err := c.send(ctx, http.MethodDelete, division, c.URL(division, path, nil), WebhookSubscriptionsPath, nil, callTrace{}); err != nil {
		return fmt.Errorf("deleting webhook subscription %s of division %d: %w", guid, division, err)
	}
	return nil
}

func webhookSubscription(r Record) (WebhookSubscription, error) {
	if err := r.Err(); err != nil {
		return WebhookSubscription{}, err
	}
	var s WebhookSubscription
	var errs []error
	var err error
	var ok bool
	s.ID, ok, err = GUID(r.Field("ID"))
	if err == nil && !ok {
		err = errors.New("missing")
	}
	errs = append(errs, fieldErr("ID", err))
	s.Topic, _, err = String(r.Field("Topic"))
	errs = append(errs, fieldErr("Topic", err))
	s.CallbackURL, _, err = String(r.Field("CallbackURL"))
	errs = append(errs, fieldErr("CallbackURL", err))
	if err := errors.Join(errs...); err != nil {
		return WebhookSubscription{}, fmt.Errorf("a webhook subscription: %w", err)
	}
	return s, nil
}
