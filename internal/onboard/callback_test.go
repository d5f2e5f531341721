package onboard

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// A replayed redirect (a reload of the callback page, or another request with the same
// state and code) is refused and does not deliver the code again.
func TestCallbackReplayRefused(t *testing.T) {
	const state = fuzzState
	codes := make(chan string, 1)
	h := callbackHandler("/callback", state, codes, zerolog.Nop())
	get := func(query string) (int, string) {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/callback?"+query, nil))
		return rec.Code, rec.Body.String()
	}
	const first = "code=dAfj%21hB1k&state=" + state
	if status, body := get(first); status != http.StatusOK || !strings.Contains(body, "Authorization received") {
		t.Fatalf("first callback: got %d %s, want 200 Authorization received", status, body)
	}
	if got := <-codes; got != "dAfj!hB1k" {
		t.Errorf("delivered %q, want the first redirect's code dAfj!hB1k", got)
	}
	tests := []struct{ name, query string }{
		{"same state and code", first},
		{"same state, another code", "code=other&state=" + state},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(tt.query)
			if status != http.StatusConflict || !strings.Contains(body, "This authorization was already used; run `exactsync auth login` again if you need a new one.") {
				t.Errorf("got %d %s, want 409 saying the authorization was already used", status, body)
			}
			select {
			case in := <-codes:
				t.Errorf("delivered %q again, want nothing", in)
			default:
			}
		})
	}
}

// The listener's lifecycle: Start serves https with a certificate whose fingerprint it
// tells, the first redirect's code arrives on Codes, and Stop returns with every
// goroutine ended and the port closed.
func TestCallbackStartStop(t *testing.T) {
	redirect, err := url.Parse("https://localhost/callback")
	if err != nil {
		t.Fatal(err)
	}
	cb := NewCallback(CallbackConfig{RedirectURL: redirect, Addr: "127.0.0.1:0", State: fuzzState, Logger: zerolog.Nop()})
	if err := cb.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(cb.Addrs()) != 1 {
		t.Fatalf("Addrs() = %q, want one address", cb.Addrs())
	}
	var served string
	browser := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // self-signed: what the user accepts in the browser's warning
		VerifyConnection: func(cs tls.ConnectionState) error {
			served = Fingerprint(cs.PeerCertificates[0].Raw)
			return cs.PeerCertificates[0].VerifyHostname("localhost")
		},
	}}}
	resp, err := browser.Get("https://" + cb.Addrs()[0] + "/callback?code=dAfj%21hB1k&state=" + fuzzState)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("callback answered %d: %s", resp.StatusCode, body)
	}
	if served == "" || served != cb.Fingerprint() {
		t.Errorf("served certificate %s, Fingerprint() %s; want the same", served, cb.Fingerprint())
	}
	select {
	case code := <-cb.Codes():
		if code != "dAfj!hB1k" {
			t.Errorf("delivered %q, want dAfj!hB1k", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no code delivered")
	}
	browser.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cb.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if _, err := browser.Get("https://" + cb.Addrs()[0] + "/callback"); err == nil {
		t.Error("the listener still answers after Stop")
	}
}
