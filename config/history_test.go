package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadHistory(t *testing.T) {
	opts := testOpts
	opts.Entities = []string{"accounts", "suppliers", "transaction_lines"}
	tests := []struct {
		name, entities, value string
		want                  []string
		wantErr               string
	}{
		{name: "unset"},
		{name: "two", value: " transaction_lines, Accounts ", want: []string{"accounts", "transaction_lines"}},
		{name: "all is the synced entities", entities: "accounts,suppliers", value: "all", want: []string{"accounts", "suppliers"}},
		{name: "typo", value: "acounts", wantErr: EnvHistory + `: unknown entity "acounts"; did you mean accounts?`},
		{name: "far off", value: "invoices", wantErr: EnvHistory + `: unknown entity "invoices"; use all`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{EnvHistory: tt.value}
			if tt.entities != "" {
				vars[EnvEntities] = tt.entities
			}
			c, err := Load(env(vars), Needs{}, opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				if n := strings.Count(err.Error(), "\n"); n > 0 {
					t.Errorf("error of %d lines, want one: %v", n+1, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.History, tt.want) {
				t.Errorf("History = %q, want %q", c.History, tt.want)
			}
		})
	}
}

func TestLoadDeletionsRetention(t *testing.T) {
	tests := []struct {
		value   string
		want    time.Duration
		wantErr bool
	}{
		{value: "", want: 0},
		{value: "keep", want: 0},
		{value: "730d", want: 730 * 24 * time.Hour},
		{value: "8760h", want: 8760 * time.Hour},
		{value: "10m", wantErr: true},
		{value: "two years", wantErr: true},
		{value: "-5d", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			c, err := Load(env(map[string]string{EnvDeletionsRetention: tt.value}), Needs{}, testOpts)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), EnvDeletionsRetention+": ") {
					t.Fatalf("got error %v, want one naming %s", err, EnvDeletionsRetention)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.DeletionsRetention != tt.want {
				t.Errorf("DeletionsRetention = %s, want %s", c.DeletionsRetention, tt.want)
			}
		})
	}
}
