package config

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/exactsync/exactsync/exact"
)

const testWebhookSecret = "whsec-Zsekrit-0123456789"

func TestLoadWebhooks(t *testing.T) {
	base := map[string]string{EnvDatabaseURL: "postgres://u@db:5432/x"}
	for _, tt := range []struct {
		name string
		vars map[string]string
		want []string // problems, by variable and a word of the fix; none: valid
	}{
		{"off", nil, nil},
		{"https", map[string]string{EnvWebhookSecret: testWebhookSecret, EnvWebhookURL: "https://sync.example.com/exact/webhook", EnvWebhookListen: ":8090"}, nil},
		{"loopback http", map[string]string{EnvWebhookSecret: testWebhookSecret, EnvWebhookURL: "http://127.0.0.1:8090/hook"}, nil},
		{"plain http", map[string]string{EnvWebhookSecret: testWebhookSecret, EnvWebhookURL: "http://sync.example.com/hook"},
			[]string{EnvWebhookURL + ": \"http://sync.example.com/hook\" uses plain http"}},
		{"url without secret", map[string]string{EnvWebhookURL: "https://sync.example.com/hook"},
			[]string{EnvWebhookSecret + ": not set while " + EnvWebhookURL}},
		{"secret without url", map[string]string{EnvWebhookSecret: testWebhookSecret},
			[]string{EnvWebhookURL + ": not set while " + EnvWebhookSecret}},
		{"blank secret", map[string]string{EnvWebhookSecret: "  ", EnvWebhookURL: "https://sync.example.com/hook"},
			[]string{EnvWebhookSecret + ": blank"}},
		{"relative url", map[string]string{EnvWebhookSecret: testWebhookSecret, EnvWebhookURL: "/hook"},
			[]string{EnvWebhookURL + ": \"/hook\" is not an absolute URL"}},
		{"user info", map[string]string{EnvWebhookSecret: testWebhookSecret, EnvWebhookURL: "https://u:p@sync.example.com/hook"},
			[]string{EnvWebhookURL + ": "}},
		{"bad listen", map[string]string{EnvWebhookSecret: testWebhookSecret, EnvWebhookURL: "https://sync.example.com/hook", EnvWebhookListen: "8090"},
			[]string{EnvWebhookListen + ": \"8090\" is not host:port"}},
		{"listen alone", map[string]string{EnvWebhookListen: ":8090"},
			[]string{EnvWebhookListen + ": set without " + EnvWebhookURL}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{}
			for k, v := range base {
				vars[k] = v
			}
			for k, v := range tt.vars {
				vars[k] = v
			}
			c, err := Load(env(vars), Needs{Database: true}, testOpts)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if c.WebhookSecret != tt.vars[EnvWebhookSecret] || c.WebhookURL != tt.vars[EnvWebhookURL] || c.WebhookListen != tt.vars[EnvWebhookListen] {
					t.Errorf("got secret set %t, URL %q, listen %q; want %v", c.WebhookSecret != "", c.WebhookURL, c.WebhookListen, tt.vars)
				}
				return
			}
			var cerr *Error
			if !errors.As(err, &cerr) || len(cerr.Problems) != len(tt.want) {
				t.Fatalf("Load: got %v, want %d problems", err, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(cerr.Problems[i].Error(), w) {
					t.Errorf("problem %d: got %q, want it to start %q", i, cerr.Problems[i], w)
				}
			}
			if strings.Contains(err.Error(), "Zsekrit") {
				t.Errorf("the error echoes the webhook secret: %v", err)
			}
		})
	}
}

// FuzzCheckWebhookURL checks the callback URL rule on any text: an accepted URL is
// absolute, https or loopback http, and carries no user information.
func FuzzCheckWebhookURL(f *testing.F) {
	for _, s := range []string{"https://sync.example.com/exact/webhook", "http://127.0.0.1:8090/hook", "http://[::1]/x",
		"http://sync.example.com/", "https://u:p@h/x", "ftp://h/x", "https://h/x#frag", "", "://", "https://h?x=1", "http://localhost./a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if CheckWebhookURL(raw) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || u.Hostname() == "" || u.User != nil {
			t.Fatalf("accepted %q: %v", raw, err)
		}
		if u.Scheme != "https" && !(u.Scheme == "http" && exact.IsLoopbackHost(u.Hostname())) {
			t.Fatalf("accepted %q with scheme %q", raw, u.Scheme)
		}
	})
}
