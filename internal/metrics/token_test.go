package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRequireToken(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "served") })
	tests := []struct {
		name   string
		token  string // required; "" none
		header string // Authorization; "" none
		want   int
	}{
		{"no token required", "", "", http.StatusOK},
		{"the token", token, "Bearer " + token, http.StatusOK},
		{"the scheme in lower case", token, "bearer " + token, http.StatusOK},
		{"no header", token, "", http.StatusUnauthorized},
		{"another token", token, "Bearer " + strings.Repeat("x", len(token)), http.StatusUnauthorized},
		{"a prefix of the token", token, "Bearer " + token[:16], http.StatusUnauthorized},
		{"the token and more", token, "Bearer " + token + "0", http.StatusUnauthorized},
		{"basic", token, "Basic " + token, http.StatusUnauthorized},
		{"the token alone", token, token, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			RequireToken(tt.token, ok).ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("got %d, want %d", rec.Code, tt.want)
			}
			body := rec.Body.String()
			if tt.want == http.StatusOK && body != "served" {
				t.Errorf("got body %q, want the handler's", body)
			}
			if tt.want == http.StatusUnauthorized {
				if strings.Contains(body, "served") || strings.Contains(body, token) || strings.Contains(body, "xxxx") {
					t.Errorf("a refusal served or echoed: %q", body)
				}
				if rec.Header().Get("WWW-Authenticate") == "" {
					t.Error("no WWW-Authenticate header")
				}
			}
		})
	}
}
