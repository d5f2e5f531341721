package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func parseFiveFields(spec string) error {
	if len(strings.Fields(spec)) != 5 {
		return errors.New("expected 5 fields")
	}
	return nil
}

var testOpts = Options{
	Entities:             []string{"accounts"},
	ParseSchedule:        parseFiveFields,
	DefaultSchedules:     map[string]string{"accounts": "*/15 * * * *"},
	DefaultFullSchedules: map[string]string{"accounts": "30 2 * * *"},
}

func TestLoadValid(t *testing.T) {
	got, err := Load(env(map[string]string{
		"DATABASE_URL":                      "postgres://u@db:5432/x",
		"EXACT_BASE_URL":                    "http://127.0.0.1:8080/",
		"EXACT_CLIENT_ID":                   "id",
		"EXACT_CLIENT_SECRET":               "secret",
		"EXACT_DIVISIONS":                   "101, 102",
		"LOG_LEVEL":                         "debug",
		"LOG_FORMAT":                        "console",
		"EXACTSYNC_FULL_SCHEDULE_ACCOUNTS":  "off",
		"EXACTSYNC_SCHEDULE_ACCOUNTS":       "*/5 * * * *",
		"EXACTSYNC_SCHEDULE_UNKNOWN_ENTITY": "junk",
	}), Needs{Database: true, Credentials: true}, testOpts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &Config{
		DatabaseURL: "postgres://u@db:5432/x", BaseURL: "http://127.0.0.1:8080",
		ClientID: "id", ClientSecret: "secret", Divisions: []int{101, 102},
		LogLevel: zerolog.DebugLevel, LogFormat: "console",
		Schedules:     map[string]string{"accounts": "*/5 * * * *"},
		FullSchedules: map[string]string{"accounts": ""},
		TimeZone:      "Europe/Amsterdam",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadDefaults(t *testing.T) {
	got, err := Load(env(nil), Needs{}, testOpts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got.BaseURL != DefaultBaseURL {
		t.Errorf("BaseURL = %q, want %q", got.BaseURL, DefaultBaseURL)
	}
	if got.LogLevel != zerolog.InfoLevel || got.LogFormat != "json" {
		t.Errorf("log = %v/%q, want info/json", got.LogLevel, got.LogFormat)
	}
	if got.Schedules["accounts"] != "*/15 * * * *" || got.FullSchedules["accounts"] != "30 2 * * *" {
		t.Errorf("schedules = %v / %v, want the defaults", got.Schedules, got.FullSchedules)
	}
}

// TestLoadReportsEveryProblem checks that all bad values are named at once.
func TestLoadReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		needs Needs
		want  []string // variable names that must be reported
	}{
		{"missing credentials and database", nil, Needs{Database: true, Credentials: true},
			[]string{"DATABASE_URL", "EXACT_CLIENT_ID", "EXACT_CLIENT_SECRET"}},
		{"plain http to a remote host", map[string]string{"EXACT_BASE_URL": "http://start.exactonline.nl"}, Needs{},
			[]string{"EXACT_BASE_URL"}},
		{"everything wrong", map[string]string{
			"DATABASE_URL":                "mysql://x",
			"EXACT_BASE_URL":              "ftp://x",
			"EXACT_DIVISIONS":             "101,abc",
			"LOG_LEVEL":                   "loud",
			"LOG_FORMAT":                  "xml",
			"EXACTSYNC_SCHEDULE_ACCOUNTS": "every minute",
		}, Needs{},
			[]string{"DATABASE_URL", "EXACT_BASE_URL", "EXACT_DIVISIONS", "LOG_LEVEL", "LOG_FORMAT", "EXACTSYNC_SCHEDULE_ACCOUNTS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(tt.env), tt.needs, testOpts)
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("Load error = %v, want *config.Error", err)
			}
			if got := len(cerr.Problems); got != len(tt.want) {
				t.Errorf("got %d problems (%v), want %d", got, err, len(tt.want))
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans several lines: %q", msg)
			}
			for _, name := range tt.want {
				if !strings.Contains(msg, name+":") {
					t.Errorf("error %q does not name %s", msg, name)
				}
			}
		})
	}
}

func TestSecretNotInErrors(t *testing.T) {
	_, err := Load(env(map[string]string{"EXACT_CLIENT_SECRET": "s3cr3t-value", "LOG_LEVEL": "bad"}), Needs{Credentials: true}, testOpts)
	if err == nil {
		t.Fatal("Load succeeded, want an error")
	}
	if strings.Contains(err.Error(), "s3cr3t-value") {
		t.Errorf("error leaks the client secret: %v", err)
	}
}
