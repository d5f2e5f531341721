package sink

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"reflect"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// copyRows copies rows into table with a binary COPY whose stream it encodes itself: the
// encode plan of each column is looked up once per COPY instead of once per value, and a
// UUID given as text is parsed here instead of through pgx's failed-encode fallback, which
// builds an error value for every row. In a profile of a 1,000,000-account sync those two
// were 22% of the exactsync process's CPU (BENCHMARKS.md). oids are the columns' type OIDs
// (see lookupColumns).
func copyRows(ctx context.Context, tx pgx.Tx, table pgx.Identifier, columns []string, oids []uint32, rows [][]any) (int64, error) {
	quoted := make([]byte, 0, 16*len(columns))
	for i, c := range columns {
		if i > 0 {
			quoted = append(quoted, ", "...)
		}
		quoted = append(quoted, pgx.Identifier{c}.Sanitize()...)
	}
	enc := &copyEncoder{m: tx.Conn().TypeMap(), oids: oids, rows: rows, plans: make([]columnPlan, len(oids))}
	enc.buf = append(enc.buf, "PGCOPY\n\xff\r\n\x00"...)
	enc.buf = append(enc.buf, 0, 0, 0, 0, 0, 0, 0, 0) // flags, header extension length
	tag, err := tx.Conn().PgConn().CopyFrom(ctx, enc, "COPY "+table.Sanitize()+" ("+string(quoted)+") FROM STDIN (FORMAT binary)")
	if enc.err != nil {
		return 0, enc.err
	}
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// Copier copies rows into one table with the COPY that WriteBatch writes with: the binary
// stream of copyRows, or pgx's CopyFrom for a table with a column of a type the
// connection does not know. It lets a table the sink does not manage be written on the
// same terms, such as a baseline that WriteBatch is measured against. NewCopier looks up
// the columns' types once; a Copier may then copy on any connection to the same database.
type Copier struct {
	table     pgx.Identifier
	columns   []string
	oids      []uint32
	encodable bool
}

// NewCopier looks up, in tx, the types of the columns of table that rows will hold, in
// that order.
func NewCopier(ctx context.Context, tx pgx.Tx, table pgx.Identifier, columns []string) (*Copier, error) {
	cols, err := lookupColumns(ctx, tx, table.Sanitize(), columns)
	if err != nil {
		return nil, fmt.Errorf("looking up the columns of %s: %w", table.Sanitize(), err)
	}
	return &Copier{table: table, columns: columns, oids: cols.oids, encodable: cols.encodable}, nil
}

// Copy copies rows, their values in the order of the Copier's columns, in tx, and returns
// how many it copied.
func (c *Copier) Copy(ctx context.Context, tx pgx.Tx, rows [][]any) (int64, error) {
	if !c.encodable {
		return tx.CopyFrom(ctx, c.table, c.columns, pgx.CopyFromRows(rows))
	}
	return copyRows(ctx, tx, c.table, c.columns, c.oids, rows)
}

// copyEncoder is the binary COPY stream of rows, encoded as it is read, about 64 KB at a time.
type copyEncoder struct {
	m     *pgtype.Map
	oids  []uint32
	rows  [][]any
	next  int // next row to encode
	buf   []byte
	off   int // read position in buf
	done  bool
	plans []columnPlan
	err   error
}

// columnPlan is the encode plan of a column for the Go type of its last non-nil value.
type columnPlan struct {
	typ  reflect.Type
	plan pgtype.EncodePlan
}

const copyChunk = 64 << 10

func (e *copyEncoder) Read(p []byte) (int, error) {
	for e.off == len(e.buf) {
		if e.done {
			return 0, io.EOF
		}
		e.buf, e.off = e.buf[:0], 0
		for e.next < len(e.rows) && len(e.buf) < copyChunk {
			if err := e.row(e.next); err != nil {
				e.err = err
				return 0, err
			}
			e.next++
		}
		if e.next == len(e.rows) {
			e.buf = append(e.buf, 0xff, 0xff) // trailer
			e.done = true
		}
	}
	n := copy(p, e.buf[e.off:])
	e.off += n
	return n, nil
}

// row appends row i: its field count, then each field's length and binary value.
func (e *copyEncoder) row(i int) error {
	r := e.rows[i]
	if len(r) != len(e.oids) {
		return fmt.Errorf("row %d has %d values for %d columns", i, len(r), len(e.oids))
	}
	e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(len(r)))
	for c, v := range r {
		if v == nil {
			e.buf = binary.BigEndian.AppendUint32(e.buf, 0xffffffff)
			continue
		}
		at := len(e.buf)
		e.buf = append(e.buf, 0, 0, 0, 0)
		out, err := e.value(c, v, e.buf)
		if err != nil {
			return fmt.Errorf("row %d, column %d: %w", i, c, err)
		}
		if out == nil { // the value encodes as NULL
			e.buf = binary.BigEndian.AppendUint32(e.buf[:at], 0xffffffff)
			continue
		}
		e.buf = out
		binary.BigEndian.PutUint32(e.buf[at:], uint32(len(e.buf)-at-4))
	}
	return nil
}

// value appends v as column c's binary value; nil means NULL.
func (e *copyEncoder) value(c int, v any, buf []byte) ([]byte, error) {
	oid := e.oids[c]
	// The values sync makes, encoded here: through pgx's plans, a time.Time cost an
	// allocation each (a wrapper), and every value two indirect calls (BENCHMARKS.md).
	switch x := v.(type) {
	case string:
		switch oid {
		case pgtype.UUIDOID:
			return appendUUID(buf, x)
		case pgtype.NumericOID:
			// Doubles and decimals come as the exact text Exact sent (§3.8).
			return appendNumeric(buf, x)
		case pgtype.TextOID, pgtype.VarcharOID:
			return append(buf, x...), nil
		}
	case time.Time:
		if oid == pgtype.TimestamptzOID {
			return appendTimestamptz(buf, x), nil
		}
	case int32:
		if oid == pgtype.Int4OID {
			return binary.BigEndian.AppendUint32(buf, uint32(x)), nil
		}
	case int64:
		if oid == pgtype.Int8OID {
			return binary.BigEndian.AppendUint64(buf, uint64(x)), nil
		}
	case bool:
		if oid == pgtype.BoolOID {
			if x {
				return append(buf, 1), nil
			}
			return append(buf, 0), nil
		}
	}
	cp := &e.plans[c]
	if t := reflect.TypeOf(v); cp.typ != t {
		plan := e.m.PlanEncode(oid, pgtype.BinaryFormatCode, v)
		if plan == nil {
			return nil, fmt.Errorf("cannot encode %T as type OID %d", v, oid)
		}
		cp.typ, cp.plan = t, plan
	}
	return cp.plan.Encode(v, buf)
}

// microsecFromUnixEpochToY2K is 2000-01-01 00:00 UTC, PostgreSQL's epoch, in
// microseconds since 1970.
const microsecFromUnixEpochToY2K = 946_684_800 * 1_000_000

// appendTimestamptz appends t as a binary timestamptz, microseconds since 2000 UTC, as
// pgx does (sub-microsecond digits cut, not rounded).
func appendTimestamptz(buf []byte, t time.Time) []byte {
	us := t.Unix()*1_000_000 + int64(t.Nanosecond())/1000 - microsecFromUnixEpochToY2K
	return binary.BigEndian.AppendUint64(buf, uint64(us))
}

// appendUUID appends the 16 bytes of a UUID written as text (36 characters with hyphens,
// or any form PostgreSQL's uuid input accepts that pgtype.UUID parses).
func appendUUID(buf []byte, s string) ([]byte, error) {
	if len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' {
		var b [16]byte
		var h [32]byte
		copy(h[0:8], s[0:8])
		copy(h[8:12], s[9:13])
		copy(h[12:16], s[14:18])
		copy(h[16:20], s[19:23])
		copy(h[20:32], s[24:36])
		if _, err := hex.Decode(b[:], h[:]); err == nil {
			return append(buf, b[:]...), nil
		}
	}
	var u pgtype.UUID
	if err := u.Scan(s); err != nil {
		return nil, fmt.Errorf("invalid UUID %q: %w", s, err)
	}
	return append(buf, u.Bytes[:]...), nil
}

// tableColumns is what the catalogue says of the columns a table is written through.
type tableColumns struct {
	oids      []uint32          // type OIDs, in the order asked for
	types     map[string]string // column name → SQL type, e.g. "uuid", "character varying(10)"
	encodable bool              // every one is a type the connection's type map knows
}

// lookupColumns reads the types of columns of table (quoted) from the catalogue. encodable
// is false when one of them is a type the connection's type map does not know (a domain or
// an enum, say): such a table is copied with pgx's CopyFrom, which resolves it by name.
func lookupColumns(ctx context.Context, tx pgx.Tx, table string, columns []string) (tableColumns, error) {
	rows, err := tx.Query(ctx, `SELECT attname, atttypid, format_type(atttypid, atttypmod) FROM pg_attribute
		WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`, table)
	if err != nil {
		return tableColumns{}, err
	}
	oidOf := map[string]uint32{}
	out := tableColumns{types: map[string]string{}, encodable: true}
	for rows.Next() {
		var name, typ string
		var oid uint32
		if err := rows.Scan(&name, &oid, &typ); err != nil {
			return tableColumns{}, err
		}
		oidOf[name], out.types[name] = oid, typ
	}
	if err := rows.Err(); err != nil {
		return tableColumns{}, err
	}
	m := tx.Conn().TypeMap()
	for _, c := range columns {
		oid, found := oidOf[c]
		if !found {
			return tableColumns{}, fmt.Errorf("table %s has no column %q", table, c)
		}
		if _, known := m.TypeForOID(oid); !known {
			out.encodable = false
		}
		out.oids = append(out.oids, oid)
	}
	return out, nil
}
