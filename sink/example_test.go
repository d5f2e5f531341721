package sink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/jackc/pgx/v5"

	"github.com/exactsync/exactsync/sink"
)

// An application that follows what exactsync writes: it listens on the exactsync
// channel and, for each write of accounts, reads the division's rows changed since the
// last ones it read. README.md shows follow as it is here.
func ExampleNotification() {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := follow(ctx, conn, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// follow prints the accounts exactsync changes to out, as it commits them.
func follow(ctx context.Context, conn *pgx.Conn, out io.Writer) error {
	if _, err := conn.Exec(ctx, "LISTEN exactsync"); err != nil {
		return err
	}
	// The last change log entry read, per division: a division's writes never overlap.
	since := map[int]int64{}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var w sink.Notification // or a struct of your own with the same JSON fields
		if err := json.Unmarshal([]byte(n.Payload), &w); err != nil {
			return err
		}
		if w.Entity != "accounts" || w.Upserted == 0 {
			continue // removed rows are gone: w.Removed says how many
		}
		rows, err := conn.Query(ctx, `SELECT c.id, a.id::text, coalesce(a.name, '')
			FROM exact_status.changes c CROSS JOIN unnest(c.keys) WITH ORDINALITY AS k(key, n)
			JOIN exact.accounts a ON a.division = c.division AND a.id = k.key::uuid
			WHERE c.table_name = 'accounts' AND c.division = $1 AND c.id > $2 ORDER BY c.id, k.n`, w.Division, since[w.Division])
		if err != nil {
			return err
		}
		var entry int64
		var id, name string
		_, err = pgx.ForEachRow(rows, []any{&entry, &id, &name}, func() error {
			fmt.Fprintln(out, w.Division, id, name)
			since[w.Division] = entry
			return nil
		})
		if err != nil {
			return err
		}
	}
}
