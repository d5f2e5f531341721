package config

import (
	"strings"
	"testing"
)

func TestLoadMetricsDivisions(t *testing.T) {
	tests := []struct {
		name, value string
		want        int
		wantErr     string
	}{
		{name: "unset: the default", value: "", want: 0},
		{name: "all", value: "All", want: MetricsDivisionsAll},
		{name: "none", value: " none ", want: MetricsDivisionsNone},
		{name: "zero is none", value: "0", want: MetricsDivisionsNone},
		{name: "a number", value: "250", want: 250},
		{name: "negative", value: "-3", wantErr: EnvMetricsDivisions + `: "-3" is not a choice; use all, none, or a number`},
		{name: "a word", value: "some", wantErr: EnvMetricsDivisions + `: "some" is not a choice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(map[string]string{EnvMetricsDivisions: tt.value}), Needs{}, testOpts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.MetricsDivisions != tt.want {
				t.Errorf("got %d, want %d", c.MetricsDivisions, tt.want)
			}
		})
	}
}

func TestLoadListenToken(t *testing.T) {
	tests := []struct {
		name, value string
		wantErr     string
	}{
		{name: "unset", value: ""},
		{name: "hex", value: "0123456789abcdef0123456789abcdef"},
		{name: "too short", value: "s3cr3t-short", wantErr: EnvListenToken + ": too short (12 characters); use 16 or more"},
		{name: "a space", value: "s3cr3t value long enough", wantErr: EnvListenToken + ": holds a space"},
		{name: "a newline", value: "s3cr3t-value-long-enough\n", wantErr: EnvListenToken + ": holds a space, a control"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(map[string]string{EnvListenToken: tt.value}), Needs{}, testOpts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cr3t") {
					t.Errorf("the error quotes the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.ListenToken != tt.value {
				t.Errorf("got a token of %d characters, want %d", len(c.ListenToken), len(tt.value))
			}
		})
	}
}
