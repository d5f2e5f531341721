package config

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/webhook"
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

// TestLoadWebhookLimits: the limits of the callback's listener are read with the callback,
// each checked on its own and together with the others (the defaults counting for the
// ones unset), every problem under its variable's name.
func TestLoadWebhookLimits(t *testing.T) {
	on := map[string]string{EnvDatabaseURL: "postgres://u@db:5432/x", EnvWebhookSecret: testWebhookSecret, EnvWebhookURL: "https://sync.example.com/exact/webhook"}
	for _, tt := range []struct {
		name string
		vars map[string]string
		off  bool // without the callback
		want WebhookLimits
		errs []string // problems, by the start of each
	}{
		{name: "unset: the defaults", want: WebhookLimits{}},
		{name: "all set", vars: map[string]string{EnvWebhookMaxConns: "64", EnvWebhookMaxConnsPerClient: " 8 ", EnvWebhookHeaderTimeout: "2s",
			EnvWebhookReadTimeout: "4s", EnvWebhookIdleTimeout: "1m"},
			want: WebhookLimits{MaxConns: 64, MaxConnsPerClient: 8, HeaderTimeout: 2 * time.Second, ReadTimeout: 4 * time.Second, IdleTimeout: time.Minute}},
		{name: "a small cap of all, the per-client default follows it", vars: map[string]string{EnvWebhookMaxConns: "4"}, want: WebhookLimits{MaxConns: 4}},
		{name: "not numbers", vars: map[string]string{EnvWebhookMaxConns: "many", EnvWebhookMaxConnsPerClient: "0"},
			errs: []string{EnvWebhookMaxConns + `: "many" is not a number`, EnvWebhookMaxConnsPerClient + `: "0" is not a number`}},
		{name: "durations out of range", vars: map[string]string{EnvWebhookHeaderTimeout: "500ms", EnvWebhookReadTimeout: "1h", EnvWebhookIdleTimeout: "soon"},
			errs: []string{EnvWebhookHeaderTimeout + `: "500ms" is not a duration from 1s to 10m0s`, EnvWebhookReadTimeout + `: "1h"`, EnvWebhookIdleTimeout + `: "soon"`}},
		{name: "per client over the cap of all", vars: map[string]string{EnvWebhookMaxConns: "16", EnvWebhookMaxConnsPerClient: "32"},
			errs: []string{EnvWebhookMaxConnsPerClient + ": 32 is more than the 16 connections allowed in all; lower it, or raise " + EnvWebhookMaxConns}},
		{name: "per client over the default cap of all", vars: map[string]string{EnvWebhookMaxConnsPerClient: "500"},
			errs: []string{EnvWebhookMaxConnsPerClient + ": 500 is more than the 128 connections"}},
		{name: "headers longer than the whole request's default", vars: map[string]string{EnvWebhookHeaderTimeout: "20s"},
			errs: []string{EnvWebhookHeaderTimeout + ": 20s is longer than the 10s a whole request may take; shorten it, or lengthen " + EnvWebhookReadTimeout}},
		{name: "without the callback", off: true, vars: map[string]string{EnvWebhookMaxConns: "64", EnvWebhookIdleTimeout: "1m"},
			errs: []string{EnvWebhookMaxConns + ": set without " + EnvWebhookURL, EnvWebhookIdleTimeout + ": set without " + EnvWebhookURL}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{}
			for k, v := range on {
				if !tt.off || k == EnvDatabaseURL {
					vars[k] = v
				}
			}
			for k, v := range tt.vars {
				vars[k] = v
			}
			c, err := Load(env(vars), Needs{Database: true}, testOpts)
			if len(tt.errs) == 0 {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if c.WebhookLimits != tt.want {
					t.Errorf("got limits %+v, want %+v", c.WebhookLimits, tt.want)
				}
				return
			}
			var cerr *Error
			if !errors.As(err, &cerr) || len(cerr.Problems) != len(tt.errs) {
				t.Fatalf("Load: got %v, want %d problems", err, len(tt.errs))
			}
			for i, w := range tt.errs {
				if !strings.HasPrefix(cerr.Problems[i].Error(), w) {
					t.Errorf("problem %d: got %q, want it to start %q", i, cerr.Problems[i], w)
				}
			}
		})
	}
}

// FuzzLoadWebhookLimits reads any values of the limits: a Config returned holds limits
// the listener accepts, within their ranges, and every problem is named by its variable.
func FuzzLoadWebhookLimits(f *testing.F) {
	f.Add("128", "32", "5s", "10s", "30s")
	f.Add("1", "", "1s", "", "10m")
	f.Add("-1", "99999999999999999999", "5", "1h", "0s")
	f.Add("16", "32", "20s", "", "")
	f.Fuzz(func(t *testing.T, maxConns, perClient, header, read, idle string) {
		vars := map[string]string{EnvDatabaseURL: "postgres://u@db:5432/x", EnvWebhookSecret: testWebhookSecret, EnvWebhookURL: "https://sync.example.com/hook",
			EnvWebhookMaxConns: maxConns, EnvWebhookMaxConnsPerClient: perClient, EnvWebhookHeaderTimeout: header, EnvWebhookReadTimeout: read, EnvWebhookIdleTimeout: idle}
		c, err := Load(env(vars), Needs{Database: true}, testOpts)
		if err != nil {
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("Load: %v, want a *config.Error", err)
			}
			for _, p := range cerr.Problems {
				if name, _, _ := strings.Cut(p.Error(), ": "); !strings.HasPrefix(name, "EXACTSYNC_WEBHOOK_") {
					t.Fatalf("problem %q is not named by a webhook limit's variable", p)
				}
			}
			return
		}
		l := c.WebhookLimits
		sc := webhook.ServerConfig{MaxConns: l.MaxConns, MaxConnsPerClient: l.MaxConnsPerClient, HeaderTimeout: l.HeaderTimeout, ReadTimeout: l.ReadTimeout, IdleTimeout: l.IdleTimeout}
		if err := sc.Check(); err != nil {
			t.Fatalf("Load returned limits %+v that the listener refuses: %v", l, err)
		}
		for _, d := range []time.Duration{l.HeaderTimeout, l.ReadTimeout, l.IdleTimeout} {
			if d != 0 && (d < time.Second || d > 10*time.Minute) {
				t.Fatalf("Load returned a timeout of %s", d)
			}
		}
		if l.MaxConns < 0 || l.MaxConnsPerClient < 0 {
			t.Fatalf("Load returned caps %+v", l)
		}
	})
}
