package exacttest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	gosync "sync"
	"testing"
	"time"
)

// callbackRecorder is a callback that records every body it gets and answers status.
type callbackRecorder struct {
	*httptest.Server
	mu     gosync.Mutex
	bodies [][]byte
	status int
}

func newCallback(t *testing.T, status int) *callbackRecorder {
	c := &callbackRecorder{status: status}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.bodies = append(c.bodies, b)
		st := c.status
		c.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *callbackRecorder) got() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.bodies...)
}

func send(t *testing.T, srv *Server, token, method, path, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestWebhookSubscriptionsAndDeliveries pins §3.14: subscribe (POST), list (GET), the
// empty validation POST, a signed delivery per changed record, delete by key.
func TestWebhookSubscriptionsAndDeliveries(t *testing.T) {
	opts := testOptions(3)
	opts.Webhooks = WebhookOptions{Secret: "s3cret", ValidationDelay: 10 * time.Millisecond}
	srv := newTestServer(t, opts)
	tok := newAccessTokenFor(t, srv)
	cb := newCallback(t, http.StatusOK)

	st, b := send(t, srv, tok, http.MethodPost, "/api/v1/101/webhooks/WebhookSubscriptions", `{"CallbackURL":"`+cb.URL+`/hook","Topic":"Accounts"}`)
	if st != http.StatusCreated {
		t.Fatalf("POST: %d %s", st, b)
	}
	var created struct {
		D struct{ ID, Topic, CallbackURL string }
	}
	if err := json.Unmarshal(b, &created); err != nil || created.D.ID == "" || created.D.Topic != "Accounts" {
		t.Fatalf("POST answer %s: %v", b, err)
	}
	for _, bad := range []string{`{"CallbackURL":"http://example.com/hook","Topic":"Accounts"}`, `{"CallbackURL":"https://example.com/hook","Topic":"Accounts"}`,
		`{"CallbackURL":"` + cb.URL + `","Topic":"NoSuchTopic"}`} {
		if st, b := send(t, srv, tok, http.MethodPost, "/api/v1/101/webhooks/WebhookSubscriptions", bad); st != http.StatusBadRequest {
			t.Errorf("POST %s: %d %s, want 400", bad, st, b)
		}
	}
	srv.WaitWebhooks()
	if got := cb.got(); len(got) != 1 || len(got[0]) != 0 {
		t.Fatalf("validation: the callback got %q, want one empty POST", got)
	}
	if subs := srv.WebhookSubscriptions(); len(subs) != 1 || !subs[0].Validated {
		t.Fatalf("subscriptions %+v, want one validated", subs)
	}

	if _, err := srv.UpsertRecords("accounts", 101, map[string]any{"Name": "Webhook BV"}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.UpsertRecords("items", 101, map[string]any{"Code": "X"}); err != nil { // no subscription
		t.Fatal(err)
	}
	srv.WaitWebhooks()
	got := cb.got()
	if len(got) != 2 {
		t.Fatalf("the callback got %d calls, want validation and one delivery", len(got))
	}
	body := got[1]
	start, end := bytes.Index(body, []byte(`{"Content":`)), bytes.LastIndex(body, []byte(`,"HashCode":"`))
	if start != 0 || end < 0 {
		t.Fatalf("delivery %s: not {\"Content\":…,\"HashCode\":…}", body)
	}
	content := body[len(`{"Content":`):end]
	if want := `"HashCode":"` + WebhookSignature("s3cret", content) + `"}`; !bytes.HasSuffix(body, []byte(want)) {
		t.Errorf("delivery %s: want it to end %s", body, want)
	}
	var c struct {
		Topic, ClientId, Action, Key, ExactOnlineEndpoint string
		Division                                          int
	}
	if err := json.Unmarshal(content, &c); err != nil || c.Topic != "Accounts" || c.Division != 101 || c.Action != "Create" ||
		c.ClientId != "exactsim-client" || !strings.Contains(c.ExactOnlineEndpoint, "/api/v1/101/CRM/Accounts(guid'"+c.Key+"')") {
		t.Errorf("content %s: %v", content, err)
	}

	st, b = send(t, srv, tok, http.MethodGet, "/api/v1/101/webhooks/WebhookSubscriptions", "")
	if st != http.StatusOK || !bytes.Contains(b, []byte(created.D.ID)) {
		t.Fatalf("GET: %d %s", st, b)
	}
	if st, b = send(t, srv, tok, http.MethodGet, "/api/v1/102/webhooks/WebhookSubscriptions", ""); st != http.StatusOK || bytes.Contains(b, []byte(created.D.ID)) {
		t.Errorf("GET of division 102: %d %s, want no subscription of 101", st, b)
	}
	if st, b = send(t, srv, tok, http.MethodDelete, "/api/v1/101/webhooks/WebhookSubscriptions(guid'"+created.D.ID+"')", ""); st != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", st, b)
	}
	if st, _ = send(t, srv, tok, http.MethodDelete, "/api/v1/101/webhooks/WebhookSubscriptions(guid'"+created.D.ID+"')", ""); st != http.StatusNotFound {
		t.Errorf("second DELETE: %d, want 404", st)
	}
	if n := srv.Stats().Calls(101, "webhooks/WebhookSubscriptions"); n != 7 {
		t.Errorf("%d calls counted on webhooks/WebhookSubscriptions, want 7", n)
	}
}

// TestWebhookKnobs checks loss, duplicates, the wrong signature and a failed validation.
func TestWebhookKnobs(t *testing.T) {
	opts := testOptions(3)
	opts.Webhooks = WebhookOptions{ValidationDelay: time.Millisecond}
	srv := newTestServer(t, opts)
	cb := newCallback(t, http.StatusOK)
	srv.AddWebhookSubscription(101, "Accounts", cb.URL)

	srv.SetWebhookOptions(WebhookOptions{Duplicates: 2, WrongSignature: true})
	if _, err := srv.UpsertRecords("accounts", 101, map[string]any{"Name": "A"}); err != nil {
		t.Fatal(err)
	}
	srv.WaitWebhooks()
	if got := cb.got(); len(got) != 3 {
		t.Fatalf("%d deliveries, want 3 (two duplicates)", len(got))
	} else if content := got[0][len(`{"Content":`):bytes.LastIndex(got[0], []byte(`,"HashCode"`))]; bytes.Contains(got[0], []byte(WebhookSignature(DefaultWebhookSecret, content))) {
		t.Errorf("wrong signature: the delivery is signed with the right secret")
	}

	srv.SetWebhookOptions(WebhookOptions{LossRate: 1})
	if _, err := srv.UpsertRecords("accounts", 101, map[string]any{"Name": "B"}); err != nil {
		t.Fatal(err)
	}
	srv.WaitWebhooks()
	if got := cb.got(); len(got) != 3 {
		t.Errorf("%d deliveries after a lost one, want still 3", len(got))
	}
	if log := srv.WebhookDeliveries(); len(log) != 4 || !log[3].Lost {
		t.Errorf("delivery log %+v, want the last one lost", log)
	}

	// Knobs over HTTP.
	resp, err := http.Post(srv.URL+"/_sim/webhooks", "application/json", strings.NewReader(`{"delay":"5ms","loss_rate":0,"duplicates":0,"wrong_signature":false}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /_sim/webhooks: %v %v", resp, err)
	}
	resp.Body.Close()
	if o := srv.WebhookOptions(); o.Delay != 5*time.Millisecond || o.LossRate != 0 {
		t.Errorf("options %+v after POST /_sim/webhooks", o)
	}

	// A callback that fails the validation loses its subscription.
	bad := newCallback(t, http.StatusUnauthorized)
	tok := newAccessTokenFor(t, srv)
	if st, b := send(t, srv, tok, http.MethodPost, "/api/v1/101/webhooks/WebhookSubscriptions", `{"CallbackURL":"`+bad.URL+`","Topic":"Items"}`); st != http.StatusCreated {
		t.Fatalf("POST: %d %s", st, b)
	}
	srv.WaitWebhooks()
	for _, s := range srv.WebhookSubscriptions() {
		if s.CallbackURL == bad.URL {
			t.Errorf("a subscription whose validation failed is kept: %+v", s)
		}
	}
}

// TestOtherAppsSubscriptionsAreNotOurs: another app's subscription in the division is not
// listed, cannot be deleted and gets no delivery of ours (§3.14).
func TestOtherAppsSubscriptionsAreNotOurs(t *testing.T) {
	opts := testOptions(3)
	opts.Webhooks = WebhookOptions{ValidationDelay: time.Millisecond}
	srv := newTestServer(t, opts)
	tok := newAccessTokenFor(t, srv)
	cb := newCallback(t, http.StatusOK)
	other := srv.AddOtherAppWebhookSubscription("other-app", 101, "Accounts", cb.URL)
	if st, b := send(t, srv, tok, http.MethodGet, "/api/v1/101/webhooks/WebhookSubscriptions", ""); st != http.StatusOK || strings.Contains(string(b), other) {
		t.Errorf("GET: %d %s, want 200 without the other app's subscription", st, b)
	}
	if st, _ := send(t, srv, tok, http.MethodDelete, "/api/v1/101/webhooks/WebhookSubscriptions(guid'"+other+"')", ""); st != http.StatusNotFound {
		t.Errorf("DELETE of the other app's subscription: %d, want 404", st)
	}
	if _, err := srv.UpsertRecords("accounts", 101, map[string]any{"Name": "A"}); err != nil {
		t.Fatal(err)
	}
	srv.WaitWebhooks()
	if got := cb.got(); len(got) != 0 {
		t.Errorf("%d deliveries through the other app's subscription, want 0", len(got))
	}
	if subs := srv.WebhookSubscriptions(); len(subs) != 1 || subs[0].App != "other-app" {
		t.Errorf("subscriptions %+v, want the other app's, untouched", subs)
	}
}
