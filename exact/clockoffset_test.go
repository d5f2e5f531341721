package exact_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/exactsync/exactsync/exact"
)

// TestClockOffset: the offset is Exact's Date against the middle of the call, to the
// second; an answer without a Date is not ok; a host that does not answer is an error
// naming it.
func TestClockOffset(t *testing.T) {
	var noDate bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/current/Me" || r.Header.Get("Authorization") != "" {
			t.Errorf("call %s with Authorization %q, want an unauthenticated current/Me", r.URL.Path, r.Header.Get("Authorization"))
		}
		if noDate {
			w.Header()["Date"] = nil
		} else {
			w.Header().Set("Date", time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat))
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	ctx := context.Background()
	off, ok, err := exact.ClockOffset(ctx, srv.URL+"/", nil)
	if err != nil || !ok || off < 88*time.Second || off > 91*time.Second {
		t.Errorf("ClockOffset with Exact 90 s ahead: %s, %v, %v; want about 90 s", off, ok, err)
	}
	noDate = true
	if _, ok, err := exact.ClockOffset(ctx, srv.URL, nil); ok || err != nil {
		t.Errorf("ClockOffset without a Date: ok %v, err %v; want not ok, no error", ok, err)
	}
	srv.Close()
	if _, _, err := exact.ClockOffset(ctx, srv.URL, nil); err == nil || !strings.Contains(err.Error(), "cannot reach 127.0.0.1") {
		t.Errorf("ClockOffset of a closed server: %v, want cannot reach naming the host", err)
	}
	if _, _, err := exact.ClockOffset(ctx, "start.exactonline.nl", nil); err == nil {
		t.Errorf("ClockOffset of a URL without a scheme: no error")
	}
}
