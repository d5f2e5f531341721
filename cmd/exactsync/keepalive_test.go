package main

import (
	"strings"
	"testing"

	"github.com/exactsync/exactsync/exact/exacttest"
)

func TestKeepAliveSetting(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}})
	tests := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"flag too short for the 570 s rule", nil, []string{"run", "--keepalive", "5m"}},
		{"environment past the 30-day expiry", map[string]string{"EXACTSYNC_KEEPALIVE": "720h"}, []string{"run"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := w.run(tt.env, tt.args...)
			if r.code != 2 {
				t.Fatalf("exit code %d, want 2\n%s", r.code, r)
			}
			if line := lastLine(r.stderr); !strings.Contains(line, "EXACTSYNC_KEEPALIVE") || !strings.Contains(line, "30 days") {
				t.Errorf("error line %q does not name EXACTSYNC_KEEPALIVE and the 30-day expiry", line)
			}
		})
	}
}

func TestRunHistorySetting(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}})
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"flag", nil, []string{"run", "--run-history", "5m"}},
		{"environment", map[string]string{"EXACTSYNC_RUN_HISTORY": "30m"}, []string{"run"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := w.run(tt.env, tt.args...)
			if r.code != 2 {
				t.Fatalf("exit code %d, want 2\n%s", r.code, r)
			}
			checkErrorLine(t, r, "EXACTSYNC_RUN_HISTORY", "1h or more")
		})
	}
}
