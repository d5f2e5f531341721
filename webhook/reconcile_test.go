package webhook

import (
	"context"
	"slices"
	gosync "sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/exacttest"
)

// memTokens is an in-memory exact.TokenStore.
type memTokens struct {
	mu  gosync.Mutex
	tok exact.Token
}

func (m *memTokens) LoadToken(context.Context) (exact.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tok, nil
}

func (m *memTokens) UpdateToken(ctx context.Context, fn func(context.Context, exact.Token) (exact.Token, bool, error)) (exact.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	next, changed, err := fn(ctx, m.tok)
	if err != nil {
		return exact.Token{}, err
	}
	if changed {
		m.tok = next
	}
	return m.tok, nil
}

func (m *memTokens) MarkReauthRequired(context.Context, *exact.ReauthError) error { return nil }

func simClient(t *testing.T, opts exacttest.Options) (*exacttest.Server, *exact.Client) {
	t.Helper()
	srv := exacttest.NewServer(opts)
	t.Cleanup(srv.Close)
	c, err := exact.New(exact.Config{BaseURL: srv.URL, ClientID: "exactsim-client", ClientSecret: "exactsim-secret", Logger: zerolog.Nop()},
		&memTokens{tok: exact.Token{RefreshToken: srv.RefreshToken()}})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

// TestReconcileAgainstTheSimulator: the missing topics are created, ours that are no
// longer wanted (or doubled) deleted, other callbacks left alone; a second pass changes
// nothing. Another app's subscription to the same callback and topic is not ours to see
// (§3.14): it neither stands for ours nor gets deleted.
func TestReconcileAgainstTheSimulator(t *testing.T) {
	srv, c := simClient(t, exacttest.Options{Divisions: []int{101}, Webhooks: exacttest.WebhookOptions{ValidationDelay: time.Hour}})
	const ours = "http://127.0.0.1:9/exact/webhook"
	others := srv.AddWebhookSubscription(101, "Accounts", "https://other-app.example/hook")
	unwanted := srv.AddWebhookSubscription(101, "StockPositions", ours)
	kept := srv.AddWebhookSubscription(101, "Accounts", "HTTP://127.0.0.1:9/exact/webhook")
	doubled := srv.AddWebhookSubscription(101, "Accounts", ours)
	srv.AddOtherAppWebhookSubscription("other-app", 101, "FinancialTransactions", ours)
	topics := Topics([]string{"accounts", "suppliers", "transaction_lines", "journals"})
	if !slices.Equal(topics, []string{"Accounts", "FinancialTransactions"}) {
		t.Fatalf("Topics = %v", topics)
	}
	ctx := context.Background()
	res, err := Reconcile(ctx, c, 101, ours, topics)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(subs []exact.WebhookSubscription) []string {
		var out []string
		for _, s := range subs {
			out = append(out, s.ID)
		}
		return out
	}
	if !slices.Equal(ids(res.Others), []string{others}) || !slices.Equal(ids(res.Kept), []string{kept}) ||
		!slices.Equal(ids(res.Deleted), []string{unwanted, doubled}) || len(res.Created) != 1 || res.Created[0].Topic != "FinancialTransactions" {
		t.Fatalf("reconciled %+v", res)
	}
	var got []string
	for _, s := range srv.WebhookSubscriptions() {
		got = append(got, s.App+" "+s.Topic+" "+s.CallbackURL)
	}
	want := []string{"exactsim-client Accounts https://other-app.example/hook", "exactsim-client Accounts HTTP://127.0.0.1:9/exact/webhook",
		"other-app FinancialTransactions " + ours, "exactsim-client FinancialTransactions " + ours}
	if !slices.Equal(got, want) {
		t.Errorf("subscriptions %q, want %q", got, want)
	}
	res, err = Reconcile(ctx, c, 101, ours, topics)
	if err != nil || len(res.Created)+len(res.Deleted) != 0 || len(res.Kept) != 2 {
		t.Errorf("second pass: %+v, %v; want nothing to do", res, err)
	}
	// Every call went to the subscriptions collection: nothing fetched a record.
	for k := range srv.Stats().APICalls {
		if k != "101 "+exact.WebhookSubscriptionsPath && k != "current/Me" {
			t.Errorf("unexpected call %q", k)
		}
	}
}
