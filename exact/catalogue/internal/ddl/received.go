package main

import (
	"fmt"
	"strings"

	"github.com/exactsync/exactsync/exact/catalogue"
)

// receivedPrefix starts the function that rebuilds a table's records as received: the
// line schema.read looks for.
const receivedPrefix = "CREATE OR REPLACE FUNCTION exact.received(t "

// extraMember names the member of raw that marks a row written with EXACTSYNC_RAW=extra:
// it lists the catalogue's fields the record did not have, and the other members of raw
// are the record's members its typed columns do not give back as received.
const extraMember = "__extra"

// received is the function exact.received(t exact.<table>), which returns the record of a
// row as Exact sent it (raw's form: without __metadata), for every raw mode but off.
//
// A row written with EXACTSYNC_RAW=on holds the record in raw, returned as is. A row
// written with extra holds in raw only what the typed columns do not give back (members
// without a column, navigation members, fields Exact added after the catalogue, a value
// whose column does not keep its form, such as a padded code) and, in "__extra", the
// catalogue's fields the record lacked: the record is the columns, each in Exact's form
// (dates as /Date(ms)/ of the Amsterdam wall clock, §3.8; GUIDs in lower case; numbers as
// JSON numbers; binaries in base64), without the fields it lacked, overlaid with raw. A
// row written with off ('{}') gives '{}'.
func received(e catalogue.Entity) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s%s) RETURNS jsonb\nLANGUAGE sql STABLE PARALLEL SAFE AS $$\n", receivedPrefix, e.Table)
	fmt.Fprintf(&b, "    SELECT CASE WHEN t.raw ? '%s' THEN ((\n", extraMember)
	// jsonb_build_object takes at most 100 arguments: 40 fields a call.
	for i, c := range e.Columns {
		switch {
		case i == 0:
		case i%40 == 0:
			b.WriteString("\n        ) || jsonb_build_object(\n")
		default:
			b.WriteString(",\n")
		}
		if i == 0 {
			b.WriteString("        jsonb_build_object(\n")
		}
		fmt.Fprintf(&b, "            '%s', %s", c.Field, exactForm(c, "t."+ident(c.Name)))
	}
	fmt.Fprintf(&b, "\n        )) - ARRAY(SELECT jsonb_array_elements_text(t.raw -> '%[1]s'))) || (t.raw - '%[1]s')\n", extraMember)
	b.WriteString("    ELSE t.raw END\n$$;\n")
	return b.String()
}

// exactForm is the SQL expression of column c's value (expr) in the form Exact sends it,
// as the sync package's rawExtra takes it to be.
func exactForm(c catalogue.Column, expr string) string {
	switch c.SQL {
	case "timestamptz":
		return fmt.Sprintf("'/Date(' || (extract(epoch FROM %s AT TIME ZONE 'Europe/Amsterdam') * 1000)::bigint || ')/'", expr)
	case "bytea":
		return fmt.Sprintf("translate(encode(%s, 'base64'), E'\\n', '')", expr)
	}
	return expr
}

// receivedComment is the comment of the function of table.
func receivedComment(table string) string {
	return fmt.Sprintf("COMMENT ON FUNCTION exact.received(%s) IS 'The record of a row as Exact sent it (without __metadata), rebuilt from the typed columns and raw when exactsync runs with EXACTSYNC_RAW=extra, raw itself with on, ''{}'' with off. SELECT exact.received(t) FROM %s t.';\n", table, table)
}
