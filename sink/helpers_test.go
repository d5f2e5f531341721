package sink_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
)

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// accountColumns are the columns of exact.accounts and exact.suppliers the sink writes.
var accountColumns = []string{"division", "id", "code", "name", "is_supplier", "is_sales", "status", "email",
	"city", "country", "vat_number", "blocked", "created", "modified", "exact_timestamp", "raw"}

func accountsTable(name string) dest.Table {
	return dest.Table{Name: name, Columns: accountColumns, Key: []string{"division", "id"}, VersionColumn: "exact_timestamp"}
}

// uuidN is a deterministic UUID for test record n.
func uuidN(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

// acct is the part of a stored account the tests compare.
type acct struct {
	Division int
	ID       string
	Name     string
	Version  int64
}

// accountRow is a full row for accountColumns; raw repeats the name.
func accountRow(a acct) []any {
	created := time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)
	raw := fmt.Sprintf(`{"ID":%q,"Name":%q,"Timestamp":%d}`, a.ID, a.Name, a.Version)
	return []any{int32(a.Division), a.ID, "ACC" + strings.ToUpper(a.ID[len(a.ID)-4:]), a.Name, false, true, "C",
		nil, "Utrecht", "NL", nil, false, created, created.Add(time.Duration(a.Version) * time.Second), a.Version, []byte(raw)}
}

func accountRows(as ...acct) [][]any {
	rows := make([][]any, len(as))
	for i, a := range as {
		rows[i] = accountRow(a)
	}
	return rows
}

// storedAccounts returns the rows of table ordered by key.
func storedAccounts(t *testing.T, s *sink.Store, table string) []acct {
	t.Helper()
	rows, err := s.Pool().Query(testContext(t), `SELECT division, id::text, name, exact_timestamp FROM `+table+` ORDER BY division, id`)
	if err != nil {
		t.Fatalf("reading %s: %v", table, err)
	}
	defer rows.Close()
	var out []acct
	for rows.Next() {
		var a acct
		if err := rows.Scan(&a.Division, &a.ID, &a.Name, &a.Version); err != nil {
			t.Fatalf("reading %s: %v", table, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("reading %s: %v", table, err)
	}
	return out
}

func newConnection(t *testing.T, s *sink.Store) dest.Connection {
	t.Helper()
	c, err := s.UpsertConnection(testContext(t), "https://start.exactonline.nl", "client-1", "user-1")
	if err != nil {
		t.Fatalf("UpsertConnection: %v", err)
	}
	return c
}

// fmtAny formats v as fmt.Sprint does.
func fmtAny(v any) string { return fmt.Sprint(v) }
