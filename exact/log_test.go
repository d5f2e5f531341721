package exact

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRequestLog(t *testing.T) {
	env := newTestEnv(t)
	env.exact.setAPI((&script{steps: []http.HandlerFunc{
		status(503, ``),
		func(w http.ResponseWriter, r *http.Request) {
			setRateHeaders(w, 5000, 4766, nextMidnight, 60, 58, nextMinute)
			writeJSON(w, 200, onePage)
		},
	}}).ServeHTTP)
	u := env.client.URL(101, "sync/CRM/Accounts", nil)
	if _, err := env.client.Page(context.Background(), 101, u); err != nil {
		t.Fatal(err)
	}
	var requests, warnings []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(env.logs.String()), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		switch {
		case ev["message"] == "exact request" && ev["url"] == u:
			requests = append(requests, ev)
		case ev["level"] == "warn":
			warnings = append(warnings, ev)
		}
	}
	if len(requests) != 2 {
		t.Fatalf("request log lines: got %d, want 2:\n%s", len(requests), env.logs.String())
	}
	last := requests[1]
	want := map[string]any{
		"level": "debug", "method": "GET", "status": float64(200),
		"x_ratelimit_limit": "5000", "x_ratelimit_remaining": "4766",
		"x_ratelimit_reset":          "1767657600000",
		"x_ratelimit_minutely_limit": "60", "x_ratelimit_minutely_remaining": "58",
		"x_ratelimit_minutely_reset": "1767603660000",
	}
	for k, v := range want {
		if last[k] != v {
			t.Errorf("request log %s: got %v, want %v", k, last[k], v)
		}
	}
	if _, ok := last["duration_ms"]; !ok {
		t.Errorf("request log has no duration")
	}
	if len(warnings) != 1 || warnings[0]["endpoint"] != "sync/CRM/Accounts" || warnings[0]["division"] != float64(101) {
		t.Errorf("retry warnings: got %v, want one for sync/CRM/Accounts in division 101", warnings)
	}
	if strings.Contains(strings.ToLower(env.logs.String()), "bearer") || strings.Contains(env.logs.String(), "authorization") {
		t.Errorf("logs mention the Authorization header")
	}
}

// A run through the token paths with everything logged at Debug leaks no secret into logs or
// errors (newTestEnv checks the logs of every test; this one also checks the errors).
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	var errs []error
	collect := func(_ any, err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	env.exact.setAPI((&script{steps: []http.HandlerFunc{
		status(401, ``), ok(onePage), status(500, `{"error":{"code":"","message":{"lang":"","value":"acc-Zsekrit-1"}}}`),
		status(400, `{"error":{"code":"","message":{"lang":"","value":"bad"}}}`),
	}}).ServeHTTP)
	u := env.client.URL(101, "crm/Accounts", nil)
	collect(env.client.Page(ctx, 101, u))
	collect(env.client.Page(ctx, 101, u))
	env.clock.Advance(time.Hour)
	env.exact.setToken(func(w http.ResponseWriter, r *http.Request) bool {
		writeJSON(w, 401, `{"error":"unauthorized_client","error_description":"Old refresh token used."}`)
		return true
	})
	collect(env.client.AccessToken(ctx))
	collect(env.client.Exchange(ctx, "code!bad"))
	if len(errs) < 3 {
		t.Fatalf("got %d errors, want at least 3: %v", len(errs), errs)
	}
	for _, err := range errs {
		checkNoSecrets(t, "error", err.Error())
	}
	for _, m := range env.store.Marks() {
		checkNoSecrets(t, "reauth reason", m)
	}
}
