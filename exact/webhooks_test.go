package exact_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/exacttest"
)

// TestWebhookSubscriptionCalls lists, creates and deletes subscriptions through the
// client's request path against the simulator: counted calls, JSON bodies, by-key delete.
func TestWebhookSubscriptionCalls(t *testing.T) {
	srv, c, _ := newSimClient(t, exacttest.Options{Divisions: []int{101}, Webhooks: exacttest.WebhookOptions{ValidationDelay: time.Hour}})
	ctx := context.Background()
	other := srv.AddWebhookSubscription(101, "Items", "https://other.example/hook")

	created, err := c.CreateWebhookSubscription(ctx, 101, "Accounts", "http://127.0.0.1:1/hook")
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == "" || created.Topic != "Accounts" || created.CallbackURL != "http://127.0.0.1:1/hook" {
		t.Errorf("created %+v", created)
	}
	list, err := c.WebhookSubscriptions(ctx, 101)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != other || list[1] != created {
		t.Errorf("listed %+v, want the other app's and %+v", list, created)
	}
	if err := c.DeleteWebhookSubscription(ctx, 101, created.ID); err != nil {
		t.Fatal(err)
	}
	var apiErr *exact.APIError
	if err := c.DeleteWebhookSubscription(ctx, 101, created.ID); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Errorf("second delete: %v, want a 404 *APIError", err)
	}
	if err := c.DeleteWebhookSubscription(ctx, 101, "not-a-guid"); err == nil {
		t.Errorf("delete of a key that is not a GUID: no error")
	}
	if _, err := c.CreateWebhookSubscription(ctx, 101, "NoSuchTopic", "http://127.0.0.1:1/hook"); !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
		t.Errorf("unknown topic: %v, want a 400 *APIError", err)
	}
	if got, want := srv.Stats().Calls(101, exact.WebhookSubscriptionsPath), 5; got != want || c.Calls() < int64(want) {
		t.Errorf("simulator counted %d calls, client %d; want %d", got, c.Calls(), want)
	}
}
