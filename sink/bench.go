package sink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
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

// benchDivision is the division CompareWrites writes to; no Exact division has this code.
const benchDivision = 999_999

// benchColumns are the columns of exact.accounts (migration 00002) that WriteBatch fills.
var benchColumns = []string{"division", "id", "code", "name", "is_supplier", "is_sales", "status",
	"email", "city", "country", "vat_number", "blocked", "created", "modified", "exact_timestamp", "raw"}

// CompareWrites measures, side by side on the migrated database of s, the rows per second
// of three ways of writing pages of pageSize realistic account rows (about 1 KB of raw
// JSON each):
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
func CompareWrites(ctx context.Context, s *Store, pages, pageSize int) (WriteComparison, error) {
	var out WriteComparison
	if pages <= 0 || pageSize <= 0 {
		return out, errors.New("comparing writes: pages and page size must be positive")
	}
	if err := s.cleanBench(ctx); err != nil {
		return out, err
	}
	defer s.cleanBench(context.WithoutCancel(ctx))
	table := Table{Name: "exact.accounts", Columns: benchColumns, Key: []string{"division", "id"}, VersionColumn: "exact_timestamp"}
	baseline, err := s.NewCopyBaseline(ctx, table)
	if err != nil {
		return out, fmt.Errorf("comparing writes: %w", err)
	}
	defer baseline.Drop(context.WithoutCancel(ctx))

	for p := range pages {
		inserts, updates := benchPage(p, pageSize, 1), benchPage(p, pageSize, 2)
		rows := baseline.Rows(inserts)

		t0 := time.Now()
		if err := baseline.Copy(ctx, rows); err != nil {
			return out, fmt.Errorf("comparing writes: copying page %d: %w", p, err)
		}
		t1 := time.Now()
		res, err := s.WriteBatch(ctx, Batch{Table: table, Rows: inserts, Division: benchDivision})
		if err != nil {
			return out, fmt.Errorf("comparing writes: inserting page %d: %w", p, err)
		}
		if res.Upserted != pageSize {
			return out, fmt.Errorf("comparing writes: inserting page %d stored %d rows, want %d", p, res.Upserted, pageSize)
		}
		t2 := time.Now()
		res, err = s.WriteBatch(ctx, Batch{Table: table, Rows: updates, Division: benchDivision})
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

// CopyBaseline is a plain COPY into an unindexed table of the same shape as a target
// table: the ceiling that writes to the target are compared with. Its table,
// public.exactsync_bench_copy_NAME for exact.NAME, has the target's columns, with their
// types, NOT NULL, storage and compression, and nothing else (no key, index, other
// constraint or default). NewCopyBaseline creates it empty, Drop drops it.
//
// Rows are encoded as WriteBatch encodes its own COPYs, so that a comparison measures
// the writes, not two encoders.
type CopyBaseline struct {
	s       *Store
	ident   pgx.Identifier
	columns []string // the target's written columns, then synced_at
	oids    []uint32
}

// NewCopyBaseline creates, replacing any left over, the baseline table of t.
func (s *Store) NewCopyBaseline(ctx context.Context, t Table) (*CopyBaseline, error) {
	p, err := s.plan(t)
	if err != nil {
		return nil, err
	}
	name := p.targetIdent[len(p.targetIdent)-1]
	b := &CopyBaseline{s: s, ident: pgx.Identifier{"public", "exactsync_bench_copy_" + name},
		columns: append(slices.Clone(t.Columns), "synced_at")}
	if err := b.Drop(ctx); err != nil {
		return nil, err
	}
	// LIKE copies the column types, NOT NULL, and how values are stored and compressed
	// (a wide row's raw JSON is compressed into TOAST), but no key, index or default.
	if _, err := s.pool.Exec(ctx, `CREATE TABLE `+b.ident.Sanitize()+` (LIKE `+p.target+` INCLUDING STORAGE INCLUDING COMPRESSION)`); err != nil {
		return nil, fmt.Errorf("creating the baseline table of %s: %w", t.Name, err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cols, err := lookupColumns(ctx, tx, b.ident.Sanitize(), b.columns)
		if err == nil && !cols.encodable {
			err = errors.New("a column type is unknown to the connection")
		}
		b.oids = cols.oids
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("looking up the column types of the baseline of %s: %w", t.Name, err)
	}
	return b, nil
}

// Rows returns rows, in the target's Columns order, as the baseline copies them: with a
// synced_at value of now appended. Build them before timing Copy.
func (b *CopyBaseline) Rows(rows [][]any) [][]any {
	now := time.Now()
	n := len(b.columns)
	backing := make([]any, len(rows)*n)
	out := make([][]any, len(rows))
	for i, r := range rows {
		out[i] = backing[i*n : (i+1)*n : (i+1)*n]
		copy(out[i], r)
		out[i][n-1] = now
	}
	return out
}

// Copy copies rows (from Rows) into the baseline table in one transaction, committed
// with the server's settings.
func (b *CopyBaseline) Copy(ctx context.Context, rows [][]any) error {
	return pgx.BeginFunc(ctx, b.s.pool, func(tx pgx.Tx) error {
		_, err := copyRows(ctx, tx, b.ident, b.columns, b.oids, rows)
		return err
	})
}

// Drop drops the baseline table.
func (b *CopyBaseline) Drop(ctx context.Context) error {
	if _, err := b.s.pool.Exec(ctx, `DROP TABLE IF EXISTS `+b.ident.Sanitize()); err != nil {
		return fmt.Errorf("dropping the baseline table %s: %w", b.ident.Sanitize(), err)
	}
	return nil
}

// cleanBench removes what CompareWrites wrote.
func (s *Store) cleanBench(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM exact.accounts WHERE division = $1`, benchDivision); err != nil {
		return fmt.Errorf("comparing writes: removing the benchmark rows: %w", err)
	}
	return nil
}

// benchPage returns page p of the benchmark's rows at the given version.
func benchPage(p, size int, version int64) [][]any {
	rows := make([][]any, size)
	for i := range rows {
		rows[i] = benchRow(p*size+i, version)
	}
	return rows
}

// benchRemarks pads the raw JSON to the size of a real account's.
var benchRemarks = strings.Repeat("Lorem ipsum dolor sit amet. ", 12)

// benchRow returns a realistic exact.accounts row whose raw JSON is about 1 KB.
func benchRow(n int, version int64) []any {
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
		id, code, name, n%5 == 0, n, n, n, n%300, n, n, created.UnixMilli(), modified.UnixMilli(), benchDivision, version, n,
		benchRemarks)
	return []any{int32(benchDivision), id, strings.TrimSpace(code), name, n%5 == 0, true, "C",
		fmt.Sprintf("info@account%d.example.nl", n), "Utrecht", "NL", fmt.Sprintf("NL%09dB01", n), false,
		created, modified, version, []byte(raw)}
}

// ServerVersion returns the PostgreSQL server's version, e.g. "15.8".
func (s *Store) ServerVersion(ctx context.Context) (string, error) {
	var v string
	if err := s.pool.QueryRow(ctx, `SHOW server_version`).Scan(&v); err != nil {
		return "", fmt.Errorf("reading the server version: %w", err)
	}
	return v, nil
}
