package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/exactsync/exactsync/config"
)

// TestConsoleLogsOffATerminalHaveNoColour: LOG_FORMAT=console into a file or a pipe (the
// demo's default) writes plain text, without ANSI escapes.
func TestConsoleLogsOffATerminalHaveNoColour(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&config.Config{LogFormat: "console"}, &buf)
	log.Warn().Int("stored_secrets", 3).Msg("secrets are stored unencrypted")
	got := buf.String()
	if strings.Contains(got, "\x1b[") {
		t.Errorf("console log line off a terminal has colour escapes: %q", got)
	}
	if !strings.Contains(got, "WRN secrets are stored unencrypted stored_secrets=3") {
		t.Errorf("console log line: %q, want a plain WRN line", got)
	}
}
