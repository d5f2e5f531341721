package webhook

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/exactsync/exactsync/exact"
)

// SubscriptionAPI is what reconciling needs of an Exact client (exact.Client).
type SubscriptionAPI interface {
	WebhookSubscriptions(ctx context.Context, division int) ([]exact.WebhookSubscription, error)
	CreateWebhookSubscription(ctx context.Context, division int, topic, callbackURL string) (exact.WebhookSubscription, error)
	DeleteWebhookSubscription(ctx context.Context, division int, id string) error
}

var _ SubscriptionAPI = (*exact.Client)(nil)

// Reconciled is what Reconcile found and did in one division.
type Reconciled struct {
	Division int
	Kept     []exact.WebhookSubscription // ours, wanted
	Created  []exact.WebhookSubscription
	Deleted  []exact.WebhookSubscription // ours, unwanted or doubled
	Others   []exact.WebhookSubscription // other callbacks, left alone
}

// Reconcile makes division's subscriptions of callbackURL the topics wanted: it lists them
// (§3.14), deletes the ones of callbackURL whose topic is not wanted or that double
// another, and creates the wanted topics missing. Subscriptions of other callbacks are
// left alone. It goes on after a failed create or delete and returns every error, joined.
func Reconcile(ctx context.Context, api SubscriptionAPI, division int, callbackURL string, topics []string) (Reconciled, error) {
	res := Reconciled{Division: division}
	subs, err := api.WebhookSubscriptions(ctx, division)
	if err != nil {
		return res, err
	}
	have := map[string]bool{}
	var errs []error
	for _, s := range subs {
		switch {
		case !SameCallback(s.CallbackURL, callbackURL):
			res.Others = append(res.Others, s)
		case slices.Contains(topics, s.Topic) && !have[s.Topic]:
			have[s.Topic] = true
			res.Kept = append(res.Kept, s)
		default:
			if err := api.DeleteWebhookSubscription(ctx, division, s.ID); err != nil {
				errs = append(errs, err)
				continue
			}
			res.Deleted = append(res.Deleted, s)
		}
	}
	for _, t := range topics {
		if have[t] {
			continue
		}
		s, err := api.CreateWebhookSubscription(ctx, division, t, callbackURL)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		res.Created = append(res.Created, s)
	}
	return res, errors.Join(errs...)
}

// SameCallback reports whether two callback URLs name the same address: scheme and host
// compare without regard to case, the rest exactly.
func SameCallback(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	return strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Host, ub.Host) &&
		ua.EscapedPath() == ub.EscapedPath() && ua.RawQuery == ub.RawQuery
}
