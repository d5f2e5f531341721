package benchdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/exactsync/exactsync/dest"
)

// WriteComparison is the outcome of CompareWrites: how long each way of writing the same
// rows took.
type WriteComparison struct {
	Rows   int           // rows written each way
	Copy   time.Duration // plain COPY into an unindexed table of the same shape
	Insert time.Duration // WriteBatch of rows new to exact.accounts
	Update time.Duration // WriteBatch of the same rows at a newer version
}

// Add accumulates another comparison.
func (c *WriteComparison) Add(o WriteComparison) {
	c.Rows += o.Rows
	c.Copy += o.Copy
	c.Insert += o.Insert
	c.Update += o.Update
}

// CopyRate, InsertRate and UpdateRate are rows per second.
func (c WriteComparison) CopyRate() float64   { return rate(c.Rows, c.Copy) }
func (c WriteComparison) InsertRate() float64 { return rate(c.Rows, c.Insert) }
func (c WriteComparison) UpdateRate() float64 { return rate(c.Rows, c.Update) }

// InsertRatio and UpdateRatio are the upsert path's rates relative to the COPY baseline.
func (c WriteComparison) InsertRatio() float64 { return c.InsertRate() / c.CopyRate() }
func (c WriteComparison) UpdateRatio() float64 { return c.UpdateRate() / c.CopyRate() }

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// division is the division CompareWrites writes to; no Exact division has this code.
const division = 999_999

// accountColumns are the columns of exact.accounts (migration 00002) that WriteBatch fills.
var accountColumns = []string{"division", "id", "code", "name", "is_supplier", "is_sales", "status",
	"email", "city", "country", "vat_number", "blocked", "created", "modified", "exact_timestamp", "raw"}

// accountsTable is exact.accounts as WriteBatch writes it.
var accountsTable = dest.Table{Name: "exact.accounts", Columns: accountColumns, Key: []string{"division", "id"}, VersionColumn: "exact_timestamp"}

// CompareWrites measures, side by side on db, the rows per second of three ways of
// writing pages of pageSize realistic account rows (about 1 KB of raw JSON each):
//
//   - a plain COPY into an unindexed table of the same shape as exact.accounts (the
//     baseline, see CopyBaseline);
//   - WriteBatch of rows new to exact.accounts (inserts);
//   - WriteBatch of the same rows at a newer version (updates).
//
// Each page is written the three ways in turn, so drift (checkpoints, autovacuum, other
// load) hits all three alike. Only the writes are timed, not building the rows. The rows
// go to a division no Exact division uses, and are removed afterwards with the baseline
// table.
func CompareWrites(ctx context.Context, db *DB, pages, pageSize int) (WriteComparison, error) {
	var out WriteComparison
	if pages <= 0 || pageSize <= 0 {
		return out, errors.New("comparing writes: pages and page size must be positive")
	}
	if err := db.removeAccounts(ctx); err != nil {
		return out, err
	}
	defer db.removeAccounts(context.WithoutCancel(ctx))
	baseline, err := db.NewCopyBaseline(ctx, accountsTable)
	if err != nil {
		return out, fmt.Errorf("comparing writes: %w", err)
	}
	defer baseline.Drop(context.WithoutCancel(ctx))

	for p := range pages {
		inserts, updates := accountPage(p, pageSize, 1), accountPage(p, pageSize, 2)
		rows := baseline.Rows(inserts)

		t0 := time.Now()
		if err := baseline.Copy(ctx, rows); err != nil {
			return out, fmt.Errorf("comparing writes: copying page %d: %w", p, err)
		}
		t1 := time.Now()
		res, err := db.Store.WriteBatch(ctx, dest.Batch{Table: accountsTable, Rows: inserts, Division: division})
		if err != nil {
			return out, fmt.Errorf("comparing writes: inserting page %d: %w", p, err)
		}
		if res.Upserted != pageSize {
			return out, fmt.Errorf("comparing writes: inserting page %d stored %d rows, want %d", p, res.Upserted, pageSize)
		}
		t2 := time.Now()
		res, err = db.Store.WriteBatch(ctx, dest.Batch{Table: accountsTable, Rows: updates, Division: division})
		if err != nil {
			return out, fmt.Errorf("comparing writes: updating page %d: %w", p, err)
		}
		if res.Upserted != pageSize {
			return out, fmt.Errorf("comparing writes: updating page %d changed %d rows, want %d", p, res.Upserted, pageSize)
		}
		t3 := time.Now()
		out.Rows += pageSize
		out.Copy += t1.Sub(t0)
		out.Insert += t2.Sub(t1)
		out.Update += t3.Sub(t2)
	}
	return out, nil
}

// removeAccounts removes what CompareWrites wrote.
func (db *DB) removeAccounts(ctx context.Context) error {
	if _, err := db.Pool.Exec(ctx, `DELETE FROM exact.accounts WHERE division = $1`, division); err != nil {
		return fmt.Errorf("comparing writes: removing the benchmark rows: %w", err)
	}
	return nil
}

// accountPage returns page p of the comparison's rows at the given version.
func accountPage(p, size int, version int64) [][]any {
	rows := make([][]any, size)
	for i := range rows {
		rows[i] = accountRow(p*size+i, version)
	}
	return rows
}

// remarks pads the raw JSON to the size of a real account's.
var remarks = strings.Repeat("Lorem ipsum dolor sit amet. ", 12)

// accountRow returns a realistic exact.accounts row whose raw JSON is about 1 KB.
func accountRow(n int, version int64) []any {
	id := fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", n*2654435761%0xffffffff, n%0xffff, n%0xfff, (n/7)%0xfff, n)
	name := fmt.Sprintf("Account %d Holding B.V.", n)
	code := fmt.Sprintf("%18d", n)
	created := time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Minute)
	modified := created.Add(time.Duration(version) * time.Second)
	raw := fmt.Sprintf(`{"ID":%q,"Code":%q,"Name":%q,"IsSupplier":%t,"IsSales":true,"IsPurchase":false,"Blocked":false,`+
		`"Status":"C","Type":"A","Email":"info@account%d.example.nl","Phone":"+31 30 %07d","Website":"https://www.account%d.example.nl",`+
		`"AddressLine1":"Stationsplein %d","AddressLine2":null,"Postcode":"3511 ED","City":"Utrecht","Country":"NL","State":null,`+
		`"VATNumber":"NL%09dB01","ChamberOfCommerce":"%08d","Created":"/Date(%d)/","Modified":"/Date(%d)/","Division":%d,`+
		`"Timestamp":%d,"AccountManager":"9b6f1d1e-3c1a-4b8e-a6f2-%012d","Classification1":null,"Language":"NL","Remarks":%q}`,
		id, code, name, n%5 == 0, n, n, n, n%300, n, n, created.UnixMilli(), modified.UnixMilli(), division, version, n,
		remarks)
	return []any{int32(division), id, strings.TrimSpace(code), name, n%5 == 0, true, "C",
		fmt.Sprintf("info@account%d.example.nl", n), "Utrecht", "NL", fmt.Sprintf("NL%09dB01", n), false,
		created, modified, version, []byte(raw)}
}
