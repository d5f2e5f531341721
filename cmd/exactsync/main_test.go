package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestParseErrorsDoNotEchoTokens checks that a token passed where the
// command line does not expect it is not printed back.
func TestParseErrorsDoNotEchoTokens(t *testing.T) {
	const token = "SDFu!0123456789abcdefghij"
	tests := []struct {
		name string
		args []string
	}{
		{"positional", []string{"auth", "import", token}},
		{"unknown flag value", []string{"auth", "import", "--token=" + token}},
		{"wrong command", []string{token}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, strings.NewReader(""), &out, &errb, func(string) string { return "" })
			if code != exitUsage {
				t.Errorf("exit code %d, want %d", code, exitUsage)
			}
			if got := out.String() + errb.String(); strings.Contains(got, token) {
				t.Errorf("output echoes the token: %q", got)
			}
			if !strings.HasPrefix(errb.String(), "exactsync: ") {
				t.Errorf("stderr %q does not start with exactsync:", errb.String())
			}
		})
	}
}
