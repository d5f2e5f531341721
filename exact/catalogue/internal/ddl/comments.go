package main

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/exactsync/exactsync/exact/catalogue"
)

// The comments of schema exact: every table and every column says where it comes from
// in Exact, what it means where the catalogue says so, and, for a date, how to read it
// as the Amsterdam date Exact shows. psql's \d+ and every database tool show them.

// commonMeanings are the meanings of fields that mean the same in every entity, for the
// fields the catalogue does not describe.
var commonMeanings = map[string]string{
	"ID":               "the record's ID in Exact",
	"Created":          "when the record was created in Exact",
	"Modified":         "when the record was last changed in Exact",
	"Creator":          "ID of the user who created the record",
	"CreatorFullName":  "name of the user who created the record",
	"Modifier":         "ID of the user who last changed the record",
	"ModifierFullName": "name of the user who last changed the record",
}

// meaning is what a column's field means, "" when nobody says.
func meaning(c catalogue.Column) string {
	if c.Description != "" {
		return c.Description
	}
	return commonMeanings[c.Field]
}

// amsterdamDate is how to read a date column as the day Exact shows.
func amsterdamDate(col string) string {
	return fmt.Sprintf("(%s AT TIME ZONE 'Europe/Amsterdam')::date", col)
}

// columnNote is what a column's type asks of its reader, "" when nothing.
func columnNote(e catalogue.Entity, c catalogue.Column) string {
	var notes []string
	if c.Name == e.KeyColumn {
		notes = append(notes, "The record's key: with division, the primary key.")
	}
	switch c.Type {
	case catalogue.EdmDateTime:
		notes = append(notes, "Exact sends Amsterdam wall-clock time; stored as that instant. The Amsterdam date: "+
			amsterdamDate(ident(c.Name))+" (a plain ::date takes the session's time zone: midnight in Amsterdam is the day before in UTC).")
	case catalogue.EdmDouble, catalogue.EdmDecimal:
		notes = append(notes, "Exactly the digits Exact sent, never through a float.")
	}
	if c.Trim {
		notes = append(notes, "Exact's space padding trimmed.")
	}
	return strings.Join(notes, " ")
}

// columnComment is the comment of a catalogue column.
func columnComment(e catalogue.Entity, c catalogue.Column) string {
	s := fmt.Sprintf("Exact: %s (%s) of %s", c.Field, c.Type, e.Path)
	if m := meaning(c); m != "" {
		s += ": " + m
	}
	s += "."
	if n := columnNote(e, c); n != "" {
		s += " " + n
	}
	return s
}

// versionMeaning is what exact_timestamp holds for e.
func versionMeaning(e catalogue.Entity) string {
	if e.Read == catalogue.ReadSync {
		return "Exact's Timestamp of the record"
	}
	return "the record's Modified time in milliseconds since 1970 UTC, 0 without one"
}

// tableComment is the comment of e's table.
func tableComment(e catalogue.Entity) string {
	s := strings.TrimSpace(e.Description)
	if s != "" && !strings.HasSuffix(s, ".") {
		s += "."
	}
	s += fmt.Sprintf(" From Exact Online's %s, primary key (division, %s).", e.Path, e.KeyColumn)
	if e.Keep != nil {
		s += fmt.Sprintf(" Only the records with %s = %t.", e.Keep.Field, e.Keep.Equals)
	}
	s += " Written by exactsync: a record deleted in Exact is deleted here; read it, do not write it."
	return strings.TrimSpace(s)
}

// commentTexts are the comments of e's table ("" key) and of each of its columns.
func commentTexts(e catalogue.Entity) map[string]string {
	out := map[string]string{
		"":         tableComment(e),
		"division": "Exact's division (administration) code the record belongs to: the first column of the primary key.",
		"exact_timestamp": "The row's version: " + versionMeaning(e) +
			". A version older than the stored one never replaces it.",
		"raw": "The record as Exact sent it, without __metadata, navigation collections included; '{}' when EXACTSYNC_RAW=off.",
		"synced_at": "When exactsync last inserted or changed the row: the start of its write's transaction, on PostgreSQL's clock. " +
			"Indexed: the rows changed since T are synced_at > T.",
	}
	for _, c := range e.Columns {
		out[c.Name] = columnComment(e, c)
	}
	return out
}

// commentOrder lists the keys of commentTexts in the table's order: the table, division,
// the catalogue's columns, then the three of every table.
func commentOrder(e catalogue.Entity) []string {
	keys := []string{"", "division"}
	for _, c := range e.Columns {
		keys = append(keys, c.Name)
	}
	return append(keys, "exact_timestamp", "raw", "synced_at")
}

// commentStatement is the COMMENT ON of e's table (column "") or one of its columns, on
// one line as readComments reads it.
func commentStatement(e catalogue.Entity, column, text string) string {
	lit := "'" + strings.ReplaceAll(text, "'", "''") + "'"
	if column == "" {
		return fmt.Sprintf("COMMENT ON TABLE %s IS %s;", e.Table, lit)
	}
	return fmt.Sprintf("COMMENT ON COLUMN %s.%s IS %s;", e.Table, ident(column), lit)
}

// Comments are the COMMENT ON statements of e's table and columns whose comment in have
// (what the migrations make) is missing or another one: all of them for a new table
// (have nil).
func Comments(e catalogue.Entity, have map[string]string) []string {
	texts := commentTexts(e)
	var out []string
	for _, k := range commentOrder(e) {
		if got, ok := have[k]; !ok || got != texts[k] {
			out = append(out, commentStatement(e, k, texts[k]))
		}
	}
	return out
}

// comments are the comments the generated migrations make: table → column ("" for the
// table itself) → text.
type comments map[string]map[string]string

// read adds the COMMENT ON lines of one generated migration.
func (cs comments) read(sql []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(sql))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var target string
		column := false
		switch {
		case strings.HasPrefix(line, "COMMENT ON TABLE "):
			target = strings.TrimPrefix(line, "COMMENT ON TABLE ")
		case strings.HasPrefix(line, "COMMENT ON COLUMN "):
			target, column = strings.TrimPrefix(line, "COMMENT ON COLUMN "), true
		default:
			continue
		}
		name, lit, ok := strings.Cut(target, " IS '")
		if !ok || !strings.HasSuffix(lit, "';") {
			return fmt.Errorf("cannot read the comment %q", line)
		}
		text := strings.ReplaceAll(strings.TrimSuffix(lit, "';"), "''", "'")
		table, col := name, ""
		if column {
			i := strings.LastIndexByte(name, '.')
			if i < 0 {
				return fmt.Errorf("cannot read the column of the comment %q", line)
			}
			table, col = name[:i], strings.Trim(name[i+1:], `"`)
		}
		if cs[table] == nil {
			cs[table] = map[string]string{}
		}
		cs[table][col] = text
	}
	return sc.Err()
}
