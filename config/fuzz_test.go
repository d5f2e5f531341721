package config

import (
	"errors"
	"strings"
	"testing"
)

// FuzzLoad checks Load on any environment: every problem is reported under the name of
// its variable, a Config that is returned holds only valid values, and no secret is
// ever echoed.
func FuzzLoad(f *testing.F) {
	key := strings.Repeat("ab", 32)
	f.Add("postgres://u@db:5432/x", "http://127.0.0.1:8080/", "secret", "https://localhost:8443/callback", "101, 102", "debug", "console", "*/5 * * * *", key, "", "")
	f.Add("", "", "", "", "", "", "", "", "", "/run/secrets/key", "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=")
	f.Add("mysql://x", "ftp://start.exactonline.nl", "s", "not a url", "101,x,-1", "loud", "xml", "junk", "c2VjcmV0LWtleQ==", "/run/secrets/key", key+","+key)
	f.Add("postgres://u:p@h/db", "https://start.exactonline.be", "", "", " , ", "WARN", "JSON", "off", key, "", "zz-not-a-key")
	f.Add("postgres://u@db/x", "", "", "", "", "", "", "", "none", "", "")
	f.Add("postgres://u@db/x", "", "", "", "", "", "", "", " NONE", "/run/secrets/key", key)
	f.Fuzz(func(t *testing.T, dbURL, baseURL, secret, redirect, divisions, level, format, schedule, rawKey, keyFile, oldKeys string) {
		vars := map[string]string{
			EnvDatabaseURL: dbURL, EnvBaseURL: baseURL, EnvClientID: "id", EnvClientSecret: secret,
			EnvRedirectURL: redirect, EnvDivisions: divisions, EnvLogLevel: level, EnvLogFormat: format,
			ScheduleEnv("accounts"): schedule, EnvEncryptionKey: rawKey, EnvEncryptionKeyFile: keyFile,
			EnvEncryptionKeyOld: oldKeys,
		}
		const fileKey = "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s="
		opts := testOpts
		opts.ReadFile = func(string) ([]byte, error) { return []byte(oldKeys + fileKey), nil }
		needs := Needs{Database: true, Credentials: true}
		c, err := Load(env(vars), needs, opts)
		if err == nil {
			checkConfig(t, c)
			return
		}
		var cerr *Error
		if !errors.As(err, &cerr) || len(cerr.Problems) == 0 {
			t.Fatalf("Load: got %v, want a *config.Error listing problems", err)
		}
		for _, p := range cerr.Problems {
			name, _, ok := strings.Cut(p.Error(), ": ")
			if _, known := vars[name]; !ok || (!known && name != EnvClientID) {
				t.Fatalf("problem %q does not start with the name of a variable", p)
			}
		}
		msg := err.Error()
		if secret != "" {
			vars[EnvClientSecret] = "x"
			if _, err2 := Load(env(vars), needs, opts); err2 == nil || err2.Error() != msg {
				t.Fatalf("the error depends on the client secret's value: %q, then %v", msg, err2)
			}
		}
		for _, k := range append([]string{rawKey}, strings.Split(oldKeys, ",")...) {
			if k = strings.TrimSpace(k); len(k) >= 24 && strings.Contains(msg, k) {
				t.Fatalf("the error echoes key material %q: %s", k, msg)
			}
		}
	})
}

func checkConfig(t *testing.T, c *Config) {
	t.Helper()
	if err := CheckBaseURL(c.BaseURL); err != nil {
		t.Fatalf("Load returned base URL %q: %v", c.BaseURL, err)
	}
	for _, d := range c.Divisions {
		if d <= 0 {
			t.Fatalf("Load returned division %d", d)
		}
	}
	if c.LogFormat != "json" && c.LogFormat != "console" && c.LogFormat != "auto" {
		t.Fatalf("Load returned log format %q", c.LogFormat)
	}
	if s := c.Schedules["accounts"]; s != "" && parseFiveFields(s) != nil {
		t.Fatalf("Load returned schedule %q", s)
	}
	if c.DatabaseURL == "" || c.ClientSecret == "" || c.TimeZone == "" {
		t.Fatalf("Load returned an incomplete Config: %+v", c)
	}
}
