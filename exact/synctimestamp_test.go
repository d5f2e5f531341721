package exact_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/exacttest"
)

// TestSyncTimestamp reads read/sync/Sync/SyncTimestamp (§3.10, §3.16) from the simulator: the
// Timestamp of a line changed now, nothing after every change, and Exact's 400 for Accounts.
func TestSyncTimestamp(t *testing.T) {
	srv, c, _ := newSimClient(t, exacttest.Options{Records: map[string]int{"*": 0, "transaction_lines": 30}})
	ctx := context.Background()
	keys, err := srv.UpsertRecords("transaction_lines", 101, map[string]any{"AmountDC": 1})
	if err != nil {
		t.Fatal(err)
	}
	now := srv.Now()
	tests := []struct {
		name     string
		endpoint string
		since    time.Time
		found    bool
		status   int // of the *APIError, 0 for none
	}{
		{name: "a line changed now", endpoint: "TransactionLines", since: now, found: true},
		{name: "after every change", endpoint: "TransactionLines", since: now.Add(time.Second)},
		{name: "Accounts is not supported", endpoint: "Accounts", since: now, status: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp, err := c.SyncTimestamp(ctx, 101, tt.endpoint, tt.since)
			var apiErr *exact.APIError
			switch {
			case tt.status != 0:
				if !errors.As(err, &apiErr) || apiErr.Status != tt.status {
					t.Fatalf("got %v, want an *APIError with status %d", err, tt.status)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if sp.Found != tt.found || sp.Calls != 1 {
				t.Fatalf("got %+v, want found %v after one call", sp, tt.found)
			}
			if !tt.found {
				return
			}
			recs, err := srv.Records("transaction_lines", 101)
			if err != nil {
				t.Fatal(err)
			}
			var want int64
			for _, raw := range recs {
				var r struct {
					ID        string
					Timestamp int64
				}
				if err := json.Unmarshal(raw, &r); err != nil {
					t.Fatal(err)
				}
				if r.ID == keys[0] {
					want = r.Timestamp
				}
			}
			if sp.Timestamp != want || !sp.Modified.Equal(now.Truncate(time.Millisecond)) {
				t.Errorf("got Timestamp %d Modified %v, want the new line's %d and %v", sp.Timestamp, sp.Modified, want, now)
			}
		})
	}
}
