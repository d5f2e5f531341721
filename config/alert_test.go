package config

import (
	"strings"
	"testing"
)

func TestLoadAlertURL(t *testing.T) {
	tests := []struct {
		name, value, want string
		wantErr           string
	}{
		{name: "unset", value: ""},
		{name: "slack", value: "https://hooks.example.com/services/T0/B0/s3cr3tpath", want: "https://hooks.example.com/services/T0/B0/s3cr3tpath"},
		{name: "spaces around", value: " http://127.0.0.1:9000/s3cr3t ", want: "http://127.0.0.1:9000/s3cr3t"},
		{name: "no scheme", value: "hooks.example.com/s3cr3t", wantErr: EnvAlertURL + ": is not an absolute http or https URL"},
		{name: "other scheme", value: "ftp://hooks.example.com/s3cr3t", wantErr: EnvAlertURL + ": is not an absolute http or https URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(map[string]string{EnvAlertURL: tt.value}), Needs{}, testOpts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cr3t") {
					t.Errorf("the error quotes the URL: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.AlertURL != tt.want {
				t.Errorf("got %q, want %q", c.AlertURL, tt.want)
			}
		})
	}
}
