package exacttest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const syncPath = "/api/v1/101/sync/CRM/Accounts?$select=ID,Name,Timestamp&$filter=Timestamp%20gt%20"

// syncFrom pages sync/CRM/Accounts after cursor and returns ID → Timestamp, failing on a
// repeated ID or a Timestamp out of order.
func syncFrom(t *testing.T, srv *Server, tok string, cursor int64) map[string]int64 {
	t.Helper()
	rows, _ := pageAll(t, srv, tok, syncPath+strconv.FormatInt(cursor, 10)+"L")
	got := map[string]int64{}
	prev := cursor
	for _, r := range rows {
		id, ts := r["ID"].(string), int64(r["Timestamp"].(float64))
		if _, dup := got[id]; dup {
			t.Fatalf("ID %s served twice", id)
		}
		if ts <= prev {
			t.Fatalf("Timestamp %d after %d: want increasing", ts, prev)
		}
		prev = ts
		got[id] = ts
	}
	return got
}

func moveDate(t *testing.T, srv *Server, tok string) any {
	t.Helper()
	resp, b := getJSON(t, srv, tok, "/api/v1/101/system/Divisions?$select=Code,DivisionMoveDate")
	if resp.StatusCode != 200 {
		t.Fatalf("system/Divisions: got %d %s", resp.StatusCode, b)
	}
	for _, r := range decodePage(t, b).D.Results {
		if r["Code"] == float64(101) {
			return r["DivisionMoveDate"]
		}
	}
	t.Fatal("division 101 not listed")
	return nil
}

func TestMoveDivision(t *testing.T) {
	tests := []struct {
		name    string
		changes int // accounts changed before the move
		deletes int // accounts deleted before the move
		moves   int
		control bool // move through POST /_sim/divisions/move
	}{
		{name: "untouched division", moves: 1},
		{name: "changes and deletions", changes: 5, deletes: 3, moves: 1},
		{name: "moved twice", changes: 2, deletes: 1, moves: 2},
		{name: "control endpoint", changes: 1, deletes: 1, moves: 1, control: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t, testOptions(1500))
			tok := newAccessTokenFor(t, srv)
			all := srv.Accounts(101)
			for i := range tt.changes {
				a := all[100*i+7]
				a.Name = "Gewijzigd " + strconv.Itoa(i)
				if err := srv.UpsertAccounts(101, a); err != nil {
					t.Fatal(err)
				}
			}
			for i := range tt.deletes {
				if err := srv.DeleteAccounts(101, all[100*i+50].ID); err != nil {
					t.Fatal(err)
				}
			}
			if got := moveDate(t, srv, tok); got != nil {
				t.Fatalf("got DivisionMoveDate %v before a move, want null", got)
			}
			before := syncFrom(t, srv, tok, 0)
			var oldCursor int64
			for _, ts := range before {
				oldCursor = max(oldCursor, ts)
			}
			_, b := getJSON(t, srv, tok, "/api/v1/101/sync/Deleted?$filter=Timestamp%20gt%200L&$select=Timestamp,EntityKey")
			oldDeleted := decodePage(t, b).D.Results

			srv.Advance(time.Hour)
			for range tt.moves {
				if tt.control {
					status, b := post(t, srv, "/_sim/divisions/move", `{"division":101}`)
					if status != 200 {
						t.Fatalf("POST /_sim/divisions/move: got %d %s, want 200", status, b)
					}
					var resp struct {
						Division int    `json:"division"`
						Date     string `json:"division_move_date"`
					}
					if err := json.Unmarshal(b, &resp); err != nil || resp.Division != 101 || resp.Date != srv.Now().Format(time.RFC3339Nano) {
						t.Errorf("got %s (%v), want division 101 and the simulated now", b, err)
					}
				} else if at, err := srv.MoveDivision(101); err != nil || !at.Equal(srv.Now()) {
					t.Fatalf("MoveDivision: got %v, %v, want the simulated now", at, err)
				}
			}
			tok = newAccessTokenFor(t, srv)

			wantDate := "/Date(" + strconv.FormatInt(wallMillis(srv.Now().UnixMilli()), 10) + ")/"
			if got := moveDate(t, srv, tok); got != wantDate {
				t.Errorf("got DivisionMoveDate %v, want %s", got, wantDate)
			}
			// A full resync serves every live record once, with new Timestamps.
			after := syncFrom(t, srv, tok, 0)
			if len(after) != len(before) {
				t.Errorf("got %d rows after the move, want %d", len(after), len(before))
			}
			same := 0
			for id, ts := range before {
				newTS, ok := after[id]
				if !ok {
					t.Errorf("row %s missing after the move", id)
				}
				if newTS == ts {
					same++
				}
			}
			if same != 0 {
				t.Errorf("got %d rows with their old Timestamp, want all regenerated", same)
			}
			// The old cursor is meaningless: resuming from it misses rows.
			if resumed := syncFrom(t, srv, tok, oldCursor); len(resumed) >= len(after) {
				t.Errorf("resuming from the old cursor %d: got %d rows, want fewer than %d", oldCursor, len(resumed), len(after))
			}
			// Accounts (the truth) carry the new Timestamps.
			for _, a := range srv.Accounts(101) {
				if after[a.ID] != a.Timestamp {
					t.Fatalf("account %s: got Timestamp %d in Accounts, %d in the stream", a.ID, a.Timestamp, after[a.ID])
				}
			}
			// sync/Deleted keeps its entries with regenerated Timestamps in the shared sequence.
			_, b = getJSON(t, srv, tok, "/api/v1/101/sync/Deleted?$filter=Timestamp%20gt%200L&$select=Timestamp,EntityKey")
			newDeleted := decodePage(t, b).D.Results
			if len(newDeleted) != len(oldDeleted) {
				t.Fatalf("got %d deletions after the move, want %d", len(newDeleted), len(oldDeleted))
			}
			seen := map[int64]bool{}
			for _, ts := range after {
				seen[ts] = true
			}
			for i, d := range newDeleted {
				ts := int64(d["Timestamp"].(float64))
				if d["EntityKey"] != oldDeleted[i]["EntityKey"] || ts == int64(oldDeleted[i]["Timestamp"].(float64)) || seen[ts] {
					t.Errorf("deletion %d: got %v, was %v; want the same key with a new, unshared Timestamp", i, d, oldDeleted[i])
				}
			}
			// Changes after the move continue the new sequence above everything.
			a := all[1]
			a.Name = "Na de verhuizing"
			if err := srv.UpsertAccounts(101, a); err != nil {
				t.Fatal(err)
			}
			var newMax int64
			for _, ts := range after {
				newMax = max(newMax, ts)
			}
			for _, d := range newDeleted {
				newMax = max(newMax, int64(d["Timestamp"].(float64)))
			}
			tail := syncFrom(t, srv, tok, newMax)
			if diff := cmp.Diff(map[string]int64{a.ID: newMax + 1}, tail); diff != "" {
				t.Errorf("stream after the new maximum (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMoveDivisionUnknown(t *testing.T) {
	srv := newTestServer(t, testOptions(0))
	if _, err := srv.MoveDivision(999); err == nil {
		t.Error("MoveDivision(999): got nil error, want unknown division")
	}
	if status, b := post(t, srv, "/_sim/divisions/move", `{"division":999}`); status != http.StatusNotFound {
		t.Errorf("POST /_sim/divisions/move 999: got %d %s, want 404", status, b)
	}
}
